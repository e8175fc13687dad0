"""ISIC lesion segmentation challenges 2016, 2017 and 2018 (task/part 1), as distributed.

Folders (any subset of them, e.g. only Training)::

    ISBI2016_ISIC_Part1_Training_Data/ISIC_<id>.jpg
    ISBI2016_ISIC_Part1_Training_GroundTruth/ISIC_<id>_Segmentation.png
    ISIC-2017_Training_Data/ISIC_<id>.jpg           (+ ISIC_<id>_superpixels.png, metadata CSV: ignored)
    ISIC-2017_Training_Part1_GroundTruth/ISIC_<id>_segmentation.png
    ISIC2018_Task1-2_Training_Input/ISIC_<id>.jpg   (+ ATTRIBUTION.txt, LICENSE.txt: ignored)
    ISIC2018_Task1_Training_GroundTruth/ISIC_<id>_segmentation.png

Validation/Test folders work the same way. Images and masks are matched by ISIC id across all
folders; other ground truths (2017 Part 2/3, 2018 Task 2 attribute masks) are ignored. A subset
(Training, Validation, Test) that has no mask at all is imported as unlabelled without complaint.
No subjects or classes: the split group is the image id.
"""

from __future__ import annotations

import re
from pathlib import Path

from kdsam_core.datasets.formats.base import ReadContext, ReadResult, make_sample
from kdsam_core.datasets.fs import dirs_in, files_in
from kdsam_core.datasets.problems import Problem

KEY = "isic"
TITLE = "ISIC 2016/2017/2018 lesion segmentation"

IMAGE_NAME = re.compile(r"^(ISIC_\d+)\.(jpe?g|png)$", re.IGNORECASE)
MASK_NAME = re.compile(r"^(ISIC_\d+)_segmentation\.png$", re.IGNORECASE)
FOLDER_NAME = re.compile(r"^(isic|isbi)[-_ ]?\d{4}.*(data|input|groundtruth)", re.IGNORECASE)
_SUBSETS = (("train", "training"), ("valid", "validation"), ("test", "test"))


def _subset(folder: Path, root: Path) -> str | None:
    if not FOLDER_NAME.match(folder.name):
        return None
    name = folder.name.lower()
    for token, subset in _SUBSETS:
        if token in name:
            return subset
    return None


def _candidate_folders(root: Path) -> list[Path]:
    return [root] + [d for d in dirs_in(root) if FOLDER_NAME.match(d.name)]


def _has_isic_files(folder: Path, limit: int = 50) -> bool:
    return any(IMAGE_NAME.match(path.name) or MASK_NAME.match(path.name) for path in files_in(folder)[:limit])


def detect(root: Path) -> bool:
    return any(_has_isic_files(folder) for folder in _candidate_folders(root))


def read(root: Path, ctx: ReadContext) -> ReadResult:
    result = ReadResult()
    images: dict[str, list[tuple[Path, str | None]]] = {}
    masks: dict[str, Path] = {}
    mask_subsets: set[str | None] = set()
    for folder in _candidate_folders(root):
        subset = _subset(folder, root)
        for path in files_in(folder):
            mask_name = MASK_NAME.match(path.name)
            if mask_name:
                masks.setdefault(mask_name.group(1).upper(), path)
                mask_subsets.add(subset)
                continue
            image = IMAGE_NAME.match(path.name)
            if image:
                images.setdefault(image.group(1).upper(), []).append((path, subset))
    for isic_id in sorted(images):
        for path, subset in images[isic_id]:
            mask = masks.get(isic_id)
            if mask is not None:
                sample = make_sample(
                    ctx,
                    id=path.stem,
                    image_path=path,
                    format=KEY,
                    mask_paths=(mask,),
                    subset=subset,
                    mask_label=ctx.mask_label,
                )
            else:
                sample = make_sample(ctx, id=path.stem, image_path=path, format=KEY, unlabelled=True, subset=subset)
                if subset in mask_subsets:
                    result.problems.append(
                        Problem(
                            "image_without_mask",
                            ctx.rel(path),
                            f"image {ctx.rel(path)} has no mask {path.stem}_segmentation.png in the ground-truth "
                            "folder; it can be imported unlabelled or skipped",
                            sample_id=path.stem,
                        )
                    )
            result.samples.append(sample)
    for isic_id in sorted(set(masks) - set(images)):
        path = masks[isic_id]
        result.problems.append(
            Problem(
                "mask_without_image",
                ctx.rel(path),
                f"mask {ctx.rel(path)} has no image {isic_id}.jpg in the data/input folders; add it or remove the mask",
            )
        )
    return result
