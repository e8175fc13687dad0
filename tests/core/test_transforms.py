"""SAM preprocessing is reproduced exactly."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from segment_anything.modeling import Sam
from segment_anything.utils.transforms import ResizeLongestSide

from kdsam_core.transforms import apply_coords, load_rgb, normalize_and_pad, preprocess_shape, resize_longest_side
from tests.conftest import LANDSCAPE_JPEG, PORTRAIT_PNG, SQUARE_JPEG, WIDE_PNG

IMAGES = [LANDSCAPE_JPEG, PORTRAIT_PNG, SQUARE_JPEG, WIDE_PNG]


@pytest.mark.parametrize(
    "shape", [(529, 622), (477, 315), (256, 256), (540, 800), (1, 3000), (1023, 1025), (1500, 2250)]
)
def test_preprocess_shape_matches_segment_anything(shape):
    assert preprocess_shape(*shape, 1024) == ResizeLongestSide.get_preprocess_shape(*shape, 1024)


@pytest.mark.parametrize("path", IMAGES, ids=lambda p: p.name)
def test_resize_longest_side_is_bit_identical_to_resize_longest_side_apply_image(path):
    image = load_rgb(path)
    expected = ResizeLongestSide(1024).apply_image(image)
    actual = resize_longest_side(image, 1024)
    assert actual.shape == expected.shape
    assert actual.dtype == np.uint8
    assert np.array_equal(actual, expected)


@pytest.mark.parametrize("path", [LANDSCAPE_JPEG, PORTRAIT_PNG], ids=lambda p: p.name)
def test_normalize_and_pad_equals_sam_preprocess(path):
    resized = ResizeLongestSide(1024).apply_image(load_rgb(path))
    sam_like = Sam.__new__(Sam)
    torch.nn.Module.__init__(sam_like)
    sam_like.register_buffer("pixel_mean", torch.Tensor([123.675, 116.28, 103.53]).view(-1, 1, 1), False)
    sam_like.register_buffer("pixel_std", torch.Tensor([58.395, 57.12, 57.375]).view(-1, 1, 1), False)
    sam_like.image_encoder = type("Encoder", (), {"img_size": 1024})()
    expected = Sam.preprocess(sam_like, torch.as_tensor(resized).permute(2, 0, 1).contiguous()[None].float())
    assert torch.equal(normalize_and_pad(resized), expected)


def test_apply_coords_matches_segment_anything():
    coords = np.array([[10.0, 20.0], [621.0, 528.0], [0.0, 0.0]])
    expected = ResizeLongestSide(1024).apply_coords(coords, (529, 622))
    assert np.allclose(apply_coords(coords, (529, 622)), expected)


def test_greyscale_images_are_replicated_to_three_channels():
    image = load_rgb(PORTRAIT_PNG)
    assert image.shape == (477, 315, 3)
    assert np.array_equal(image[..., 0], image[..., 2])
