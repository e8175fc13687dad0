"""Conversion of any supported dataset into the generic layout.

Output (a fresh folder)::

    OUT/images/<id>.<original extension>   the image file, copied byte for byte, except:
                                           - DICOM images are written as 8-bit PNG (windowed, no tags)
                                           - lossless RGB images with three equal channels (BUSI) are
                                             re-encoded as 8-bit grayscale in the same format
    OUT/masks/<id>.png                     single-channel PNG, 0 background / 255 foreground
    OUT/manifest.csv                       columns id,image,mask,group,class (mask empty = unlabelled)
    OUT/meta/<id>.json                     only for DICOM: the allow-listed tags

``<id>`` is the image file's stem. The output is itself a valid ``generic`` dataset (CSV manifest).
Samples are handled by the default actions of their problems: skipped when unusable, unlabelled
images kept (mask cell empty) unless ``include_unlabelled=False``, negatives kept with an empty mask.
"""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from kdsam_core import image_metadata
from kdsam_core.datasets.dataset import open_dataset
from kdsam_core.datasets.limits import Limits
from kdsam_core.datasets.problems import DatasetError, describe_blocking
from kdsam_core.datasets.report import DatasetReport
from kdsam_core.datasets.sample import Sample
from kdsam_core.dicom import is_dicom_file

MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("id", "image", "mask", "group", "class")
_LOSSLESS_FORMATS = {".png": "PNG", ".bmp": "BMP", ".tif": "TIFF", ".tiff": "TIFF"}
_UNSAFE = re.compile(r'[\x00-\x1f/\\:*?"<>|]')


@dataclass
class ConvertResult:
    out: str
    manifest: str
    written: int
    pairs: int
    unlabelled: int
    negatives: int
    skipped: int
    report: DatasetReport

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["report"] = self.report.to_dict()
        return data


def safe_filename(name: str) -> str:
    """A sample id usable as a file name on every platform."""
    cleaned = _UNSAFE.sub("_", name).strip().lstrip(".")
    return cleaned or "image"


def _write_image(sample: Sample, images_dir: Path, name: str) -> str:
    source = sample.image_path
    if is_dicom_file(source):
        target = images_dir / f"{name}.png"
        Image.fromarray(sample.load_image()).save(target)
        return target.name
    suffix = source.suffix
    target = images_dir / f"{name}{suffix}"
    pil_format = _LOSSLESS_FORMATS.get(suffix.lower())
    if pil_format is not None:
        with Image.open(source) as header:
            colour = header.mode in ("RGB", "RGBA", "P", "PA", "CMYK", "YCbCr")
        if colour:
            array = sample.load_image()
            if array.ndim == 2:  # equal channels: store as true grayscale
                Image.fromarray(array).save(target, format=pil_format)
                return target.name
    content = source.read_bytes()
    if image_metadata.supported(content):  # PNG/JPEG: no text, EXIF or comments in what we hand out
        target.write_bytes(image_metadata.strip_metadata(content))
    else:
        shutil.copyfile(source, target)
    return target.name


def _prepare_out(out: Path) -> None:
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"output folder {out} already exists and is not empty; choose a new folder")
    out.parent.mkdir(parents=True, exist_ok=True)


def convert_dataset(
    source: str | Path,
    out: str | Path,
    limits: Limits | None = None,
    *,
    format: str | None = None,
    mask_label: int | None = None,
    strict: bool = False,
    include_unlabelled: bool = True,
    workers: int | None = None,
) -> ConvertResult:
    """Convert ``source`` (folder or archive) into the generic layout in the new folder ``out``.

    Raises :class:`DatasetError` when the dataset is not importable (blocking problems), when
    ``strict`` and there is any problem, or when ``out`` exists and is not empty. The output is
    written to a temporary sibling folder and renamed at the end, so ``out`` is never half-written.
    """
    out = Path(out)
    _prepare_out(out)
    with open_dataset(source, limits, format=format, mask_label=mask_label, workers=workers) as dataset:
        report = dataset.report()
        problems = dataset.problems
        if not report.importable:
            raise DatasetError(
                f"{source} cannot be imported: {describe_blocking(problems) or 'no usable images'}", problems
            )
        if strict and problems:
            codes = ", ".join(sorted({p.code for p in problems}))
            raise DatasetError(f"{source} has {len(problems)} problems ({codes}) and strict mode is on", problems)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            images_dir, masks_dir = staging / "images", staging / "masks"
            images_dir.mkdir()
            masks_dir.mkdir()
            rows, used_names = [], set()
            counts = {"pairs": 0, "unlabelled": 0, "negatives": 0}
            for sample in dataset.samples(include_unlabelled=include_unlabelled):
                name = safe_filename(sample.id)
                k = 2
                while name.casefold() in used_names:
                    name, k = f"{safe_filename(sample.id)}_{k}", k + 1
                used_names.add(name.casefold())
                image_name = _write_image(sample, images_dir, name)
                mask_cell = ""
                mask = sample.load_mask()
                if mask is not None:
                    Image.fromarray((mask > 0).astype(np.uint8) * 255, mode="L").save(masks_dir / f"{name}.png")
                    mask_cell = f"masks/{name}.png"
                    counts["pairs"] += 1
                    counts["negatives"] += int(sample.negative)
                else:
                    counts["unlabelled"] += 1
                if sample.meta:
                    meta_dir = staging / "meta"
                    meta_dir.mkdir(exist_ok=True)
                    (meta_dir / f"{name}.json").write_text(json.dumps(sample.meta, indent=2, sort_keys=True))
                rows.append(
                    {
                        "id": sample.id,
                        "image": f"images/{image_name}",
                        "mask": mask_cell,
                        "group": sample.split_group,
                        "class": sample.label or "",
                    }
                )
            with open(staging / MANIFEST_NAME, "w", newline="", encoding="utf-8") as handle:
                writer = csv.DictWriter(handle, fieldnames=MANIFEST_COLUMNS)
                writer.writeheader()
                writer.writerows(rows)
            if out.exists():
                out.rmdir()
            os.replace(staging, out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    return ConvertResult(
        out=str(out),
        manifest=str(out / MANIFEST_NAME),
        written=len(rows),
        pairs=counts["pairs"],
        unlabelled=counts["unlabelled"],
        negatives=counts["negatives"],
        skipped=report.skipped,
        report=report,
    )
