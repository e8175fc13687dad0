"""Single-frame DICOM images with PNG masks (the ``dicom`` dataset format).

Layout: the generic one with DICOM images, i.e. ``images/<id>.dcm`` + ``masks/<id>.png`` (sub-folders
allowed, matched by relative path), or a flat folder with ``<id>.dcm`` next to ``<id>_mask.png``.
Extension-less files with the ``DICM`` marker count as DICOM. Any other image file (PNG, JPEG, TIFF …)
that is not read as a mask is reported as ``mixed_formats`` and ignored, never dropped silently: a
dataset holds images of one format.

Decoding and privacy are :mod:`kdsam_core.dicom`'s: images are decoded to 8-bit (rescale, window,
``MONOCHROME1`` inverted; multi-frame files are reported as ``unsupported_dicom``), and only the tags
in :data:`kdsam_core.dicom.ALLOWED_TAGS` are read into ``Sample.meta``, reports or converted output;
:func:`convert_dataset` writes DICOM images as PNG rather than copying the file.
"""

from __future__ import annotations

from pathlib import Path

from kdsam_core.datasets.formats.base import (
    MASK_STEM,
    ReadContext,
    ReadResult,
    keyed,
    mask_key_candidates,
    pair_by_stem,
)
from kdsam_core.datasets.fs import files_in, find_child, walk_files
from kdsam_core.datasets.images import is_image_file
from kdsam_core.datasets.problems import Problem
from kdsam_core.dicom import is_dicom_file, read_meta

KEY = "dicom"
TITLE = "DICOM images with PNG masks"

IMAGE_FOLDERS = ("images", "image", "imgs", "img", "dicom", "dcm")
MASK_FOLDERS = ("masks", "mask", "labels", "label", "annotations", "gt", "groundtruth", "ground_truth", "segmentations")


def _dicom_files(folder: Path, depth: int) -> list[Path]:
    return [p for p in walk_files(folder, max_depth=depth) if not is_image_file(p) and is_dicom_file(p)]


def _layout(root: Path) -> tuple[Path, Path | None, bool] | None:
    images = find_child(root, *IMAGE_FOLDERS)
    if images is not None and _dicom_files(images, 4):
        return images, find_child(root, *MASK_FOLDERS), False
    if any(is_dicom_file(p) for p in files_in(root) if not is_image_file(p)):
        return root, None, True
    return None


def detect(root: Path) -> bool:
    return _layout(root) is not None


def _is_flat_mask(path: Path, image_keys: set[str]) -> bool:
    """An image file of a flat folder is a mask when named after a DICOM file or with a mask suffix."""
    if MASK_STEM.match(path.stem):
        return True
    return any(candidate.casefold() in image_keys for candidate in mask_key_candidates(path.stem))


def _other_format_images(root: Path, used: set[Path], ctx: ReadContext, *, flat: bool) -> list[Problem]:
    """``mixed_formats`` for every PNG/JPEG/TIFF/BMP file under ``root`` that is not read as a mask."""
    fix = "name it after its DICOM file (<id>_mask.png)" if flat else "put it in the masks folder"
    problems = []
    for path in walk_files(root, max_depth=5):
        if not is_image_file(path) or path in used:
            continue
        rel, kind = ctx.rel(path), path.suffix.lstrip(".").upper()
        problems.append(
            Problem(
                "mixed_formats",
                rel,
                f"{rel} is a {kind} image in a DICOM dataset and is ignored: only DICOM images are read here. "
                f"Upload the {kind} images as a separate dataset, or convert them to DICOM; "
                f"if it is a mask, {fix}",
            )
        )
    return problems


def read(root: Path, ctx: ReadContext) -> ReadResult:
    """The DICOM images and their masks; any other image file is reported as ``mixed_formats`` (ignored)."""
    layout = _layout(root)
    if layout is None:  # only read after detect(): nothing to read
        return ReadResult()
    images_dir, masks_dir, flat = layout
    if flat:
        files = files_in(root)
        images = [p for p in files if not is_image_file(p) and is_dicom_file(p)]
        image_keys = keyed(images, root)
        folded = {key.casefold() for key, _ in image_keys}
        masks = [p for p in files if is_image_file(p) and _is_flat_mask(p, folded)]
        mask_keys = keyed(masks, root)
    else:
        images = _dicom_files(images_dir, 4)
        masks = [p for p in walk_files(masks_dir, max_depth=4) if is_image_file(p)] if masks_dir else []
        image_keys = keyed(images, images_dir)
        mask_keys = keyed(masks, masks_dir) if masks_dir else []
    result = pair_by_stem(
        ctx,
        image_keys,
        mask_keys,
        format=KEY,
        sample_fields=lambda key, path: {"meta": read_meta(path)},
    )
    result.problems.extend(_other_format_images(root, set(masks), ctx, flat=flat))
    return result
