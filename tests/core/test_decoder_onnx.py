"""The exported decoder equals the PyTorch decoder at every image size."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F
from segment_anything.utils.onnx import SamOnnxModel

from kdsam_core.export import export_decoder_onnx
from kdsam_core.export.decoder_onnx import resize_bilinear_dynamic
from kdsam_core.modeling import build_kdsam
from kdsam_core.transforms import apply_coords, preprocess_shape

SIZES = {"landscape": (529, 622), "portrait": (477, 315), "square": (256, 256), "large": (1500, 2250)}


@pytest.fixture(scope="module")
def model():
    return build_kdsam(seed=0)


@pytest.fixture(scope="module")
def session(model, tmp_path_factory):
    path = export_decoder_onnx(model, tmp_path_factory.mktemp("onnx") / "decoder.onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def embedding():
    return torch.randn(1, 256, 64, 64, generator=torch.Generator().manual_seed(0))


def reference_masks(model, embedding, coords, labels, original_size):
    """PyTorch path: SAM's own prompt encoder, mask decoder, selection rule and postprocess_masks."""
    with torch.no_grad():
        onnx_like = SamOnnxModel(model, return_single_mask=True)
        sparse = onnx_like._embed_points(coords, labels)
        dense = model.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 64, 64)
        masks, scores = model.mask_decoder.predict_masks(embedding, model.prompt_encoder.get_dense_pe(), sparse, dense)
        masks, scores = onnx_like.select_masks(masks, scores, coords.shape[1])
        upscaled = model.postprocess_masks(masks, preprocess_shape(*original_size), original_size)
    return upscaled.numpy(), scores.numpy()


def run_onnx(session, embedding, coords, labels, original_size):
    return session.run(
        None,
        {
            "image_embeddings": embedding.numpy(),
            "point_coords": coords.numpy().astype(np.float32),
            "point_labels": labels.numpy().astype(np.float32),
            "mask_input": np.zeros((1, 1, 256, 256), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array(original_size, np.float32),
        },
    )


def point_prompt(original_size):
    h, w = original_size
    coords = apply_coords(np.array([[[w * 0.4, h * 0.6], [0.0, 0.0]]]), original_size)
    return torch.tensor(coords, dtype=torch.float32), torch.tensor([[1.0, -1.0]])


def box_prompt(original_size):
    h, w = original_size
    coords = apply_coords(np.array([[[w * 0.2, h * 0.25], [w * 0.7, h * 0.8]]]), original_size)
    return torch.tensor(coords, dtype=torch.float32), torch.tensor([[2.0, 3.0]])


@pytest.mark.parametrize("prompt", [point_prompt, box_prompt], ids=["point", "box"])
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_onnx_decoder_matches_pytorch_decoder(model, session, embedding, prompt, size):
    coords, labels = prompt(size)
    masks, scores, low_res = run_onnx(session, embedding, coords, labels, size)
    expected_masks, expected_scores = reference_masks(model, embedding, coords, labels, size)
    assert masks.shape == (1, 1, *size)
    assert low_res.shape == (1, 1, 256, 256)
    assert np.abs(masks - expected_masks).max() < 1e-3
    assert np.abs(scores - expected_scores).max() < 1e-3


def test_published_segment_anything_export_is_wrong_at_other_sizes_and_ours_is_not(model, session, embedding, tmp_path):
    """Guards the reason DecoderOnnxModel exists: the official export bakes the dummy size in."""
    official = SamOnnxModel(model, return_single_mask=True)
    dummy = (
        torch.randn(1, 256, 64, 64),
        torch.rand(1, 2, 2) * 1024,
        torch.tensor([[1.0, -1.0]]),
        torch.zeros(1, 1, 256, 256),
        torch.tensor([0.0]),
        torch.tensor([1500.0, 2250.0]),
    )
    path = tmp_path / "official.onnx"
    torch.onnx.export(
        official,
        dummy,
        str(path),
        input_names=[
            "image_embeddings",
            "point_coords",
            "point_labels",
            "mask_input",
            "has_mask_input",
            "orig_im_size",
        ],
        output_names=["masks", "iou_predictions", "low_res_masks"],
        dynamic_axes={"point_coords": {1: "n"}, "point_labels": {1: "n"}},
        opset_version=17,
        dynamo=False,
    )
    official_session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    size = SIZES["portrait"]
    coords, labels = point_prompt(size)
    expected, _ = reference_masks(model, embedding, coords, labels, size)
    official_masks = run_onnx(official_session, embedding, coords, labels, size)[0]
    ours = run_onnx(session, embedding, coords, labels, size)[0]
    assert np.abs(official_masks - expected).max() > 1e-2
    assert np.abs(ours - expected).max() < 1e-3


@pytest.mark.parametrize(
    "crop,out", [((871, 1024), (529, 622)), ((1024, 677), (477, 315)), ((1024, 1024), (3000, 3000)), ((5, 7), (2, 11))]
)
def test_dynamic_bilinear_resize_equals_interpolate_of_the_crop(crop, out):
    x = torch.randn(1, 2, 1024, 1024)
    expected = F.interpolate(x[..., : crop[0], : crop[1]], size=out, mode="bilinear", align_corners=False)
    actual = resize_bilinear_dynamic(
        x, torch.tensor(crop[0]), torch.tensor(crop[1]), torch.tensor(out[0]), torch.tensor(out[1])
    )
    # Equal up to float32 rounding of the source index (PyTorch's kernel may fuse multiply-add).
    assert (actual - expected).abs().max() < 1e-4 * x.abs().max()
