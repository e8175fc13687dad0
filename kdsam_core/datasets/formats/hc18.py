"""HC18 fetal head circumference (van den Heuvel et al., PLoS ONE 2018).

Layout: ``training_set/<n>_HC.png`` + ``training_set/<n>_HC_Annotation.png`` (also ``<n>_2HC``,
``<n>_3HC``: further frames of subject ``<n>``), ``test_set/<n>_HC.png`` without annotations, and
CSVs of pixel sizes/circumferences (ignored). A folder holding the files directly is accepted too.

The annotation is a 1-px ellipse *outline*; the mask is the filled ellipse
(:func:`kdsam_core.datasets.masks.fill_outline`, which fits an ellipse when the outline is clipped
by the image border). The split group is the subject ``<n>`` (``test-<n>`` for the test set, whose
numbering restarts); test-set ids that collide with training ids become ``test_<id>``.
"""

from __future__ import annotations

import re
from pathlib import Path

from kdsam_core.datasets.formats.base import ReadContext, ReadResult, make_sample
from kdsam_core.datasets.fs import files_in, find_child
from kdsam_core.datasets.masks import RULE_OUTLINE
from kdsam_core.datasets.problems import Problem

KEY = "hc18"
TITLE = "HC18 fetal head circumference"

IMAGE_NAME = re.compile(r"^(?P<subject>\d+)_(?P<frame>\d*)HC\.png$", re.IGNORECASE)
ANNOTATION_NAME = re.compile(r"^(?P<stem>(?P<subject>\d+)_\d*HC)_Annotation\.png$", re.IGNORECASE)


def _has_hc_files(folder: Path) -> bool:
    return any(IMAGE_NAME.match(p.name) or ANNOTATION_NAME.match(p.name) for p in files_in(folder)[:50])


def _parts(root: Path) -> list[tuple[Path, str | None]]:
    parts: list[tuple[Path, str | None]] = []
    training = find_child(root, "training_set", "training")
    test = find_child(root, "test_set", "test")
    if training is not None and _has_hc_files(training):
        parts.append((training, "training"))
    if test is not None and _has_hc_files(test):
        parts.append((test, "test"))
    if not parts and _has_hc_files(root):
        parts.append((root, "test" if root.name.lower().startswith("test") else None))
    return parts


def detect(root: Path) -> bool:
    return bool(_parts(root))


def read(root: Path, ctx: ReadContext) -> ReadResult:
    result = ReadResult()
    seen_ids: set[str] = set()
    for folder, subset in _parts(root):  # training first, so its ids stay unprefixed
        files = files_in(folder)
        annotations: dict[str, Path] = {}
        for path in files:
            match = ANNOTATION_NAME.match(path.name)
            if match:
                annotations[match.group("stem")] = path
        images: dict[str, tuple[Path, str]] = {}
        for path in files:
            match = IMAGE_NAME.match(path.name)
            if match:
                images[path.stem] = (path, match.group("subject"))
        expect = bool(annotations)  # the test set has no annotations at all: unlabelled by design
        for stem in sorted(images):
            path, subject = images[stem]
            sample_id = stem
            if stem in seen_ids:
                sample_id = f"{subset or 'extra'}_{stem}"
            seen_ids.add(sample_id)
            group = f"test-{subject}" if subset == "test" else subject
            annotation = annotations.get(stem)
            if annotation is not None:
                sample = make_sample(
                    ctx,
                    id=sample_id,
                    image_path=path,
                    format=KEY,
                    group=group,
                    subset=subset,
                    mask_paths=(annotation,),
                    mask_rule=RULE_OUTLINE,
                )
            else:
                sample = make_sample(
                    ctx, id=sample_id, image_path=path, format=KEY, group=group, subset=subset, unlabelled=True
                )
                if expect:
                    result.problems.append(
                        Problem(
                            "image_without_mask",
                            ctx.rel(path),
                            f"image {ctx.rel(path)} has no annotation {stem}_Annotation.png next to it; it can be "
                            "imported unlabelled or skipped",
                            sample_id=sample_id,
                        )
                    )
            result.samples.append(sample)
        for stem in sorted(set(annotations) - set(images)):
            path = annotations[stem]
            result.problems.append(
                Problem(
                    "mask_without_image",
                    ctx.rel(path),
                    f"annotation {ctx.rel(path)} has no image {stem}.png next to it; add it or remove the annotation",
                )
            )
    return result
