"""Conversion to the generic layout (images/, masks/ 0/255 PNG, manifest.csv)."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
from PIL import Image

from kdsam_core.datasets import DatasetError, convert_dataset, inspect_dataset


def _manifest(out):
    with open(out / "manifest.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def test_convert_kvasir_writes_generic_layout_with_image_stems(tmp_path, datasets_kit):
    result = convert_dataset(datasets_kit.fixtures / "kvasir_seg", tmp_path / "out")
    out = tmp_path / "out"
    assert result.written == 2 and sorted(p.name for p in out.iterdir()) == ["images", "manifest.csv", "masks"]
    rows = _manifest(out)
    assert list(rows[0]) == ["id", "image", "mask", "group", "class"]
    row = next(r for r in rows if r["id"] == "cju2htabevq9108015qjei0x7")
    assert row == {
        "id": "cju2htabevq9108015qjei0x7",
        "image": "images/cju2htabevq9108015qjei0x7.jpg",
        "mask": "masks/cju2htabevq9108015qjei0x7.png",
        "group": "cju2htabevq9108015qjei0x7",
        "class": "",
    }
    source = datasets_kit.fixtures / "kvasir_seg" / "Kvasir-SEG" / "images" / "cju2htabevq9108015qjei0x7.jpg"
    assert (out / row["image"]).read_bytes() == source.read_bytes()


def test_converted_masks_are_single_channel_0_255(tmp_path, datasets_kit):
    convert_dataset(datasets_kit.fixtures / "hc18", tmp_path / "out")
    for path in (tmp_path / "out" / "masks").iterdir():
        with Image.open(path) as mask:
            assert mask.mode == "L" and set(np.unique(np.asarray(mask))) == {0, 255}
    assert sorted(p.stem for p in (tmp_path / "out" / "masks").iterdir()) == ["628_2HC", "779_2HC", "779_HC"]
    assert {r["id"]: r["group"] for r in _manifest(tmp_path / "out")}["779_2HC"] == "779"


def test_convert_busi_keeps_class_and_stores_equal_channel_rgb_as_grayscale(tmp_path, datasets_kit):
    root = tmp_path / "Dataset_BUSI_with_GT"
    gray = datasets_kit.noise((30, 40), seed=1)
    datasets_kit.write_image(root / "benign" / "benign (12).png", np.dstack([gray] * 3))
    datasets_kit.write_image(root / "benign" / "benign (12)_mask.png", datasets_kit.disk((30, 40), (20, 15), 5))
    datasets_kit.write_image(root / "normal" / "normal (3).png", datasets_kit.noise((30, 40), seed=2))
    datasets_kit.write_image(root / "normal" / "normal (3)_mask.png", np.zeros((30, 40), np.uint8))
    convert_dataset(tmp_path, tmp_path / "out")
    rows = {r["id"]: r for r in _manifest(tmp_path / "out")}
    assert rows["benign (12)"]["class"] == "benign" and rows["normal (3)"]["class"] == "normal"
    with Image.open(tmp_path / "out" / "images" / "benign (12).png") as image:
        assert image.mode == "L" and np.array_equal(np.asarray(image), gray)
    with Image.open(tmp_path / "out" / rows["normal (3)"]["mask"]) as mask:
        assert not np.asarray(mask).any()


def test_convert_keeps_unlabelled_images_with_an_empty_mask_cell(tmp_path, datasets_kit):
    datasets_kit.write_image(tmp_path / "ds" / "test_set" / "001_HC.png", datasets_kit.noise((54, 80), seed=1))
    convert_dataset(tmp_path / "ds", tmp_path / "out")
    assert _manifest(tmp_path / "out") == [
        {"id": "001_HC", "image": "images/001_HC.png", "mask": "", "group": "test-001", "class": ""}
    ]


def test_convert_skips_unusable_samples(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "ds", count=3)
    datasets_kit.write_image(tmp_path / "ds" / "masks" / "img1.png", datasets_kit.disk((10, 10)))
    result = convert_dataset(tmp_path / "ds", tmp_path / "out")
    assert result.written == 2 and result.skipped == 1
    assert sorted(r["id"] for r in _manifest(tmp_path / "out")) == ["img0", "img2"]


def test_convert_strict_refuses_any_problem(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "ds", count=2)
    (tmp_path / "ds" / "masks" / "img1.png").unlink()
    with pytest.raises(DatasetError, match="image_without_mask"):
        convert_dataset(tmp_path / "ds", tmp_path / "out", strict=True)
    assert not (tmp_path / "out").exists()


def test_convert_refuses_blocking_problems(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "evil.zip", entries={"../x.png": b"x"})
    with pytest.raises(DatasetError, match="archive_path_traversal") as error:
        convert_dataset(archive, tmp_path / "out")
    assert [p.code for p in error.value.problems] == ["archive_path_traversal"]
    assert not (tmp_path / "out").exists()


def test_convert_refuses_a_non_empty_output_folder(tmp_path, datasets_kit):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not empty"):
        convert_dataset(datasets_kit.fixtures / "isic2017", tmp_path / "out")


def test_converted_dataset_reads_back_as_generic_with_the_same_masks(tmp_path, datasets_kit):
    convert_dataset(datasets_kit.fixtures / "busi", tmp_path / "out")
    report = inspect_dataset(tmp_path / "out")
    assert (report.format, report.pairs, report.problems) == ("generic", 3, [])
    assert report.class_counts == {"benign": 2, "malignant": 1}


def test_convert_from_archive(tmp_path, datasets_kit):
    archive = datasets_kit.make_targz(tmp_path / "isic.tar.gz", datasets_kit.fixtures / "isic2017")
    result = convert_dataset(archive, tmp_path / "out")
    assert result.written == 3
    assert sorted(p.name for p in (tmp_path / "out" / "images").iterdir()) == [
        "ISIC_0010444.jpg",
        "ISIC_0013037.jpg",
        "ISIC_0014529.jpg",
    ]


def test_convert_shared_subset_of_busi(tmp_path, datasets_kit):
    root = datasets_kit.shared("busi")
    stems = sorted(p.stem for p in (root / "Dataset_BUSI_with_GT" / "benign").glob("*).png"))[:2]
    rels = [f"Dataset_BUSI_with_GT/benign/{s}{x}.png" for s in stems for x in ("", "_mask")]
    result = convert_dataset(datasets_kit.copy_subset(root, tmp_path / "busi", rels), tmp_path / "out")
    assert result.written == 2 and {r["id"] for r in _manifest(tmp_path / "out")} == set(stems)
    shutil.rmtree(tmp_path / "busi")


def test_convert_writes_jpeg_images_without_their_exif_and_comments(tmp_path):
    import io

    root = tmp_path / "Kvasir-SEG"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    pixels = np.random.default_rng(3).integers(0, 256, size=(24, 32, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x013B] = "Doe^Jane"  # Artist
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", exif=exif, comment="patient Doe^Jane")
    (root / "images" / "case1.jpg").write_bytes(buffer.getvalue())
    mask = np.zeros((24, 32), np.uint8)
    mask[5:15, 8:20] = 255
    Image.fromarray(mask).save(root / "masks" / "case1.jpg")
    convert_dataset(tmp_path, tmp_path / "out")
    written = (tmp_path / "out" / "images" / "case1.jpg").read_bytes()
    assert b"Doe^Jane" not in written
    with Image.open(io.BytesIO(written)) as converted, Image.open(io.BytesIO(buffer.getvalue())) as original:
        assert np.array_equal(np.asarray(converted), np.asarray(original))
