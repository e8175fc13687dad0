"""Mask rules: binarisation and HC18 ellipse-outline filling (synthetic ellipses)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from kdsam_core.datasets.masks import MaskError, binarise, ellipse_mask, fill_outline


def _outline_and_truth(shape, center, axes, angle):
    """A 1-px ellipse outline drawn like the HC18 annotations, and the filled ellipse it encloses."""
    outline = np.zeros(shape, np.uint8)
    truth = np.zeros(shape, np.uint8)
    center_i = tuple(round(c) for c in center)
    half_axes = tuple(round(a / 2) for a in axes)
    cv2.ellipse(outline, center_i, half_axes, angle, 0, 360, 255, 1)
    cv2.ellipse(truth, center_i, half_axes, angle, 0, 360, 255, -1)
    return outline, truth > 0


def _iou(a, b):
    a, b = a.astype(bool), b.astype(bool)
    return (a & b).sum() / (a | b).sum()


def test_closed_ellipse_outline_is_filled_exactly():
    outline, truth = _outline_and_truth((200, 300), (150, 100), (160, 110), 30)
    from scipy import ndimage

    filled = fill_outline(outline)
    assert filled.dtype == np.uint8 and set(np.unique(filled)) == {0, 1}
    assert np.array_equal(filled.astype(bool), ndimage.binary_fill_holes(outline > 0))
    assert _iou(filled, truth) > 0.99


@pytest.mark.parametrize(
    ("center", "axes", "angle"),
    [((150, 10), (200, 120), 0), ((20, 100), (120, 180), 25), ((280, 190), (160, 100), -40)],
)
def test_ellipse_clipped_by_the_border_is_filled_by_fitting(center, axes, angle):
    outline, truth = _outline_and_truth((200, 300), center, axes, angle)
    assert outline[0].any() or outline[:, 0].any() or outline[-1].any() or outline[:, -1].any()
    from scipy import ndimage

    assert _iou(ndimage.binary_fill_holes(outline > 0), truth) < 0.5, "hole filling alone must fail here"
    assert _iou(fill_outline(outline), truth) > 0.97


def test_outline_with_a_gap_is_filled_by_fitting():
    outline, truth = _outline_and_truth((200, 300), (150, 100), (160, 110), 10)
    outline[90:110, :] = 0  # erase both sides: the outline is no longer closed
    assert _iou(fill_outline(outline), truth) > 0.97


def test_empty_outline_gives_empty_mask():
    assert not fill_outline(np.zeros((10, 10), np.uint8)).any()


def test_outline_with_too_few_pixels_is_outline_not_ellipse():
    outline = np.zeros((20, 20), np.uint8)
    outline[0, 3:6] = 255
    with pytest.raises(MaskError) as error:
        fill_outline(outline)
    assert error.value.code == "outline_not_ellipse"


def test_ellipse_mask_matches_the_analytic_area():
    mask = ellipse_mask((400, 400), (200.0, 200.0), (300.0, 200.0), 45.0)
    assert abs(mask.sum() - np.pi * 150 * 100) / (np.pi * 150 * 100) < 0.01


@pytest.mark.parametrize("value", [1, 38, 255])
def test_two_valued_masks_are_binary_without_note(value):
    raw = np.zeros((4, 4), np.uint8)
    raw[1:3, 1:3] = value
    result = binarise(raw)
    assert result.note is None and result.mask.sum() == 4


def test_lossy_masks_are_thresholded_at_127():
    raw = np.array([[0, 5, 127, 128, 250, 255]], np.uint8)
    result = binarise(raw, lossy=True)
    assert result.mask.tolist() == [[0, 0, 0, 1, 1, 1]] and result.note is None


def test_grey_masks_are_non_binary_and_thresholded():
    raw = np.array([[0, 100, 200, 255]], np.uint8)
    result = binarise(raw)
    assert result.note and "thresholded" in result.note and result.mask.tolist() == [[0, 0, 1, 1]]


def test_label_maps_merge_labels_unless_one_is_chosen():
    raw = np.array([[0, 1, 2, 3]], np.uint8)
    merged = binarise(raw)
    assert merged.note and "label" in merged.note and merged.mask.tolist() == [[0, 1, 1, 1]]
    chosen = binarise(raw, label=2)
    assert chosen.note is None and chosen.mask.tolist() == [[0, 0, 1, 0]]
