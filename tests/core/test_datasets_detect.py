"""Format auto-detection, including dataset roots one or two folders down."""

from __future__ import annotations

import shutil

import pytest

from kdsam_core.datasets import detect_format, inspect_dataset


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [("kvasir_seg", "kvasir_seg"), ("isic2017", "isic"), ("hc18", "hc18"), ("busi", "busi")],
)
def test_each_fixture_is_detected_as_its_format(datasets_kit, fixture, expected):
    assert detect_format(datasets_kit.fixtures / fixture).format == expected


def test_dataset_two_folders_down_is_found(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "hc18" / "training_set", tmp_path / "upload" / "hc18" / "training_set")
    detection = detect_format(tmp_path / "upload")
    assert detection.format == "hc18" and detection.root == tmp_path / "upload" / "hc18"


def test_dataset_three_folders_down_is_unknown_format(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg", tmp_path / "a" / "b")
    assert [p.code for p in detect_format(tmp_path).problems] == ["unknown_format"]


def test_two_datasets_side_by_side_are_ambiguous_format(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "isic2017", tmp_path / "isic")
    shutil.copytree(datasets_kit.fixtures / "hc18", tmp_path / "hc18")
    report = inspect_dataset(tmp_path)
    assert [p["code"] for p in report.problems] == ["ambiguous_format"] and not report.importable


def test_explicit_format_resolves_ambiguity(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "isic2017", tmp_path / "isic")
    shutil.copytree(datasets_kit.fixtures / "hc18", tmp_path / "hc18")
    report = inspect_dataset(tmp_path, format="hc18")
    assert (report.format, report.root, report.pairs) == ("hc18", "hc18", 3)


def test_specific_layout_wins_over_stray_images_at_the_top(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG", tmp_path / "Kvasir-SEG")
    datasets_kit.write_image(tmp_path / "preview.png", datasets_kit.noise())
    assert detect_format(tmp_path).format == "kvasir_seg"


def test_kvasir_folder_renamed_is_still_kvasir_by_its_ids(tmp_path, datasets_kit):
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG", tmp_path / "polyps")
    assert detect_format(tmp_path).format == "kvasir_seg"


def test_images_masks_folders_with_other_names_are_generic(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "my-study")
    detection = detect_format(tmp_path)
    assert detection.format == "generic" and detection.root == tmp_path / "my-study"


def test_unknown_explicit_format_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset format"):
        detect_format(tmp_path, "nifti")


def test_shared_data_roots_are_detected(datasets_kit):
    expected = {"kvasir_seg": "kvasir_seg", "isic2017": "isic", "hc18": "hc18", "busi": "busi"}
    found = {}
    for name, _key in expected.items():
        root = datasets_kit.shared_root() / name
        if root.is_dir():
            found[name] = detect_format(root).format
    if not found:
        pytest.skip(f"no shared datasets at {datasets_kit.shared_root()} (set KDSAM_SHARED_DATA)")
    assert found == {name: expected[name] for name in found}


def test_images_masks_folders_with_isic_names_are_generic_not_ambiguous(tmp_path, datasets_kit):
    source = datasets_kit.fixtures / "isic2017"
    shutil.copytree(source / "ISIC-2017_Training_Data", tmp_path / "images")
    shutil.copytree(source / "ISIC-2017_Training_Part1_GroundTruth", tmp_path / "masks")
    report = inspect_dataset(tmp_path)
    assert (report.format, report.pairs, report.problems) == ("generic", 3, [])
