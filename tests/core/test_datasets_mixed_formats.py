"""A DICOM dataset holding images of another format: they are reported as ``mixed_formats``, never dropped silently."""

from __future__ import annotations

import numpy as np

from kdsam_core.datasets import inspect_dataset, open_dataset
from kdsam_core.datasets.problems import PROBLEM_CODES
from tests.dicom_support import dicom_bytes


def _dicom(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(dicom_bytes(np.random.default_rng(seed).integers(0, 2000, size=(32, 40))))


def _problems(report, code):
    return [p for p in report.problems if p["code"] == code]


def _two_slices_and_a_png(root, datasets_kit):
    """``images/scan0.dcm``, ``images/scan1.dcm`` with masks, and ``images/photo.png`` (an image, not a mask)."""
    for i in range(2):
        _dicom(root / "images" / f"scan{i}.dcm", seed=i)
        datasets_kit.write_image(root / "masks" / f"scan{i}.png", datasets_kit.disk((32, 40), (20, 16), 6))
    datasets_kit.write_image(root / "images" / "photo.png", datasets_kit.noise((32, 40, 3)))
    return root


def test_png_image_in_a_dicom_dataset_is_reported_as_mixed_formats(tmp_path, datasets_kit):
    report = inspect_dataset(_two_slices_and_a_png(tmp_path, datasets_kit))
    [problem] = _problems(report, "mixed_formats")
    assert report.format == "dicom"
    assert problem["path"] == "images/photo.png" and "images/photo.png" in problem["message"]


def test_mixed_formats_message_says_how_to_fix_it(tmp_path, datasets_kit):
    report = inspect_dataset(_two_slices_and_a_png(tmp_path, datasets_kit))
    [problem] = _problems(report, "mixed_formats")
    assert "separate dataset" in problem["message"] and "convert" in problem["message"]


def test_mixed_formats_is_skippable_and_ignores_the_file():
    kind = PROBLEM_CODES["mixed_formats"]
    assert (kind.blocking, kind.action) == (False, "ignore_file")


def test_dicom_slices_beside_a_png_image_stay_importable(tmp_path, datasets_kit):
    with open_dataset(_two_slices_and_a_png(tmp_path, datasets_kit)) as dataset:
        assert dataset.importable
        assert sorted(s.image for s in dataset.samples()) == ["images/scan0.dcm", "images/scan1.dcm"]


def test_png_image_in_a_flat_dicom_folder_is_mixed_formats_not_an_orphan_mask(tmp_path, datasets_kit):
    for i in range(2):
        _dicom(tmp_path / f"scan{i}.dcm", seed=i)
        datasets_kit.write_image(tmp_path / f"scan{i}_mask.png", datasets_kit.disk((32, 40), (20, 16), 6))
    datasets_kit.write_image(tmp_path / "photo.jpg", datasets_kit.noise((32, 40, 3)))
    report = inspect_dataset(tmp_path)
    assert (report.format, report.pairs) == ("dicom", 2)
    assert [(p["code"], p["path"]) for p in report.problems] == [("mixed_formats", "photo.jpg")]


def test_mask_named_png_without_its_dicom_is_still_mask_without_image(tmp_path, datasets_kit):
    _dicom(tmp_path / "scan0.dcm")
    datasets_kit.write_image(tmp_path / "scan0_mask.png", datasets_kit.disk((32, 40), (20, 16), 6))
    datasets_kit.write_image(tmp_path / "gone_mask.png", datasets_kit.disk((32, 40), (20, 16), 6))
    report = inspect_dataset(tmp_path)
    assert [(p["code"], p["path"]) for p in report.problems] == [("mask_without_image", "gone_mask.png")]


def test_masks_of_a_dicom_dataset_are_not_reported_as_mixed_formats(tmp_path, datasets_kit):
    for i in range(2):
        _dicom(tmp_path / "images" / f"scan{i}.dcm", seed=i)
        datasets_kit.write_image(tmp_path / "masks" / f"scan{i}.png", datasets_kit.disk((32, 40), (20, 16), 6))
    assert inspect_dataset(tmp_path).problems == []
