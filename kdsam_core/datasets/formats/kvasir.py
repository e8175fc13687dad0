"""Kvasir-SEG (Jha et al., MMM 2020): ``Kvasir-SEG/images/<id>.jpg`` + ``Kvasir-SEG/masks/<id>.jpg``.

Masks are JPEG (lossy), so they are thresholded at 127, never compared with 255. The optional
``kavsir_bboxes.json`` of the release is accepted and ignored (boxes can be derived from masks).
No subjects or classes: the split group is the image id.
"""

from __future__ import annotations

import re
from pathlib import Path

from kdsam_core.datasets.formats.base import ReadContext, ReadResult, keyed, pair_by_stem
from kdsam_core.datasets.fs import find_child, walk_files
from kdsam_core.datasets.images import is_image_file
from kdsam_core.datasets.masks import RULE_THRESHOLD

KEY = "kvasir_seg"
TITLE = "Kvasir-SEG"
BBOX_FILE = "kavsir_bboxes.json"
_KVASIR_ID = re.compile(r"^c[a-z0-9]{24}$")


def _folders(root: Path) -> tuple[Path | None, Path | None]:
    return find_child(root, "images"), find_child(root, "masks")


def detect(root: Path) -> bool:
    images, masks = _folders(root)
    if images is None or masks is None:
        return False
    if "kvasir" in root.name.lower() or (root / BBOX_FILE).is_file():
        return True
    sample = [p for p in walk_files(images, max_depth=0)[:20] if is_image_file(p)]
    return bool(sample) and all(_KVASIR_ID.match(p.stem) and p.suffix.lower() == ".jpg" for p in sample)


def read(root: Path, ctx: ReadContext) -> ReadResult:
    images_dir, masks_dir = _folders(root)
    if images_dir is None or masks_dir is None:  # not a Kvasir-SEG layout (detect() is False): nothing to read
        return ReadResult()
    images = [p for p in walk_files(images_dir, max_depth=0) if is_image_file(p)]
    masks = [p for p in walk_files(masks_dir, max_depth=0) if is_image_file(p)]
    return pair_by_stem(
        ctx,
        keyed(images, images_dir),
        keyed(masks, masks_dir),
        format=KEY,
        mask_rule=RULE_THRESHOLD,
        expect_masks=True,
    )
