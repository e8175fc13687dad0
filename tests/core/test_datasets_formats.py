"""Format readers: each published layout, from the bundled fixtures and from the shared data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from kdsam_core.datasets import inspect_dataset, open_dataset


def _codes(report) -> set[str]:
    return {p["code"] for p in report.problems}


# -- Kvasir-SEG -----------------------------------------------------------------------------------


def test_kvasir_fixture_is_detected_with_image_stems_as_ids(datasets_kit):
    with open_dataset(datasets_kit.fixtures / "kvasir_seg") as dataset:
        assert dataset.format == "kvasir_seg"
        samples = list(dataset.samples())
    assert {s.id for s in samples} == {"cju2zdvjn9h7r08553cp4eed5", "cju2htabevq9108015qjei0x7"}
    assert all(s.group == s.id and s.label is None and s.flags == () for s in samples)


def test_kvasir_jpeg_masks_are_thresholded_at_127_without_non_binary_warnings(datasets_kit):
    report = inspect_dataset(datasets_kit.fixtures / "kvasir_seg")
    assert report.pairs == 2 and report.problems == [] and report.importable
    with open_dataset(datasets_kit.fixtures / "kvasir_seg") as dataset:
        sample = next(dataset.samples())
        mask = sample.load_mask()
        raw = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(sample.mask_paths[0]).convert("L"))
    assert mask.dtype == np.uint8 and set(np.unique(mask)) <= {0, 1}
    assert np.array_equal(mask, (raw > 127).astype(np.uint8))
    assert ((raw > 0) & (raw < 255)).any(), "fixture mask should contain JPEG noise values"


def test_kvasir_bbox_json_is_accepted(tmp_path, datasets_kit):
    import shutil

    root = tmp_path / "Kvasir-SEG"
    shutil.copytree(datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG", root)
    (root / "kavsir_bboxes.json").write_text(json.dumps({"cju2zdvjn9h7r08553cp4eed5": {"bbox": []}}))
    report = inspect_dataset(tmp_path)
    assert report.format == "kvasir_seg" and report.pairs == 2 and report.problems == []


def test_kvasir_shared_layout_is_detected_and_paired(datasets_kit):
    root = datasets_kit.shared("kvasir_seg")
    with open_dataset(root) as dataset:
        assert dataset.format == "kvasir_seg"
        images = sorted((root / "Kvasir-SEG" / "images").glob("*.jpg"))
        assert len(dataset.candidates) == len(images)
        assert all(len(s.mask_paths) == 1 for s in dataset.candidates)
        first = dataset.candidates[0]
        assert first.load_mask().any() and first.load_mask().shape == first.load_image().shape[:2]


def test_kvasir_shared_subset_inspects_clean(tmp_path, datasets_kit):
    root = datasets_kit.shared("kvasir_seg")
    ids = sorted(p.stem for p in (root / "Kvasir-SEG" / "images").glob("*.jpg"))[:3]
    rels = [f"Kvasir-SEG/{kind}/{i}.jpg" for i in ids for kind in ("images", "masks")]
    report = inspect_dataset(datasets_kit.copy_subset(root, tmp_path / "kv", rels))
    assert (report.format, report.pairs, report.problems) == ("kvasir_seg", 3, [])


# -- ISIC -----------------------------------------------------------------------------------------


def test_isic_2017_fixture_pairs_segmentation_masks(datasets_kit):
    report = inspect_dataset(datasets_kit.fixtures / "isic2017")
    assert (report.format, report.pairs, report.unlabelled, report.problems) == ("isic", 3, 0, [])
    assert report.subset_counts == {"training": 3}


def test_isic_superpixels_and_metadata_csv_are_ignored(tmp_path, datasets_kit):
    import shutil

    shutil.copytree(datasets_kit.fixtures / "isic2017", tmp_path / "isic")
    data = tmp_path / "isic" / "ISIC-2017_Training_Data"
    datasets_kit.write_image(data / "ISIC_0010444_superpixels.png", datasets_kit.noise((256, 256, 3)))
    (data / "ISIC-2017_Training_Data_metadata.csv").write_text("image_id,age_approximate,sex\nISIC_0010444,55,male\n")
    report = inspect_dataset(tmp_path / "isic")
    assert (report.format, report.pairs, report.problems) == ("isic", 3, [])


@pytest.mark.parametrize(
    ("data_dir", "truth_dir", "mask_suffix"),
    [
        ("ISBI2016_ISIC_Part1_Training_Data", "ISBI2016_ISIC_Part1_Training_GroundTruth", "_Segmentation"),
        ("ISIC2018_Task1-2_Training_Input", "ISIC2018_Task1_Training_GroundTruth", "_segmentation"),
        ("ISIC-2017_Validation_Data", "ISIC-2017_Validation_Part1_GroundTruth", "_segmentation"),
    ],
)
def test_isic_2016_2017_2018_folder_names_are_supported(tmp_path, datasets_kit, data_dir, truth_dir, mask_suffix):
    for i, isic_id in enumerate(("ISIC_0000000", "ISIC_0000001")):
        datasets_kit.write_image(tmp_path / data_dir / f"{isic_id}.jpg", datasets_kit.noise(seed=i), quality=95)
        datasets_kit.write_image(tmp_path / truth_dir / f"{isic_id}{mask_suffix}.png", datasets_kit.disk())
    (tmp_path / data_dir / "LICENSE.txt").write_text("CC0")
    if "2018" in data_dir:  # Task 2 attribute masks must not be mistaken for segmentations
        datasets_kit.write_image(
            tmp_path / "ISIC2018_Task2_Training_GroundTruth_v3" / "ISIC_0000000_attribute_globules.png",
            datasets_kit.disk(),
        )
    report = inspect_dataset(tmp_path)
    assert (report.format, report.pairs, report.problems) == ("isic", 2, [])


def test_isic_test_images_without_ground_truth_folder_are_unlabelled(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "ISIC-2017_Test_v2_Data" / "ISIC_0000003.jpg", datasets_kit.noise())
    report = inspect_dataset(tmp_path)
    assert (report.format, report.pairs, report.unlabelled, report.problems) == ("isic", 0, 1, [])
    assert report.importable


def test_isic_shared_subset_inspects_clean(tmp_path, datasets_kit):
    root = datasets_kit.shared("isic2017")
    ids = sorted(p.stem for p in (root / "ISIC-2017_Training_Data").glob("ISIC_*.jpg"))[:3]
    rels = [f"ISIC-2017_Training_Data/{i}.jpg" for i in ids]
    rels += [f"ISIC-2017_Training_Part1_GroundTruth/{i}_segmentation.png" for i in ids]
    report = inspect_dataset(datasets_kit.copy_subset(root, tmp_path / "isic", rels))
    assert (report.format, report.pairs, report.problems) == ("isic", 3, [])
    with open_dataset(root) as dataset:  # the full folder: listing only, nothing decoded
        assert dataset.format == "isic"
        assert len(dataset.candidates) == len(list((root / "ISIC-2017_Training_Data").glob("ISIC_*.jpg")))


# -- HC18 -----------------------------------------------------------------------------------------


def test_hc18_fixture_keeps_subject_as_split_group(datasets_kit):
    with open_dataset(datasets_kit.fixtures / "hc18") as dataset:
        assert dataset.format == "hc18"
        groups = {s.id: s.group for s in dataset.samples()}
    assert groups == {"779_HC": "779", "779_2HC": "779", "628_2HC": "628"}


def test_hc18_annotation_outlines_are_filled(datasets_kit):
    with open_dataset(datasets_kit.fixtures / "hc18") as dataset:
        sample = next(s for s in dataset.samples() if s.id == "779_HC")
        mask = sample.load_mask()
        from PIL import Image

        outline = np.asarray(Image.open(sample.mask_paths[0])) > 127
    assert mask.sum() > 20 * outline.sum()  # a filled region, not a 1-px line
    assert mask[outline].all()


def test_hc18_real_clipped_ellipse_is_filled_up_to_the_border(datasets_kit):
    from PIL import Image
    from scipy import ndimage

    with open_dataset(datasets_kit.fixtures / "hc18") as dataset:
        sample = next(s for s in dataset.samples() if s.id == "628_2HC")
        mask = sample.load_mask()
        outline = np.asarray(Image.open(sample.mask_paths[0])) > 127
    assert outline[0].any(), "628_2HC's ellipse is clipped by the top border"
    assert (ndimage.binary_fill_holes(outline) & ~outline).sum() == 0, "hole filling alone fails on this file"
    ys, xs = np.nonzero(outline)
    inside = mask[ys.min() + 1 : ys.max(), xs.min() + 1 : xs.max()]
    assert mask[0, xs[ys == 0].min() : xs[ys == 0].max() + 1].all()  # filled along the clipped edge
    assert mask.sum() > 0.6 * inside.size and mask[(ys.min() + ys.max()) // 2, (xs.min() + xs.max()) // 2] == 1


def test_hc18_test_set_images_are_unlabelled_with_distinct_ids_and_groups(tmp_path, datasets_kit):
    import shutil

    shutil.copytree(datasets_kit.fixtures / "hc18" / "training_set", tmp_path / "training_set")
    datasets_kit.write_image(tmp_path / "test_set" / "779_HC.png", datasets_kit.noise((54, 80), seed=3))
    datasets_kit.write_image(tmp_path / "test_set" / "001_2HC.png", datasets_kit.noise((54, 80), seed=4))
    (tmp_path / "test_set_pixel_size.csv").write_text("filename,pixel size(mm)\n779_HC.png,0.1\n")
    with open_dataset(tmp_path) as dataset:
        samples = {s.id: s for s in dataset.samples()}
        report = dataset.report()
    assert report.format == "hc18" and report.pairs == 3 and report.unlabelled == 2 and report.problems == []
    assert samples["test_779_HC"].unlabelled and samples["test_779_HC"].group == "test-779"
    assert samples["001_2HC"].flags == ("unlabelled",) and samples["001_2HC"].subset == "test"
    assert samples["779_HC"].group == "779" and not samples["779_HC"].unlabelled


def test_hc18_shared_subset_groups_frames_of_one_subject(tmp_path, datasets_kit):
    root = datasets_kit.shared("hc18")
    frames = sorted(p.stem for p in (root / "training_set").glob("*_2HC.png"))[:2]
    stems = [f.replace("_2HC", "_HC") for f in frames] + frames
    rels = [f"training_set/{s}{suffix}.png" for s in stems for suffix in ("", "_Annotation")]
    with open_dataset(datasets_kit.copy_subset(root, tmp_path / "hc", rels)) as dataset:
        report = dataset.report()
        groups = {s.id: s.group for s in dataset.samples()}
    assert (report.format, report.pairs, report.problems) == ("hc18", 4, [])
    assert report.groups == 2 and groups[frames[0]] == frames[0].split("_")[0]


# -- BUSI -----------------------------------------------------------------------------------------


def test_busi_fixture_keeps_class_labels(datasets_kit):
    report = inspect_dataset(datasets_kit.fixtures / "busi")
    assert report.format == "busi" and report.pairs == 3 and report.problems == []
    assert report.class_counts == {"benign": 2, "malignant": 1}


def _busi(tmp_path, datasets_kit):
    root = tmp_path / "Dataset_BUSI_with_GT"
    gray = datasets_kit.noise((40, 50), seed=1)
    datasets_kit.write_image(root / "benign" / "benign (1).png", np.dstack([gray] * 3))  # RGB, equal channels
    left = np.zeros((40, 50), np.uint8)
    left[5:15, 5:15] = 255
    right = np.zeros((40, 50), np.uint8)
    right[20:30, 30:40] = 255
    datasets_kit.write_image(root / "benign" / "benign (1)_mask.png", left)
    datasets_kit.write_image(root / "benign" / "benign (1)_mask_1.png", right)
    datasets_kit.write_image(root / "malignant" / "malignant (1).png", datasets_kit.noise((40, 50), seed=2))
    datasets_kit.write_image(root / "malignant" / "malignant (1)_mask.png", right)
    datasets_kit.write_image(root / "normal" / "normal (1).png", datasets_kit.noise((40, 50), seed=3))
    datasets_kit.write_image(root / "normal" / "normal (1)_mask.png", np.zeros((40, 50), np.uint8))
    datasets_kit.write_image(root / "normal" / "normal (2).png", datasets_kit.noise((40, 50), seed=4))
    return root, left, right


def test_busi_extra_masks_are_ored_into_one(tmp_path, datasets_kit):
    _root, left, right = _busi(tmp_path, datasets_kit)
    with open_dataset(tmp_path) as dataset:
        sample = next(s for s in dataset.samples() if s.id == "benign (1)")
        assert len(sample.mask_paths) == 2
        assert np.array_equal(sample.load_mask(), ((left | right) > 0).astype(np.uint8))


def test_busi_normal_images_are_kept_as_flagged_negatives(tmp_path, datasets_kit):
    _busi(tmp_path, datasets_kit)
    with open_dataset(tmp_path) as dataset:
        report = dataset.report()
        normal = [s for s in dataset.samples() if s.label == "normal"]
        masks = [s.load_mask() for s in normal]
    assert report.problems == [] and report.negatives == 2 and report.pairs == 4
    assert report.class_counts == {"benign": 1, "malignant": 1, "normal": 2}
    assert all(s.negative and "negative" in s.flags for s in normal)
    assert all(m is not None and m.shape == (40, 50) and not m.any() for m in masks)


def test_busi_rgb_images_with_equal_channels_are_read_as_grayscale(tmp_path, datasets_kit):
    _busi(tmp_path, datasets_kit)
    with open_dataset(tmp_path) as dataset:
        sample = next(s for s in dataset.samples() if s.id == "benign (1)")
        assert sample.load_image().shape == (40, 50)
        assert dataset.report().image_modes == {"gray": 4}


def test_busi_shared_subset_inspects_clean(tmp_path, datasets_kit):
    root = datasets_kit.shared("busi")
    rels = []
    for label in ("benign", "malignant"):
        stems = sorted(p.stem for p in (root / "Dataset_BUSI_with_GT" / label).glob("*).png"))[:2]
        rels += [f"Dataset_BUSI_with_GT/{label}/{s}{x}.png" for s in stems for x in ("", "_mask")]
    report = inspect_dataset(datasets_kit.copy_subset(root, tmp_path / "busi", rels))
    assert (report.format, report.pairs, report.problems) == ("busi", 4, [])
    assert report.class_counts == {"benign": 2, "malignant": 2}


# -- generic --------------------------------------------------------------------------------------


def test_generic_images_and_masks_folders_pair_by_stem(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "data", count=3)
    report = inspect_dataset(tmp_path / "data")
    assert (report.format, report.pairs, report.problems) == ("generic", 3, [])


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".bmp"])
def test_generic_reads_png_jpeg_tiff_and_bmp(tmp_path, datasets_kit, suffix):
    datasets_kit.write_image(tmp_path / "images" / f"a{suffix}", datasets_kit.noise())
    datasets_kit.write_image(tmp_path / "masks" / f"a{suffix}", datasets_kit.disk())
    with open_dataset(tmp_path) as dataset:
        report = dataset.report()
        mask = next(dataset.samples()).load_mask()
    assert (report.format, report.pairs, report.problems) == ("generic", 1, [])
    assert np.array_equal(mask, (datasets_kit.disk() > 127).astype(np.uint8)) or suffix == ".jpg"


def test_generic_masks_with_mask_suffix_are_matched(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "images" / "case 1.png", datasets_kit.noise())
    datasets_kit.write_image(tmp_path / "masks" / "case 1_mask.png", datasets_kit.disk())
    report = inspect_dataset(tmp_path)
    assert (report.pairs, report.problems) == (1, [])


def test_generic_zero_one_masks_are_binary(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "images" / "a.png", datasets_kit.noise())
    datasets_kit.write_image(tmp_path / "masks" / "a.png", (datasets_kit.disk() > 0).astype(np.uint8))
    report = inspect_dataset(tmp_path)
    assert (report.pairs, report.problems) == (1, [])


def test_generic_label_map_uses_the_chosen_label(tmp_path, datasets_kit):
    labels = np.zeros((48, 64), np.uint8)
    labels[5:15, 5:15] = 1
    labels[20:30, 20:40] = 2
    datasets_kit.write_image(tmp_path / "images" / "a.png", datasets_kit.noise())
    datasets_kit.write_image(tmp_path / "masks" / "a.png", labels)
    merged = inspect_dataset(tmp_path)
    assert _codes(merged) == {"non_binary_mask"} and merged.importable
    with open_dataset(tmp_path, mask_label=2) as dataset:
        assert dataset.report().problems == []
        assert np.array_equal(next(dataset.samples()).load_mask(), (labels == 2).astype(np.uint8))


def test_generic_csv_manifest_lists_image_and_mask(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "scans" / "x.png", datasets_kit.noise())
    datasets_kit.write_image(tmp_path / "scans" / "x_label.png", datasets_kit.disk())
    datasets_kit.write_image(tmp_path / "scans" / "y.png", datasets_kit.noise(seed=5))
    (tmp_path / "list.csv").write_text("image,mask,class\nscans/x.png,scans/x_label.png,lesion\nscans/y.png,,\n")
    with open_dataset(tmp_path) as dataset:
        report = dataset.report()
        samples = {s.id: s for s in dataset.samples()}
    assert (report.format, report.pairs, report.unlabelled, report.problems) == ("generic", 1, 1, [])
    assert samples["x"].label == "lesion" and samples["y"].unlabelled


def test_generic_csv_manifest_paths_outside_the_dataset_are_refused(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "outside.png", datasets_kit.noise())
    root = tmp_path / "ds"
    datasets_kit.write_image(root / "a.png", datasets_kit.noise(seed=2))
    (root / "manifest.csv").write_text("image,mask\n../outside.png,\na.png,\n")
    report = inspect_dataset(root)
    assert _codes(report) == {"manifest_missing_file"} and report.unlabelled == 1
