"""Creating, importing, publishing and loading model versions."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from kdsam_core.export import export_decoder_onnx
from kdsam_core.hashing import file_sha256
from kdsam_core.modeling import build_kdsam, count_parameters
from kdsam_core.modeling import registry as teacher_registry
from kdsam_core.modeling.checkpoint import load_kdsam, save_kdsam
from webapp.registry.models import Evaluation, ModelVersion
from webapp.registry.selectors import active_model_version

log = logging.getLogger(__name__)

#: The file under KDSAM_WEIGHTS_DIR that holds trained KD-SAM weights (written by `kdsam distill/finetune`).
KDSAM_WEIGHTS_FILENAME = "kdsam.pt"
#: Official checkpoint file names (as published) of each teacher kind, looked up in KDSAM_WEIGHTS_DIR.
OFFICIAL_CHECKPOINTS = {t.kind: t.checkpoint for t in teacher_registry.OFFICIAL_TEACHERS}
#: Teacher kind → registry architecture.
ARCHITECTURE_OF_TEACHER = {kind: ModelVersion.Architecture(t.name) for kind, t in teacher_registry.TEACHERS.items()}
#: torchvision ImageNet ResNet-50 weight files accepted for the student's trunk initialisation.
IMAGENET_RESNET50_FILES = ("resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth", "resnet50.pth")
RANDOM_INIT_BANNER = (
    "No trained weights are installed: this model is randomly initialised, so its masks are "
    "meaningless. Put a trained KD-SAM checkpoint at {path} and restart."
)


class MissingWeights(Exception):
    """A file of weights the work needs is not on the server; the message says which and where."""


def weights_path() -> Path:
    return settings.STUDIO.weights_dir / KDSAM_WEIGHTS_FILENAME


def banner(version: ModelVersion) -> str:
    if version.weights == ModelVersion.Weights.RANDOM:
        return RANDOM_INIT_BANNER.format(path=weights_path())
    return ""


# ---------------------------------------------------------------------------------------------
# The deployment's default model
# ---------------------------------------------------------------------------------------------


def ensure_active_model_version() -> ModelVersion:
    """Make sure a model version is active, creating one when needed.

    Trained weights at ``KDSAM_WEIGHTS_DIR/kdsam.pt`` take precedence: when the file is new or
    changed, a version is created from it (the file is verified first: a wrong file raises a
    ``CheckpointError`` naming it and changes nothing). Without it, a random-initialised model
    (seed 0) is created once.
    """
    current = active_model_version()
    trained = weights_path()
    if trained.is_file():
        digest = file_sha256(trained)
        if (
            current is not None
            and current.weights == ModelVersion.Weights.TRAINED
            and current.source_sha256() == digest
        ):
            return current
        existing = ModelVersion.objects.filter(
            team__isnull=True, weights=ModelVersion.Weights.TRAINED, metadata__source_sha256=digest
        ).first()
        if existing is not None:
            return activate(existing)
        model, metadata = load_kdsam(trained)
        version = register_model(
            model,
            name=trained.stem,
            weights=ModelVersion.Weights.TRAINED,
            source=str(trained),
            metadata={**metadata, "source_sha256": digest},
        )
        return activate(version)
    if current is not None:
        return current
    existing = ModelVersion.objects.filter(team__isnull=True, weights=ModelVersion.Weights.RANDOM).first()
    if existing is not None:
        return activate(existing)
    version = register_model(
        build_kdsam(seed=0),
        name="kdsam-random-init",
        weights=ModelVersion.Weights.RANDOM,
        source="random initialisation, seed 0",
        metadata={"weights": "random", "seed": 0},
    )
    return activate(version)


def activate(version: ModelVersion) -> ModelVersion:
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
    return version


# ---------------------------------------------------------------------------------------------
# Registering versions
# ---------------------------------------------------------------------------------------------


def register_model(
    model, *, name: str, weights: str, source: str, metadata: dict | None = None, **fields: Any
) -> ModelVersion:
    """Save a KD-SAM model's checkpoint, export its decoder ONNX, and register both."""
    metadata = dict(metadata or {})
    with tempfile.TemporaryDirectory(dir=_staging_dir()) as tmp:
        checkpoint = save_kdsam(model, Path(tmp) / "kdsam.pt", {**metadata, "weights": str(weights)})
        return register_files(
            model,
            checkpoint,
            name=name,
            weights=weights,
            source=source,
            metadata=metadata,
            checkpoint_name="kdsam.pt",
            **fields,
        )


