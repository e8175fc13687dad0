"""The generic layouts: ``images/`` + ``masks/`` folders, a CSV manifest, or one flat folder.

1. ``images/<name>.<png|jpg|jpeg|tif|tiff|bmp>`` + ``masks/<name>.<…>`` matched by stem (a mask
   may also be named ``<name>_mask``, ``<name>_seg``, ``<name>_mask_1`` …; several masks of an
   image are OR-ed). Sub-folders are matched by relative path; a first-level sub-folder of
   ``images/`` is taken as the class label. Without a ``masks/`` folder all images are unlabelled.
2. A CSV manifest (``manifest.csv`` preferred, else any ``*.csv`` at the root) with columns
   ``image`` and ``mask`` (paths relative to the CSV; an empty mask cell means unlabelled) and
   optional ``id``, ``group`` (or ``split_group``/``subject``) and ``class`` (or ``label``). The
   output of :func:`kdsam_core.datasets.convert_dataset` is such a dataset.
3. A flat folder of images with ``<name>_mask.<ext>`` files next to them.

Masks: 0/1 or 0/255 binary; JPEG masks thresholded at 127; label maps with ``mask_label``.
"""

from __future__ import annotations

import csv
from pathlib import Path

from kdsam_core.datasets.formats.base import (
    MASK_STEM,
    ExtraSampleFields,
    ReadContext,
    ReadResult,
    keyed,
    make_sample,
    pair_by_stem,
)
from kdsam_core.datasets.fs import files_in, find_child, walk_files
from kdsam_core.datasets.images import is_image_file
from kdsam_core.datasets.problems import Problem

KEY = "generic"
TITLE = "Generic images/masks folders or CSV manifest"

IMAGE_FOLDERS = ("images", "image", "imgs", "img")
MASK_FOLDERS = ("masks", "mask", "labels", "label", "annotations", "gt", "groundtruth", "ground_truth", "segmentations")
GROUP_COLUMNS = ("group", "split_group", "split group", "subject", "patient")
CLASS_COLUMNS = ("class", "label")


def _manifest(root: Path) -> Path | None:
    csvs = [p for p in files_in(root) if p.suffix.lower() == ".csv"]
    csvs.sort(key=lambda p: (p.name.lower() != "manifest.csv", p.name))
    for path in csvs:
        header = _header(path)
        if header and "image" in header and "mask" in header:
            return path
    return None


def _header(path: Path) -> list[str] | None:
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            row = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    return [c.strip().lower() for c in row] if row else None


def _image_files(folder: Path) -> list[Path]:
    return [p for p in walk_files(folder, max_depth=4) if is_image_file(p)]


def _flat_split(root: Path) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    masks: list[Path] = []
    for path in files_in(root):
        if is_image_file(path):
            (masks if MASK_STEM.match(path.stem) else images).append(path)
    return images, masks


def _named_manifest(root: Path) -> Path | None:
    path = next((p for p in files_in(root) if p.name.lower() == "manifest.csv"), None)
    return path


def detect_structured(root: Path) -> bool:
    """A manifest or an ``images/`` folder: as strong a signal as any specific layout."""
    if _manifest(root) is not None or _named_manifest(root) is not None:
        return True
    images = find_child(root, *IMAGE_FOLDERS)
    return images is not None and bool(_image_files(images))


def detect(root: Path) -> bool:
    """Any generic layout, including a flat folder of images (the weakest signal)."""
    if detect_structured(root):
        return True
    flat_images, _ = _flat_split(root)
    return bool(flat_images)


def read(root: Path, ctx: ReadContext) -> ReadResult:
    manifest = _manifest(root)
    if manifest is not None:
        return _read_manifest(manifest, ctx)
    named = _named_manifest(root)
    if named is not None:
        return ReadResult(
            problems=[
                Problem(
                    "manifest_invalid",
                    ctx.rel(named),
                    f"{ctx.rel(named)} has no 'image' and 'mask' columns; "
                    "the first line must name them (e.g. image,mask)",
                )
            ]
        )
    images_dir = find_child(root, *IMAGE_FOLDERS)
    if images_dir is not None and _image_files(images_dir):
        masks_dir = find_child(root, *MASK_FOLDERS)
        images = _image_files(images_dir)
        masks = _image_files(masks_dir) if masks_dir is not None else []

        def fields(key: str, path: Path) -> ExtraSampleFields:
            folder = key.rpartition("/")[0]
            return {"label": folder.split("/")[0]} if folder else {}

        return pair_by_stem(
            ctx,
            keyed(images, images_dir),
            keyed(masks, masks_dir) if masks_dir else [],
            format=KEY,
            expect_masks=masks_dir is not None,
            sample_fields=fields,
        )
    images, masks = _flat_split(root)
    return pair_by_stem(ctx, keyed(images, root), keyed(masks, root), format=KEY)


def _inside(path: Path, root: Path) -> bool:
    resolved, base = path.resolve(), root.resolve()
    return resolved == base or base in resolved.parents


def _read_manifest(manifest: Path, ctx: ReadContext) -> ReadResult:
    result = ReadResult()
    folder = manifest.parent
    rel_manifest = ctx.rel(manifest)
    try:
        with open(manifest, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        result.problems.append(
            Problem("manifest_invalid", rel_manifest, f"{rel_manifest} cannot be read as CSV: {error}")
        )
        return result
    for number, raw in enumerate(rows, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        image_cell, mask_cell = row.get("image", ""), row.get("mask", "")
        where = f"{rel_manifest} line {number}"
        if not image_cell:
            result.problems.append(Problem("manifest_missing_file", rel_manifest, f"{where} has an empty image cell"))
            continue
        image_path = folder / image_cell
        mask_paths = tuple(folder / part.strip() for part in mask_cell.split(";") if part.strip())
        bad = [p for p in (image_path, *mask_paths) if not _inside(p, ctx.base)]
        if any(Path(c).is_absolute() or ".." in Path(c).parts for c in [image_cell, *mask_cell.split(";")]) or bad:
            result.problems.append(
                Problem(
                    "manifest_missing_file",
                    rel_manifest,
                    f"{where} names a path outside the dataset folder ({image_cell!r}, {mask_cell!r}); "
                    "use paths relative to the manifest",
                )
            )
            continue
        missing = [p for p in (image_path, *mask_paths) if not p.is_file()]
        if missing:
            result.problems.append(
                Problem(
                    "manifest_missing_file",
                    ctx.rel(missing[0]),
                    f"{where} names {ctx.rel(missing[0])}, which does not exist; fix the path or remove the row",
                )
            )
            continue
        sample_id = row.get("id") or image_path.stem
        group = next((row[c] for c in GROUP_COLUMNS if row.get(c)), sample_id)
        label = next((row[c] for c in CLASS_COLUMNS if row.get(c)), None)
        if mask_paths:
            sample = make_sample(
                ctx,
                id=sample_id,
                image_path=image_path,
                format=KEY,
                group=group,
                label=label,
                mask_paths=mask_paths,
                mask_label=ctx.mask_label,
            )
        else:
            sample = make_sample(
                ctx, id=sample_id, image_path=image_path, format=KEY, group=group, label=label, unlabelled=True
            )
        result.samples.append(sample)
    return result
