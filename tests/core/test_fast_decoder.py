"""The fast decoder export computes SAM's masks with fewer FLOPs, and the low-res browser variant
plus SAM's post-processing equals the official export."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
from segment_anything.modeling.transformer import Attention
from torch.utils.flop_counter import FlopCounterMode

from kdsam_core.export import export_decoder_onnx
from kdsam_core.export.decoder_onnx import LOW_RES_INPUT_NAMES, LOW_RES_OUTPUT_NAMES
from kdsam_core.export.fast_decoder import fast_decoder
from kdsam_core.modeling import build_kdsam
from kdsam_core.transforms import preprocess_shape


@pytest.fixture(scope="module")
def model():
    """A random decoder whose biases and norm affines are not the identity (they enter the algebra)."""
    m = build_kdsam(seed=0)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for module in m.mask_decoder.modules():
            if getattr(module, "bias", None) is not None:
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=g))
            if getattr(module, "weight", None) is not None and module.weight.dim() == 1:
                module.weight.copy_(1 + 0.2 * torch.randn(module.weight.shape, generator=g))
    return m


def predict(model, embedding, points, labels, mask_input):
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(points=(points, labels), boxes=None, masks=mask_input)
        return model.mask_decoder.predict_masks(embedding, model.prompt_encoder.get_dense_pe(), sparse, dense)


@pytest.mark.parametrize("num_points", [1, 3, 10])
@pytest.mark.parametrize("with_mask_input", [False, True])
def test_fast_decoder_predicts_the_same_masks_and_ious_as_sam(model, num_points, with_mask_input):
    g = torch.Generator().manual_seed(num_points)
    embedding = torch.randn(1, 256, 64, 64, generator=g)
    points = torch.rand(1, num_points, 2, generator=g) * 1024
    labels = torch.randint(0, 2, (1, num_points), generator=g)
    mask_input = torch.randn(1, 1, 256, 256, generator=g) if with_mask_input else None

    masks, ious = predict(model, embedding, points, labels, mask_input)
    fast_masks, fast_ious = predict(fast_decoder(model), embedding, points, labels, mask_input)

    assert fast_masks.shape == masks.shape == (1, 4, 256, 256)
    torch.testing.assert_close(fast_masks, masks, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fast_ious, ious, atol=1e-5, rtol=1e-5)


def test_fast_decoder_leaves_the_reference_model_unchanged(model):
    fast = fast_decoder(model)
    layer = model.mask_decoder.transformer.layers[0]
    assert type(layer.cross_attn_token_to_image) is Attention
    assert type(model.mask_decoder.transformer.final_attn_token_to_image) is Attention
    assert fast.mask_decoder is not model.mask_decoder
    assert fast.image_encoder is model.image_encoder  # shared, not copied


def test_fast_decoder_needs_at_least_a_third_fewer_flops_for_a_click(model):
    embedding = torch.randn(1, 256, 64, 64)
    points, labels = torch.tensor([[[400.0, 300.0], [0.0, 0.0]]]), torch.tensor([[1, -1]])

    def flops(m):
        with FlopCounterMode(display=False) as counter:
            predict(m, embedding, points, labels, None)
        return counter.get_total_flops()

    assert flops(fast_decoder(model)) < (2 / 3) * flops(model)


def test_low_res_browser_export_plus_sam_postprocessing_equals_the_official_export(model, tmp_path):
    official = ort.InferenceSession(str(export_decoder_onnx(model, tmp_path / "official.onnx", multimask=True)))
    low_res = ort.InferenceSession(
        str(export_decoder_onnx(model, tmp_path / "low.onnx", multimask=True, postprocess=False))
    )
    assert [i.name for i in low_res.get_inputs()] == LOW_RES_INPUT_NAMES
    assert [o.name for o in low_res.get_outputs()] == LOW_RES_OUTPUT_NAMES

    original_size = (529, 622)
    feeds = {
        "image_embeddings": np.random.default_rng(0).standard_normal((1, 256, 64, 64), dtype=np.float32),
        "point_coords": np.array([[[500.0, 300.0], [0.0, 0.0]]], np.float32),
        "point_labels": np.array([[1, -1]], np.float32),
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
    }
    masks, ious, low = official.run(None, {**feeds, "orig_im_size": np.array(original_size, np.float32)})
    low_ious, low_masks = low_res.run(None, feeds)

    np.testing.assert_allclose(low_ious, ious, atol=1e-5)
    np.testing.assert_allclose(low_masks, low, atol=1e-5)
    upscaled = model.postprocess_masks(torch.from_numpy(low_masks), preprocess_shape(*original_size), original_size)
    assert upscaled.shape == masks.shape == (1, 4, *original_size)
    np.testing.assert_allclose(upscaled.numpy(), masks, atol=1e-4)
