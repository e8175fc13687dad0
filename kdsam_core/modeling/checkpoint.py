"""Saving and loading KD-SAM checkpoints, and verifying official SAM checkpoint files.

A KD-SAM checkpoint is one ``torch.save`` file holding::

    {"format": "kdsam-checkpoint", "format_version": 1,
     "metadata": {"architecture": KDSamConfig.to_dict(), "teacher": ..., "data": ...,
                  "metrics": ..., "code_version": ..., "weights": "trained" | "random"},
     "state_dict": Sam.state_dict()}
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from segment_anything.modeling import Sam

import kdsam_core
from kdsam_core.config import KDSamConfig
from kdsam_core.modeling.build import build_kdsam
from kdsam_core.modeling.registry import SAM_FAMILY, family_kinds

CHECKPOINT_FORMAT = "kdsam-checkpoint"
CHECKPOINT_FORMAT_VERSION = 1


class CheckpointError(ValueError):
    """A checkpoint file is missing, unreadable, of the wrong kind or of the wrong shapes."""


def _read_file(path: Path, expected_kind: str) -> Any:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"{expected_kind} checkpoint not found: {path}. Put the file there "
            f"(or point the setting at it) and try again."
        )
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # truncated zip, pickle garbage, wrong file type...
        raise CheckpointError(
            f"{path} is not a readable {expected_kind} checkpoint ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else 'no detail'}). The file may be "
            f"truncated or of another kind: download or copy it again."
        ) from error


def verify_state_dict(
    state_dict: Mapping[str, torch.Tensor],
    reference: Mapping[str, torch.Tensor],
    path: Path,
    expected_kind: str,
    *,
    prefixes: tuple[str, ...] | None = None,
) -> None:
    """Raise :class:`CheckpointError` naming the file, the kind and the mismatching keys.

    Only keys under ``prefixes`` are compared when given (e.g. the decoder part of a SAM file).
    """

    def keep(key: str) -> bool:
        return prefixes is None or key.startswith(prefixes)

    expected = {k: v for k, v in reference.items() if keep(k)}
    found = {k: v for k, v in state_dict.items() if keep(k)}
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    wrong_shape = sorted(
        f"{k}: file {tuple(found[k].shape)} vs expected {tuple(expected[k].shape)}"
        for k in set(expected) & set(found)
        if tuple(found[k].shape) != tuple(expected[k].shape)
    )
    if missing or unexpected or wrong_shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (e.g. {', '.join(missing[:5])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (e.g. {', '.join(unexpected[:5])})")
        if wrong_shape:
            parts.append(f"{len(wrong_shape)} keys of the wrong shape (e.g. {'; '.join(wrong_shape[:5])})")
        raise CheckpointError(f"{path} does not look like a {expected_kind} checkpoint: " + ", ".join(parts) + ".")


def save_kdsam(model: Sam, path: Path, metadata: Mapping[str, Any] | None = None) -> Path:
    """Write ``model`` and its metadata to ``path`` atomically (temp file + rename)."""
    config: KDSamConfig = model.kdsam_config
    meta = {"code_version": kdsam_core.__version__, "weights": "trained", **(metadata or {})}
    meta["architecture"] = config.to_dict()
    payload = {
        "format": CHECKPOINT_FORMAT,
        "format_version": CHECKPOINT_FORMAT_VERSION,
        "metadata": meta,
        "state_dict": model.state_dict(),
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_kdsam(path: Path) -> tuple[Sam, dict[str, Any]]:
    """Load a KD-SAM checkpoint written by :func:`save_kdsam`; returns ``(model, metadata)``."""
    payload = _read_file(path, "KD-SAM")
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a KD-SAM checkpoint (no '{CHECKPOINT_FORMAT}' header). KD-SAM files are "
            f"written by 'kdsam distill'/'kdsam finetune'; official SAM files are imported differently."
        )
    if payload.get("format_version") != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {payload.get('format_version')}, "
            f"this code reads version {CHECKPOINT_FORMAT_VERSION}."
        )
    metadata = dict(payload.get("metadata") or {})
    config = KDSamConfig.from_dict(metadata.get("architecture") or {})
    model = build_kdsam(config)
    verify_state_dict(payload["state_dict"], model.state_dict(), Path(path), "KD-SAM")
    model.load_state_dict(payload["state_dict"])
    return model.eval(), metadata


def load_sam_decoder_weights(model: Sam, sam_checkpoint: Path) -> None:
    """Initialise ``model``'s prompt encoder + mask decoder from an official SAM checkpoint file."""
    state_dict = _read_file(sam_checkpoint, f"SAM ({'/'.join(family_kinds(SAM_FAMILY))})")
    if isinstance(state_dict, dict) and "state_dict" in state_dict and "format" in state_dict:
        state_dict = state_dict["state_dict"]
    prefixes = ("prompt_encoder.", "mask_decoder.")
    verify_state_dict(state_dict, model.state_dict(), Path(sam_checkpoint), "SAM", prefixes=prefixes)
    model.load_state_dict({k: v for k, v in state_dict.items() if k.startswith(prefixes)}, strict=False)
