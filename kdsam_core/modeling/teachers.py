"""Teachers (SAM ViT-H/L/B, MobileSAM TinyViT): building, loading official checkpoints, the CLI's models.

Official checkpoint files are plain ``state_dict`` files written by ``torch.save``; they are loaded
here with ``weights_only=True`` and verified key by key against a freshly built model of the expected
kind, so that a wrong or truncated file fails with an error naming the file, the expected kind and
the mismatching keys (:class:`~kdsam_core.modeling.checkpoint.CheckpointError`).

The kinds, their names, labels, builders and official files are the table of
:mod:`kdsam_core.modeling.registry`: SAM (package ``segment-anything``), MobileSAM's TinyViT (package
``mobilesam-mirror``) and ``tiny``, a 256-px, 2-block ViT built from
``segment_anything.modeling.ImageEncoderViT`` with the decoder of :meth:`KDSamConfig.tiny`, for tests
and smoke runs only (it pairs with ``KDSamConfig.tiny()``: 16×16 embeddings).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from kdsam_core.config import KDSamConfig
from kdsam_core.modeling import registry
from kdsam_core.modeling.build import build_kdsam
from kdsam_core.modeling.checkpoint import (
    CheckpointError,
    _read_file,
    load_kdsam,
    load_sam_decoder_weights,
    verify_state_dict,
)
from kdsam_core.modeling.registry import MODEL_NAMES, TEACHERS, TINY
from kdsam_core.modeling.student import StudentEncoder

#: Teacher kinds and the human name used in error messages.
TEACHER_KINDS = {kind: t.label for kind, t in TEACHERS.items()}


def build_teacher_sam(kind: str, img_size: int | None = None) -> nn.Module:
    """A randomly initialised SAM-like model of ``kind`` (no weights loaded); ``img_size`` only for ``tiny``."""
    return registry.teacher(kind).build(img_size)


def load_teacher_sam(kind: str, checkpoint: Path | str) -> nn.Module:
    """Build a teacher of ``kind`` and load its official checkpoint file, verified key by key."""
    path = Path(checkpoint)
    expected = registry.teacher(kind).label
    state_dict = _read_file(path, expected)
    if isinstance(state_dict, dict) and "model" in state_dict and isinstance(state_dict["model"], dict):
        state_dict = state_dict["model"]
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"{path} does not look like a {expected} checkpoint: it is not a state dict.")
    img_size = None
    if kind == TINY.kind and isinstance(state_dict.get("image_encoder.pos_embed"), torch.Tensor):
        img_size = int(state_dict["image_encoder.pos_embed"].shape[1]) * 16  # the test ViT comes in sizes
    with build_device(kind):
        reference = build_teacher_sam(kind, img_size).state_dict()
    verify_state_dict(state_dict, reference, path, expected)
    model = build_teacher_sam(kind, img_size)
    model.load_state_dict(state_dict)
    return model.eval()


def save_teacher_state(model: nn.Module, path: Path | str) -> Path:
    """Write a teacher as an official-style checkpoint (a bare ``state_dict``); used for ``tiny``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return path


def teacher_config(kind: str) -> KDSamConfig:
    """The KD-SAM configuration whose decoder matches a teacher of ``kind``."""
    return KDSamConfig.tiny() if kind == TINY.kind else KDSamConfig()


def load_imagenet_trunk_file(model: nn.Module, path: Path | str) -> None:
    """Initialise the student trunk from a local torchvision ImageNet ResNet weights file."""
    encoder = cast(StudentEncoder, getattr(model, "image_encoder", model))
    trunk = encoder.config.trunk
    state_dict = _read_file(Path(path), f"torchvision ImageNet {trunk}")
    try:
        encoder.load_imagenet_trunk(state_dict)
    except ValueError as error:
        raise CheckpointError(f"{path}: {error}") from error
    import torchvision

    reference = getattr(torchvision.models, trunk)(weights=None).state_dict()
    verify_state_dict(state_dict, reference, Path(path), f"torchvision ImageNet {trunk}")


def build_kdsam_from_teacher(
    teacher_kind: str,
    teacher_checkpoint: Path | str | None,
    config: KDSamConfig | None = None,
    *,
    imagenet_weights: Path | str | None = None,
    seed: int | None = 0,
    teacher: nn.Module | None = None,
) -> nn.Module:
    """KD-SAM = student (optionally ImageNet-initialised) + prompt encoder and mask decoder from a teacher.

    The decoder comes from ``teacher`` (an already loaded SAM-like model) when given, else from
    ``teacher_checkpoint`` (an official SAM / MobileSAM file), else it stays randomly initialised.
    """
    config = config or teacher_config(teacher_kind)
    model = build_kdsam(config, seed=seed)
    if imagenet_weights is not None:
        load_imagenet_trunk_file(model, imagenet_weights)
    if teacher is not None:
        state = {k: v for k, v in teacher.state_dict().items() if k.startswith(("prompt_encoder.", "mask_decoder."))}
        verify_state_dict(
            state,
            model.state_dict(),
            Path(str(teacher_checkpoint or "<teacher>")),
            registry.teacher(teacher_kind).label,
            prefixes=("prompt_encoder.", "mask_decoder."),
        )
        model.load_state_dict(state, strict=False)
    elif teacher_checkpoint is not None:
        load_sam_decoder_weights(model, Path(teacher_checkpoint))
    return model.eval()


def build_model_for_params(name: str) -> nn.Module:
    """The model ``kdsam params --model NAME`` counts, on the meta device (no memory, no weights)."""
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODEL_NAMES)}")
    kind = MODEL_NAMES[name]
    with build_device(kind):
        return build_kdsam(KDSamConfig()) if kind is None else build_teacher_sam(kind)


def build_device(kind: str | None) -> torch.device:
    """Where to build a reference model of teacher ``kind`` (``None``: KD-SAM): the meta device (no
    memory), except for teachers that cannot be built there (TinyViT calls ``.item()`` while
    building, so MobileSAM, 10M parameters, is built on the CPU)."""
    return torch.device("cpu") if kind is not None and registry.teacher(kind).build_on_cpu else torch.device("meta")


def load_model(
    name: str, checkpoint: Path | str | None, *, config: KDSamConfig | None = None, seed: int = 0
) -> tuple[nn.Module, dict[str, Any]]:
    """Load any model by registry name; ``checkpoint=None`` gives a random initialisation.

    Returns ``(model, info)`` where ``info`` records the weights used (for reports).
    """
    if name not in MODEL_NAMES:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODEL_NAMES)}")
    kind = MODEL_NAMES[name]
    if checkpoint is None:
        if kind is None:
            model = build_kdsam(config or KDSamConfig(), seed=seed)
        else:
            with _seeded(seed):
                model = build_teacher_sam(kind)
        return model.eval(), {"model": name, "weights": "random", "seed": seed}
    if kind is None:
        model, metadata = load_kdsam(Path(checkpoint))
        return model, {"model": name, "weights": str(checkpoint), "metadata": metadata}
    return load_teacher_sam(kind, checkpoint), {"model": name, "weights": str(checkpoint)}


@contextlib.contextmanager
def _seeded(seed: int):
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)