def register_files(
    model,
    checkpoint: Path,
    *,
    name: str,
    weights: str,
    source: str,
    metadata: dict | None = None,
    checkpoint_name: str = "kdsam.pt",
    decoder_onnx: Path | None = None,
    copy: bool = False,
    **fields: Any,
) -> ModelVersion:
    """Register an existing checkpoint file (moved, or copied with ``copy``) and its decoder ONNX.

    ``model`` is the loaded model (to count parameters and, without ``decoder_onnx``, to export
    the decoder). Files land in ``MEDIA_ROOT/models/<id>/``; a failure leaves no row and no file.
    """
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(dir=_staging_dir()) as tmp:
        if decoder_onnx is None:
            decoder_onnx = export_decoder_onnx(model, Path(tmp) / "decoder.onnx")
        target = None
        try:
            with transaction.atomic():
                version = ModelVersion.objects.create(
                    name=name,
                    weights=weights,
                    source=source,
                    checkpoint_sha256=file_sha256(checkpoint),
                    decoder_sha256=file_sha256(decoder_onnx),
                    image_size=model.image_encoder.img_size,
                    parameters=count_parameters(model),
                    metadata=_json_safe(metadata or {}),
                    **fields,
                )
                target = media_root / "models" / str(version.pk)
                target.mkdir(parents=True, exist_ok=True)
                (shutil.copy2 if copy else shutil.move)(str(checkpoint), target / checkpoint_name)
                shutil.copy2(decoder_onnx, target / "decoder.onnx")
                version.checkpoint.name = f"models/{version.pk}/{checkpoint_name}"
                version.decoder_onnx.name = f"models/{version.pk}/decoder.onnx"
                version.save(update_fields=["checkpoint", "decoder_onnx"])
        except Exception:
            if target is not None:
                shutil.rmtree(target, ignore_errors=True)
            raise
    log.info("registered model version %s", version)
    return version


def register_quantized_copy(source: ModelVersion, decoder_int8: Path, *, team_id: int, job, created_by) -> ModelVersion:
    """A new draft version of ``team_id`` (parent ``source``): ``source``'s weights and decoder plus ``decoder_int8``.

    What an export job makes of a version its team does not own (a deployment-wide one, another
    team's): ``source`` itself, its row and its files, is never changed. The weights and the float
    decoder are hard links to ``source``'s files (copies across file systems), so the new version
    costs the int8 decoder's bytes; its files land in ``MEDIA_ROOT/models/<id>/`` like every version's.
    """
    media_root = Path(settings.MEDIA_ROOT)
    checkpoint_name = Path(source.checkpoint.name).name
    target = None
    try:
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=f"{source.name}-int8-job{job.pk}"[:200],
                architecture=source.architecture,
                weights=source.weights,
                state=ModelVersion.State.DRAFT,
                team_id=team_id,
                source=f"job {job.pk}: int8 decoder of v{source.pk}",
                checkpoint_sha256=source.checkpoint_sha256,
                decoder_sha256=source.decoder_sha256,
                image_size=source.image_size,
                parameters=source.parameters,
                metadata={"quantized_from": source.pk},  # not source's: its source_sha256 marks a deployment model
                parent=source,
                teacher=source.teacher,
                job=job,
                created_by=created_by,
            )
            target = media_root / "models" / str(version.pk)
            target.mkdir(parents=True, exist_ok=True)
            _link_or_copy(Path(source.checkpoint.path), target / checkpoint_name)
            _link_or_copy(Path(source.decoder_onnx.path), target / "decoder.onnx")
            shutil.copy2(decoder_int8, target / "decoder_int8.onnx")
            version.checkpoint.name = f"models/{version.pk}/{checkpoint_name}"
            version.decoder_onnx.name = f"models/{version.pk}/decoder.onnx"
            version.decoder_onnx_quantized.name = f"models/{version.pk}/decoder_int8.onnx"
            version.save(update_fields=["checkpoint", "decoder_onnx", "decoder_onnx_quantized"])
    except Exception:
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)
        raise
    log.info("registered model version %s (int8 decoder of v%s)", version, source.pk)
    return version


