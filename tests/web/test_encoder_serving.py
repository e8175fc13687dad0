"""The worker's CPU serving path for KD-SAM students: onnxruntime (equal to PyTorch) or bf16 PyTorch on
CPUs with native bf16, as KDSAM_ENCODER_BACKEND=auto picks."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from kdsam_core.inference import OnnxImageEncoder, embed_image
from kdsam_core.transforms import apply_coords, load_rgb
from tests.conftest import PORTRAIT_PNG
from webapp.registry import services as registry
from webapp.registry.selectors import active_model_version

pytestmark = pytest.mark.django_db


def box_mask(model, embedding: np.ndarray, size) -> np.ndarray:
    h, w = size
    box = torch.tensor(
        apply_coords(np.array([[w * 0.2, h * 0.2], [w * 0.8, h * 0.8]]), size).reshape(1, 4), dtype=torch.float32
    )
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=None, boxes=box, masks=None)
        low, _ = model.mask_decoder(
            torch.from_numpy(embedding), model.prompt_encoder.get_dense_pe(), sparse, dense, False
        )
    return (low > 0).numpy()


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_onnxruntime_serving_gives_the_pytorch_embedding_and_the_same_mask(settings):
    settings.STUDIO = replace(settings.STUDIO, encoder_backend="onnxruntime")
    version = active_model_version()
    encoder = registry.load_encoder(version)
    assert isinstance(encoder, OnnxImageEncoder)
    image = load_rgb(PORTRAIT_PNG)
    served = encoder(image)
    model = registry.load_model(version)
    reference = embed_image(model, image)
    assert served.embedding.shape == (1, 256, 64, 64)
    assert (served.original_size, served.input_size) == (reference.original_size, reference.input_size)
    assert np.abs(served.embedding - reference.embedding).max() < 1e-3
    a, b = (
        box_mask(model, served.embedding, reference.original_size),
        box_mask(model, reference.embedding, reference.original_size),
    )
    assert mask_iou(a, b) >= 0.99


def test_the_torch_backend_setting_serves_with_pytorch(settings):
    settings.STUDIO = replace(settings.STUDIO, encoder_backend="torch")
    encoder = registry.load_encoder(active_model_version())
    assert not isinstance(encoder, OnnxImageEncoder)
    assert encoder(load_rgb(PORTRAIT_PNG)).embedding.shape == (1, 256, 64, 64)


def test_the_torch_bf16_backend_gives_an_embedding_close_to_float32_and_the_same_mask(settings):
    settings.STUDIO = replace(settings.STUDIO, encoder_backend="torch-bf16")
    version = active_model_version()
    image = load_rgb(PORTRAIT_PNG)
    served = registry.load_encoder(version)(image)
    model = registry.load_model(version)
    reference = embed_image(model, image)
    assert served.embedding.dtype == np.float32 and served.embedding.shape == reference.embedding.shape
    a, b = served.embedding.ravel(), reference.embedding.ravel()
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) >= 0.99
    size = reference.original_size
    assert mask_iou(box_mask(model, served.embedding, size), box_mask(model, reference.embedding, size)) >= 0.99


@pytest.mark.parametrize(("native_bf16", "expected"), [(True, "torch-bf16"), (False, "onnxruntime")])
def test_auto_serves_bf16_only_on_cpus_with_native_bf16(settings, monkeypatch, native_bf16, expected):
    import kdsam_core.inference

    settings.STUDIO = replace(settings.STUDIO, encoder_backend="auto")
    monkeypatch.setattr(kdsam_core.inference, "cpu_has_native_bf16", lambda: native_bf16)
    assert registry.cpu_serving_backend() == expected


def test_an_explicit_backend_wins_over_the_cpu_check(settings, monkeypatch):
    import kdsam_core.inference

    settings.STUDIO = replace(settings.STUDIO, encoder_backend="onnxruntime")
    monkeypatch.setattr(kdsam_core.inference, "cpu_has_native_bf16", lambda: True)
    assert registry.cpu_serving_backend() == "onnxruntime"
