"""DICOM images with PNG masks: rescale + window for display, no patient data kept (files built with pydicom)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from kdsam_core.datasets import convert_dataset, inspect_dataset, open_dataset
from kdsam_core.dicom import ALLOWED_TAGS as DICOM_ALLOWED_TAGS
from kdsam_core.dicom import read_array as read_dicom_array
from kdsam_core.dicom import window_to_uint8
from tests.dicom_support import PHI, dicom_bytes

PATIENT_VALUES = tuple(PHI.values())


def make_dicom(path, pixels, *, slope=1.0, intercept=0.0, center=None, width=None, photometric="MONOCHROME2", frames=1):
    window = {} if center is None else {"WindowCenter": center, "WindowWidth": width}
    content = dicom_bytes(
        pixels,
        frames=frames,
        photometric=photometric,
        PixelSpacing=[0.5, 0.5],
        RescaleSlope=slope,
        RescaleIntercept=intercept,
        **window,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def _ramp(shape=(32, 40), high=2000):
    return np.linspace(0, high, shape[0] * shape[1]).reshape(shape).astype(np.uint16)


def _dicom_dataset(root, datasets_kit, count=2, **options):
    for i in range(count):
        pixels = np.random.default_rng(i).integers(0, 2000, size=(32, 40))
        make_dicom(root / "images" / f"scan{i}.dcm", pixels, **options)
        datasets_kit.write_image(root / "masks" / f"scan{i}.png", datasets_kit.disk((32, 40), (20, 16), 6))
    return root


def test_dicom_images_with_png_masks_are_detected(tmp_path, datasets_kit):
    report = inspect_dataset(_dicom_dataset(tmp_path, datasets_kit))
    assert (report.format, report.pairs, report.problems) == ("dicom", 2, [])
    assert report.image_size == {"min_width": 40, "max_width": 40, "min_height": 32, "max_height": 32}


def test_rescale_and_window_are_applied(tmp_path, datasets_kit):
    # stored 0..2000 -> HU -1000..1000; window 0 +- 200 HU
    make_dicom(tmp_path / "images" / "ct.dcm", _ramp(), slope=1.0, intercept=-1000.0, center=0, width=400)
    datasets_kit.write_image(tmp_path / "masks" / "ct.png", datasets_kit.disk((32, 40), (20, 16), 6))
    with open_dataset(tmp_path) as dataset:
        image = next(dataset.samples()).load_image()
    hu = _ramp().astype(float) - 1000
    assert image.dtype == np.uint8 and image.shape == (32, 40)
    assert (image[hu <= -200] == 0).all() and (image[hu >= 200] == 255).all()
    middle = (hu > -180) & (hu < 180)
    expected = np.clip(((hu - (0 - 0.5)) / (400 - 1) + 0.5) * 255, 0, 255)
    assert np.abs(image[middle].astype(float) - expected[middle]).max() <= 1


def test_rescale_slope_changes_the_windowed_image(tmp_path):
    plain = make_dicom(tmp_path / "a.dcm", _ramp(), slope=1.0, intercept=0.0, center=500, width=1000)
    scaled = make_dicom(tmp_path / "b.dcm", _ramp(), slope=2.0, intercept=0.0, center=500, width=1000)
    a, b = read_dicom_array(plain, 10**6), read_dicom_array(scaled, 10**6)
    assert (b >= a).all() and (b > a).any()


def test_without_window_the_full_range_is_used():
    values = np.array([[-1000.0, -999.0, -745.0]])
    assert window_to_uint8(values, None, None).tolist() == [[0, 1, 255]]


def test_monochrome1_is_inverted(tmp_path):
    normal = read_dicom_array(make_dicom(tmp_path / "m2.dcm", _ramp()), 10**6)
    inverted = read_dicom_array(make_dicom(tmp_path / "m1.dcm", _ramp(), photometric="MONOCHROME1"), 10**6)
    assert np.array_equal(inverted, 255 - normal)


def test_patient_tags_are_never_kept(tmp_path, datasets_kit):
    root = _dicom_dataset(tmp_path / "ds", datasets_kit, center=1000, width=2000)
    with open_dataset(root) as dataset:
        samples = list(dataset.samples())
        report_json = dataset.report().to_json()
    for sample in samples:
        assert set(sample.meta) <= set(DICOM_ALLOWED_TAGS)
        assert sample.meta["Modality"] == "CT" and sample.meta["PixelSpacing"] == [0.5, 0.5]
    dumped = report_json + json.dumps([s.to_dict() for s in samples])
    assert not any(value in dumped for value in PATIENT_VALUES)


def test_convert_writes_dicom_as_png_without_patient_data(tmp_path, datasets_kit):
    root = _dicom_dataset(tmp_path / "ds", datasets_kit, center=1000, width=2000)
    convert_dataset(root, tmp_path / "out")
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "images").iterdir()) == ["scan0.png", "scan1.png"]
    with Image.open(out / "images" / "scan0.png") as image:
        assert image.mode == "L"
    meta = json.loads((out / "meta" / "scan0.json").read_text())
    assert set(meta) <= set(DICOM_ALLOWED_TAGS) and meta["WindowCenter"] == 1000
    everything = b"".join(p.read_bytes() for p in out.rglob("*") if p.is_file())
    assert not any(value.encode() in everything for value in PATIENT_VALUES)


def test_multiframe_dicom_is_unsupported_dicom(tmp_path, datasets_kit):
    _dicom_dataset(tmp_path, datasets_kit, count=1)
    make_dicom(tmp_path / "images" / "cine.dcm", _ramp(), frames=3)
    datasets_kit.write_image(tmp_path / "masks" / "cine.png", datasets_kit.disk((32, 40), (20, 16), 6))
    report = inspect_dataset(tmp_path)
    assert [p["code"] for p in report.problems] == ["unsupported_dicom"] and report.pairs == 1


def test_extensionless_dicom_in_flat_folder_is_detected(tmp_path, datasets_kit):
    make_dicom(tmp_path / "IM0001", _ramp())
    datasets_kit.write_image(tmp_path / "IM0001_mask.png", datasets_kit.disk((32, 40), (20, 16), 6))
    report = inspect_dataset(tmp_path)
    assert (report.format, report.pairs, report.problems) == ("dicom", 1, [])


def test_dicom_over_the_pixel_limit_is_decompression_bomb(tmp_path, datasets_kit):
    from kdsam_core.datasets import Limits

    _dicom_dataset(tmp_path, datasets_kit, count=1)
    report = inspect_dataset(tmp_path, Limits(max_image_pixels=100))
    assert "decompression_bomb" in [p["code"] for p in report.problems] and not report.importable


@pytest.mark.parametrize("content", [b"", b"DICM" * 10])
def test_broken_dicom_is_unreadable_image(tmp_path, datasets_kit, content):
    _dicom_dataset(tmp_path, datasets_kit, count=1)
    (tmp_path / "images" / "bad.dcm").write_bytes(content)
    datasets_kit.write_image(tmp_path / "masks" / "bad.png", datasets_kit.disk((32, 40), (20, 16), 6))
    report = inspect_dataset(tmp_path)
    assert [p["code"] for p in report.problems] == ["unreadable_image"] and report.pairs == 1