def attach_quantized_decoder(version: ModelVersion, decoder_int8: Path) -> ModelVersion:
    """Give a version of the job's own team its int8 decoder, once: an existing one is kept.

    Its URL is served ``immutable``, so a file once written never changes; nothing else of the
    version (weights, float decoder, hashes) is touched.
    """
    if has_quantized_decoder(version):
        return version
    name = str(Path(version.decoder_onnx.name).with_name("decoder_int8.onnx"))
    target = Path(version.decoder_onnx.storage.path(name))
    partial = target.with_name(f".{target.name}.partial")
    shutil.copy2(decoder_int8, partial)
    os.replace(partial, target)
    version.decoder_onnx_quantized.name = name
    version.save(update_fields=["decoder_onnx_quantized"])
    return version


def has_quantized_decoder(version: ModelVersion) -> bool:
    field = version.decoder_onnx_quantized
    return bool(field) and field.storage.exists(field.name)


def record_evaluation(
    job, version: ModelVersion, dataset, *, split: str, protocol: dict | str, stats: dict
) -> Evaluation:
    """Store a job's Dice/IoU of ``version`` on ``dataset`` for the dataset's team (a retry replaces its own row)."""
    evaluation, _ = Evaluation.objects.update_or_create(
        job=job,
        model_version=version,
        defaults={
            "team_id": dataset.team_id,
            "dataset": dataset,
            "split": split,
            "protocol": protocol,
            "metrics": _json_safe({key: stats[key] for key in ("dice", "iou") if key in stats}),
        },
    )
    return evaluation


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def import_official_checkpoint(path: Path, kind: str, *, name: str | None = None, user=None) -> ModelVersion:
    """Verify an official SAM / MobileSAM checkpoint (loadable, expected keys and shapes) and register it.

    The file is copied into the data dir; its SHA-256 is recorded. Raises ``CheckpointError``
    naming the file, the expected kind and the mismatching keys.
    """
    from kdsam_core.modeling.teachers import load_teacher_sam

    path = Path(path)
    if kind not in ARCHITECTURE_OF_TEACHER:
        raise ValueError(f"unknown checkpoint kind {kind!r}; choose one of {', '.join(ARCHITECTURE_OF_TEACHER)}")
    model = load_teacher_sam(kind, path)
    digest = file_sha256(path)
    existing = ModelVersion.objects.filter(
        team__isnull=True, architecture=ARCHITECTURE_OF_TEACHER[kind], checkpoint_sha256=digest
    ).first()
    if existing is not None:
        return existing
    return register_files(
        model,
        path,
        name=name or path.stem,
        weights=ModelVersion.Weights.TRAINED,
        source=str(path),
        metadata={"source_sha256": digest, "official_kind": kind},
        checkpoint_name=path.name,
        copy=True,
        architecture=ARCHITECTURE_OF_TEACHER[kind],
        teacher=kind,
        state=ModelVersion.State.PUBLISHED,
        created_by=user,
    )


def teacher_checkpoint(kind: str) -> Path:
    """The file of a teacher's weights: an imported registry entry, else the official file in the weights dir.

    Raises :class:`MissingWeights` naming the file and where to put it.
    """
    architecture = ARCHITECTURE_OF_TEACHER.get(kind)
    version = ModelVersion.objects.filter(architecture=architecture).exclude(state=ModelVersion.State.ARCHIVED).first()
    if version is not None and version.checkpoint and Path(version.checkpoint.path).is_file():
        return Path(version.checkpoint.path)
    filename = OFFICIAL_CHECKPOINTS.get(kind)
    if filename is not None and (settings.STUDIO.weights_dir / filename).is_file():
        return settings.STUDIO.weights_dir / filename
    wanted = filename or f"a {kind} teacher checkpoint"
    raise MissingWeights(
        f"This job needs the {kind} teacher weights ({wanted}), which this server does not have. Put "
        f"{wanted} in {settings.STUDIO.weights_dir} (KDSAM_WEIGHTS_DIR) or import it with "
        f"'python manage.py import_checkpoint PATH --kind {kind}', then submit again."
    )


def imagenet_resnet50_file() -> Path:
    for name in IMAGENET_RESNET50_FILES:
        path = settings.STUDIO.weights_dir / name
        if path.is_file():
            return path
    raise MissingWeights(
        f"ImageNet initialisation needs torchvision's ResNet-50 weights ({IMAGENET_RESNET50_FILES[0]}) in "
        f"{settings.STUDIO.weights_dir} (KDSAM_WEIGHTS_DIR); put the file there or untick imagenet_init."
    )


