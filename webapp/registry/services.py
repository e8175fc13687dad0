"""Creating model versions and loading their weights."""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
import threading
from pathlib import Path

from django.conf import settings
from django.db import transaction

from kdsam_core.modeling import build_kdsam, count_parameters
from kdsam_core.modeling.checkpoint import load_kdsam, save_kdsam
from kdsam_core.export import export_decoder_onnx
from webapp.registry.models import ModelVersion
from webapp.registry.selectors import active_model_version

log = logging.getLogger(__name__)

#: The file under KDSAM_WEIGHTS_DIR that holds trained KD-SAM weights (written by `kdsam distill/finetune`).
KDSAM_WEIGHTS_FILENAME = "kdsam.pt"
RANDOM_INIT_BANNER = (
    "No trained weights are installed: this model is randomly initialised, so its masks are "
    "meaningless. Put a trained KD-SAM checkpoint at {path} and restart."
)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def weights_path() -> Path:
    return settings.STUDIO.weights_dir / KDSAM_WEIGHTS_FILENAME


def banner(version: ModelVersion) -> str:
    if version.weights == ModelVersion.Weights.RANDOM:
        return RANDOM_INIT_BANNER.format(path=weights_path())
    return ""


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
        digest = sha256_file(trained)
        if current is not None and current.weights == ModelVersion.Weights.TRAINED and current.source_sha256() == digest:
            return current
        existing = ModelVersion.objects.filter(weights=ModelVersion.Weights.TRAINED, metadata__source_sha256=digest).first()
        if existing is not None:
            return activate(existing)
        model, metadata = load_kdsam(trained)
        return _create_version(model, name=trained.stem, weights=ModelVersion.Weights.TRAINED,
                               source=str(trained), metadata={**metadata, "source_sha256": digest})
    if current is not None:
        return current
    existing = ModelVersion.objects.filter(weights=ModelVersion.Weights.RANDOM).first()
    if existing is not None:
        return activate(existing)
    model = build_kdsam(seed=0)
    return _create_version(model, name="kdsam-random-init", weights=ModelVersion.Weights.RANDOM,
                           source="random initialisation, seed 0", metadata={"weights": "random", "seed": 0})


def activate(version: ModelVersion) -> ModelVersion:
    with transaction.atomic():
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        version.is_active = True
        version.save(update_fields=["is_active"])
    return version


def _create_version(model, *, name: str, weights: str, source: str, metadata: dict) -> ModelVersion:
    """Save the checkpoint and its decoder ONNX under MEDIA_ROOT/models/<n>/ and register them."""
    media_root = Path(settings.MEDIA_ROOT)
    with tempfile.TemporaryDirectory(dir=media_root.parent if media_root.parent.exists() else None) as tmp:
        tmp_dir = Path(tmp)
        checkpoint = save_kdsam(model, tmp_dir / "kdsam.pt", {**metadata, "weights": str(weights)})
        decoder = export_decoder_onnx(model, tmp_dir / "decoder.onnx")
        with transaction.atomic():
            version = ModelVersion.objects.create(
                name=name, weights=weights, source=source, checkpoint_sha256=sha256_file(checkpoint),
                decoder_sha256=sha256_file(decoder), image_size=model.image_encoder.img_size,
                parameters=count_parameters(model), metadata=_json_safe(metadata),
            )
            target = media_root / "models" / str(version.pk)
            target.mkdir(parents=True, exist_ok=True)
            shutil.move(str(checkpoint), target / "kdsam.pt")
            shutil.move(str(decoder), target / "decoder.onnx")
            version.checkpoint.name = f"models/{version.pk}/kdsam.pt"
            version.decoder_onnx.name = f"models/{version.pk}/decoder.onnx"
            version.save(update_fields=["checkpoint", "decoder_onnx"])
            activate(version)
    log.info("registered model version %s", version)
    return version


def _json_safe(value):
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


_model_cache: dict[tuple[int, str], object] = {}
_model_cache_lock = threading.Lock()


def load_model(version: ModelVersion):
    """The ``Sam``-like KD-SAM model of ``version``, loaded once per process and kept in memory."""
    key = (version.pk, version.checkpoint_sha256)
    with _model_cache_lock:
        model = _model_cache.get(key)
        if model is None:
            model, _ = load_kdsam(Path(version.checkpoint.path))
            _model_cache.clear()  # one encoder resident per worker process
            _model_cache[key] = model
        return model
