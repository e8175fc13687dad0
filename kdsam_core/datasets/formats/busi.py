"""BUSI breast ultrasound (Al-Dhabyani et al., Data in Brief 2020).

Layout: ``Dataset_BUSI_with_GT/<class>/<class> (<n>).png`` with ``<class> (<n>)_mask.png`` and, for
images with several lesions, ``_mask_1.png``, ``_mask_2.png`` … which are OR-ed into one mask.
Classes ``benign``, ``malignant``, ``normal`` (the folder name is the class label; any other class
folder holding ``_mask`` files is accepted too). ``normal`` images have empty masks: they are kept
as negatives (flagged ``negative``), also when their mask file is missing. The released images are
RGB with three equal channels; they are read (and converted) as grayscale. No subjects: the split
group is the image id, splits are stratified by class.
"""

from __future__ import annotations

import re
from pathlib import Path

from kdsam_core.datasets.formats.base import ReadContext, ReadResult, make_sample
from kdsam_core.datasets.fs import dirs_in, files_in
from kdsam_core.datasets.images import is_image_file
from kdsam_core.datasets.problems import Problem

KEY = "busi"
TITLE = "BUSI breast ultrasound"

KNOWN_CLASSES = ("benign", "malignant", "normal")
NEGATIVE_CLASSES = frozenset({"normal"})
MASK_NAME = re.compile(r"^(?P<stem>.+?)_mask(?:_\d+)?$", re.IGNORECASE)
BUSI_IMAGE = re.compile(r"^(?P<cls>[a-z]+) \((?P<n>\d+)\)$", re.IGNORECASE)


def _is_class_folder(folder: Path) -> bool:
    files = [p for p in files_in(folder) if is_image_file(p)]
    if not files:
        return False
    if folder.name.lower() in KNOWN_CLASSES:
        return any(BUSI_IMAGE.match(p.stem) or MASK_NAME.match(p.stem) for p in files[:50])
    return any(BUSI_IMAGE.match(p.stem) for p in files[:50]) and any(MASK_NAME.match(p.stem) for p in files)


def _class_folders(root: Path) -> list[Path]:
    children = [d for d in dirs_in(root) if d.name.lower() in KNOWN_CLASSES and _is_class_folder(d)]
    if children:
        return children
    if root.name.lower() in KNOWN_CLASSES and _is_class_folder(root):
        return [root]
    return []


def detect(root: Path) -> bool:
    return bool(_class_folders(root))


def read(root: Path, ctx: ReadContext) -> ReadResult:
    result = ReadResult()
    for folder in _class_folders(root):
        label = folder.name.lower()
        negative_class = label in NEGATIVE_CLASSES
        images: dict[str, Path] = {}
        masks: dict[str, list[Path]] = {}
        for path in files_in(folder):
            if not is_image_file(path):
                continue
            match = MASK_NAME.match(path.stem)
            if match:
                masks.setdefault(match.group("stem"), []).append(path)
            else:
                images[path.stem] = path
        for stem in sorted(images):
            path = images[stem]
            found = tuple(sorted(masks.get(stem, ())))
            if found:
                sample = make_sample(
                    ctx,
                    id=stem,
                    image_path=path,
                    format=KEY,
                    label=label,
                    mask_paths=found,
                    negative=negative_class,
                    mask_label=ctx.mask_label,
                )
            elif negative_class:  # no lesion: an empty mask is implied
                sample = make_sample(ctx, id=stem, image_path=path, format=KEY, label=label, negative=True)
            else:
                sample = make_sample(ctx, id=stem, image_path=path, format=KEY, label=label, unlabelled=True)
                result.problems.append(
                    Problem(
                        "image_without_mask",
                        ctx.rel(path),
                        f"image {ctx.rel(path)} has no mask {stem}_mask.png next to it; it can be imported "
                        "unlabelled or skipped",
                        sample_id=stem,
                    )
                )
            result.samples.append(sample)
        for stem in sorted(set(masks) - set(images)):
            for path in sorted(masks[stem]):
                result.problems.append(
                    Problem(
                        "mask_without_image",
                        ctx.rel(path),
                        f"mask {ctx.rel(path)} has no image {stem}.png next to it; add it or remove the mask",
                    )
                )
    return result
