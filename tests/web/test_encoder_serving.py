"""The worker's CPU serving path for KD-SAM students: onnxruntime, equal to PyTorch."""

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
    box = torch.tensor(apply_coords(np.array([[w * 0.2, h * 0.2], [w * 0.8, h * 0.8]]), size).reshape(1, 4), dtype=torch.float32)
    with torch.no_grad():
        sparse, dense = model.prompt_encoder(points=None, boxes=box, masks=None)
        low, _ = model.mask_decoder(torch.from_numpy(embedding), model.prompt_encoder.get_dense_pe(), sparse, dense, False)
    return (low > 0).numpy()


def test_onnxruntime_serving_gives_the_pytorch_embedding_and_the_same_mask():
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
    a, b = box_mask(model, served.embedding, reference.original_size), box_mask(model, reference.embedding, reference.original_size)
    assert (a & b).sum() / max(1, (a | b).sum()) >= 0.99


def test_the_torch_backend_setting_serves_with_pytorch(settings):
    settings.STUDIO = replace(settings.STUDIO, encoder_backend="torch")
    encoder = registry.load_encoder(active_model_version())
    assert not isinstance(encoder, OnnxImageEncoder)
    assert encoder(load_rgb(PORTRAIT_PNG)).embedding.shape == (1, 256, 64, 64)
