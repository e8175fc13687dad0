"""Validation problems: each malformed input gives its specific, stable problem code."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from kdsam_core.datasets import PROBLEM_CODES, Problem, inspect_dataset, open_dataset


def _codes(report):
    return sorted(p["code"] for p in report.problems)


def _problem(report, code):
    return next(p for p in report.problems if p["code"] == code)


def test_truncated_jpeg_is_unreadable_image(tmp_path, datasets_kit):
    root = tmp_path / "Kvasir-SEG"
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG", root)
    image = root / "images" / "cju2htabevq9108015qjei0x7.jpg"
    image.write_bytes(image.read_bytes()[:3000])
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["unreadable_image"] and report.pairs == 1 and report.skipped == 1
    problem = _problem(report, "unreadable_image")
    assert problem["path"] == "Kvasir-SEG/images/cju2htabevq9108015qjei0x7.jpg" and "truncated" in problem["message"]
    assert problem["skippable"] and report.importable


def test_non_image_file_with_image_extension_is_unreadable_image(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    (tmp_path / "images" / "img1.png").write_text("not a png")
    assert _codes(inspect_dataset(tmp_path)) == ["unreadable_image"]


def test_corrupt_mask_is_unreadable_mask(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    mask = tmp_path / "masks" / "img0.png"
    mask.write_bytes(mask.read_bytes()[:60])
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["unreadable_mask"] and _problem(report, "unreadable_mask")["path"] == "masks/img0.png"


def test_mask_of_another_size_is_size_mismatch(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    datasets_kit.write_image(tmp_path / "masks" / "img1.png", datasets_kit.disk((40, 64)))
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["size_mismatch"] and (report.pairs, report.skipped) == (1, 1)
    problem = _problem(report, "size_mismatch")
    assert problem["path"] == "masks/img1.png" and "64x40" in problem["message"] and "64x48" in problem["message"]
    assert problem["action"] == "skip_sample"


def test_image_without_mask_is_reported_and_imported_unlabelled(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    (tmp_path / "masks" / "img1.png").unlink()
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["image_without_mask"] and (report.pairs, report.unlabelled) == (1, 1)
    assert _problem(report, "image_without_mask") | {"message": ""} == {
        "code": "image_without_mask",
        "path": "images/img1.png",
        "message": "",
        "blocking": False,
        "skippable": True,
        "action": "import_unlabelled",
        "sample_id": "img1",
    }


def test_kvasir_missing_mask_is_image_without_mask(tmp_path, datasets_kit):
    root = tmp_path / "Kvasir-SEG"
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG", root)
    (root / "masks" / "cju2htabevq9108015qjei0x7.jpg").unlink()
    assert _codes(inspect_dataset(tmp_path)) == ["image_without_mask"]


def test_mask_without_image_is_reported(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    datasets_kit.write_image(tmp_path / "masks" / "orphan.png", datasets_kit.disk())
    report = inspect_dataset(tmp_path)
    assert (
        _codes(report) == ["mask_without_image"]
        and _problem(report, "mask_without_image")["path"] == "masks/orphan.png"
    )
    assert report.pairs == 2


def test_hc18_annotation_without_image_is_mask_without_image(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "hc18", tmp_path / "hc18")
    (tmp_path / "hc18" / "training_set" / "779_2HC.png").unlink()
    report = inspect_dataset(tmp_path / "hc18")
    assert _codes(report) == ["mask_without_image"] and report.pairs == 2


def test_empty_mask_is_reported_and_kept_as_negative(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    datasets_kit.write_image(tmp_path / "masks" / "img0.png", np.zeros((48, 64), np.uint8))
    with open_dataset(tmp_path) as dataset:
        report = dataset.report()
        negatives = [s.id for s in dataset.samples() if s.negative]
    assert _codes(report) == ["empty_mask"] and report.negatives == 1 and negatives == ["img0"]
    assert _problem(report, "empty_mask")["action"] == "keep_as_negative"


def test_grey_mask_is_non_binary_mask(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=1)
    grey = datasets_kit.disk().copy()
    grey[0, :10] = 128
    datasets_kit.write_image(tmp_path / "masks" / "img0.png", grey)
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["non_binary_mask"] and report.pairs == 1
    assert _problem(report, "non_binary_mask")["action"] == "binarise"


def test_identical_images_are_duplicate_image(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=2)
    shutil.copyfile(tmp_path / "images" / "img0.png", tmp_path / "images" / "img9.png")
    shutil.copyfile(tmp_path / "masks" / "img0.png", tmp_path / "masks" / "img9.png")
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["duplicate_image"] and (report.pairs, report.skipped) == (2, 1)
    problem = _problem(report, "duplicate_image")
    assert problem["path"] == "images/img9.png" and "images/img0.png" in problem["message"]


def test_same_pixels_in_another_container_are_duplicate_image(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=1)
    datasets_kit.write_image(tmp_path / "images" / "copy.bmp", datasets_kit.noise(seed=0))
    datasets_kit.write_image(tmp_path / "masks" / "copy.png", datasets_kit.disk())
    assert _codes(inspect_dataset(tmp_path)) == ["duplicate_image"]


def test_same_stem_twice_is_duplicate_id_and_renamed(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "images" / "a" / "x.png", datasets_kit.noise(seed=1))
    datasets_kit.write_image(tmp_path / "images" / "b" / "x.png", datasets_kit.noise(seed=2))
    with open_dataset(tmp_path) as dataset:
        ids = sorted(s.id for s in dataset.samples())
        report = dataset.report()
    assert ids == ["x", "x_2"] and _codes(report) == ["duplicate_id"]


def test_folder_without_images_is_unknown_format(tmp_path):
    (tmp_path / "readme.txt").write_text("nothing here")
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["unknown_format"] and not report.importable


def test_empty_layout_is_no_images(tmp_path):
    (tmp_path / "Kvasir-SEG" / "images").mkdir(parents=True)
    (tmp_path / "Kvasir-SEG" / "masks").mkdir()
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["no_images"] and report.format == "kvasir_seg" and not report.importable


def test_dataset_whose_every_image_is_skipped_is_no_usable_samples(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=1)
    datasets_kit.write_image(tmp_path / "masks" / "img0.png", datasets_kit.disk((10, 10)))
    report = inspect_dataset(tmp_path)
    assert _codes(report) == ["no_usable_samples", "size_mismatch"] and not report.importable


def test_every_problem_code_says_whether_it_blocks():
    assert PROBLEM_CODES["archive_path_traversal"].blocking and not PROBLEM_CODES["size_mismatch"].blocking
    for code, kind in PROBLEM_CODES.items():
        problem = Problem(code, "x", "message").to_dict()
        assert problem["blocking"] is kind.blocking and problem["skippable"] is (not kind.blocking)
        assert problem["action"]


def test_unknown_problem_code_is_rejected():
    with pytest.raises(ValueError):
        Problem("made_up", "x", "message")


def test_report_is_json_serialisable_with_sizes_and_classes(datasets_kit):
    import dataclasses
    import json

    report = inspect_dataset(datasets_kit.fixtures / "busi")
    data = json.loads(json.dumps(dataclasses.asdict(report)))
    assert data["format"] == "busi" and data["pairs"] == 3 and data["unlabelled"] == 0
    assert data["class_counts"] == {"benign": 2, "malignant": 1}
    size = data["image_size"]
    assert size["min_width"] <= size["max_width"] and size["min_height"] <= size["max_height"]