def publish(version: ModelVersion) -> ModelVersion:
    version.state = ModelVersion.State.PUBLISHED
    version.save(update_fields=["state"])
    return version


def archive(version: ModelVersion) -> ModelVersion:
    if version.is_active:
        raise ValueError(f"{version} is the deployment's active model; activate another one before archiving it.")
    version.state = ModelVersion.State.ARCHIVED
    version.save(update_fields=["state"])
    return version


def _staging_dir() -> str:
    staging = Path(settings.MEDIA_ROOT) / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    return str(staging)


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


# ---------------------------------------------------------------------------------------------
# Loading weights
# ---------------------------------------------------------------------------------------------

_model_cache: dict[tuple[int, str], object] = {}
_model_cache_lock = threading.Lock()
_encoder_cache: dict[tuple[int, str], object] = {}


def load_model(version: ModelVersion):
    """The ``Sam``-like model of ``version``, loaded once per process and kept in memory (one at a time)."""
    from kdsam_core.modeling.teachers import load_model as load_registry_model

    key = (version.pk, version.checkpoint_sha256)
    with _model_cache_lock:
        model = _model_cache.get(key)
        if model is None:
            model, _ = load_registry_model(version.architecture, Path(version.checkpoint.path))
            _model_cache.clear()  # one encoder resident per worker process
            _model_cache[key] = model
        return model


def load_encoder(version: ModelVersion):
    """A callable ``(H, W, 3) uint8 RGB → ImageEmbedding`` for the version's image encoder.

    KD-SAM students on a CPU run on the path :func:`cpu_serving_backend` picks from
    ``KDSAM_ENCODER_BACKEND``: onnxruntime (their encoder ONNX is exported once, next to the
    checkpoint, on first use) or PyTorch in bf16 on CPUs with native bf16. Everything else
    (SAM/MobileSAM versions, a CUDA GPU, the ``torch`` backend) runs in PyTorch.
    """
    import torch

    from kdsam_core.inference import OnnxImageEncoder, embed_image

    student_on_cpu = not torch.cuda.is_available() and version.architecture == ModelVersion.Architecture.KDSAM
    backend = cpu_serving_backend() if student_on_cpu else "torch"
    if backend != "onnxruntime":
        model = load_model(version)
        device = "cuda" if torch.cuda.is_available() else "cpu"
        if backend == "torch-bf16":
            model.image_encoder.to(memory_format=torch.channels_last)  # same values, faster bf16 convolutions
            return lambda image: embed_image(model, image, device, cpu_bf16=True)
        return lambda image: embed_image(model, image, device)
    key = (version.pk, version.checkpoint_sha256)
    with _model_cache_lock:
        encoder = _encoder_cache.get(key)
        if encoder is not None:
            return encoder
    path = encoder_onnx_path(version)
    with _model_cache_lock:
        encoder = OnnxImageEncoder(path, version.image_size, threads=settings.STUDIO.torch_threads)
        _encoder_cache.clear()
        _encoder_cache[key] = encoder
        return encoder


def cpu_serving_backend() -> str:
    """The student's CPU serving path: ``KDSAM_ENCODER_BACKEND``, with ``auto`` resolved for this CPU.

    ``auto`` is the rule of BENCHMARKS.md's serving table (the fastest path whose masks stay within
    IoU 0.99 of float32): bf16 autocast + channels_last where the CPU has native bf16 (about 1.8x
    onnxruntime fp32 there), onnxruntime fp32 elsewhere (emulated bf16 is several times slower).
    """
    from kdsam_core.inference import cpu_has_native_bf16

    backend = settings.STUDIO.encoder_backend
    if backend == "auto":
        return "torch-bf16" if cpu_has_native_bf16() else "onnxruntime"
    return backend


def encoder_onnx_path(version: ModelVersion) -> Path:
    """``models/<id>/encoder.onnx``, exported from the checkpoint the first time it is needed."""
    import fcntl

    from kdsam_core.export import export_encoder_onnx

    path = Path(version.checkpoint.path).with_name("encoder.onnx")
    if path.is_file():
        return path
    with open(path.with_name("encoder.onnx.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two workers never export the same file at once
        if not path.is_file():
            export_encoder_onnx(load_model(version), path)
    return path
