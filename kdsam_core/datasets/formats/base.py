"""Shared pieces of the format readers: context, result, stem pairing of images and masks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, Unpack

from kdsam_core.datasets.fs import relative
from kdsam_core.datasets.limits import DEFAULT_LIMITS, Limits
from kdsam_core.datasets.masks import RULE_AUTO
from kdsam_core.datasets.problems import Problem
from kdsam_core.datasets.sample import Sample

#: stems of mask files named after their image: ``<stem>_mask``, ``<stem>-seg``, ``<stem>_gt_2`` …
MASK_STEM = re.compile(
    r"^(?P<key>.+?)[_\-. ](?:mask|masks|seg|segmentation|label|labels|gt|annotation|groundtruth)(?:[_\- ]?\d+)?$",
    re.IGNORECASE,
)


@dataclass
class ReadContext:
    """What a reader needs besides the dataset root."""

    base: Path  # the source folder (or extraction folder): reported paths are relative to it
    limits: Limits = DEFAULT_LIMITS
    mask_label: int | None = None

    def rel(self, path: Path) -> str:
        return relative(path, self.base)


@dataclass
class ReadResult:
    samples: list[Sample] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def extend(self, other: ReadResult) -> None:
        self.samples.extend(other.samples)
        self.problems.extend(other.problems)


class ExtraSampleFields(TypedDict, total=False):
    """The :class:`Sample` fields the ``sample_fields`` callback of :func:`pair_by_stem` may add."""

    group: str
    label: str | None
    subset: str | None
    meta: dict[str, Any]


class SampleFields(ExtraSampleFields, total=False):
    """The :class:`Sample` fields a reader sets besides id, paths and format (see :func:`make_sample`)."""

    mask_paths: tuple[Path, ...]
    unlabelled: bool
    negative: bool
    mask_rule: str
    mask_label: int | None


def make_sample(ctx: ReadContext, *, id: str, image_path: Path, format: str, **fields: Unpack[SampleFields]) -> Sample:
    fields.setdefault("group", id)
    return Sample(
        id=id,
        image_path=image_path,
        format=format,
        image=ctx.rel(image_path),
        masks=tuple(ctx.rel(p) for p in fields.get("mask_paths", ())),
        max_image_pixels=ctx.limits.max_image_pixels,
        **fields,
    )


def mask_key_candidates(stem: str) -> list[str]:
    """Image stems a mask stem may belong to: itself, then without a mask suffix."""
    candidates = [stem]
    match = MASK_STEM.match(stem)
    if match:
        candidates.append(match.group("key"))
    return candidates


def pair_by_stem(
    ctx: ReadContext,
    images: list[tuple[str, Path]],
    masks: list[tuple[str, Path]],
    *,
    format: str,
    mask_rule: str = RULE_AUTO,
    expect_masks: bool | None = None,
    sample_fields: Callable[[str, Path], ExtraSampleFields] | None = None,
) -> ReadResult:
    """Match masks to images by key (relative stem path).

    ``images``/``masks`` are ``(key, path)`` with key = parent folders + stem (``"sub/name"``).
    A mask matches the image with the same key, or the key without a mask suffix (``_mask``,
    ``_segmentation``, ``_mask_1`` …); several masks of one image are OR-ed. When ``expect_masks``
    (default: there is at least one mask) an image without mask is reported as
    ``image_without_mask`` and imported unlabelled; otherwise it is silently unlabelled.
    ``sample_fields(key, path)`` may add fields (group, label, subset) to each sample.
    """
    result = ReadResult()
    by_key = dict(images)
    folded = {key.casefold(): key for key in by_key}
    assigned: dict[str, list[Path]] = {}
    for key, mask_path in masks:
        folder, _, stem = key.rpartition("/")
        prefix = f"{folder}/" if folder else ""
        target: str | None = None
        for candidate in mask_key_candidates(stem):
            full = prefix + candidate
            if full in by_key:
                target = full
                break
            if full.casefold() in folded:
                target = folded[full.casefold()]
                break
        if target is None:
            result.problems.append(
                Problem(
                    "mask_without_image",
                    ctx.rel(mask_path),
                    f"mask {ctx.rel(mask_path)} has no image with the same name; add the image or remove the mask",
                )
            )
            continue
        assigned.setdefault(target, []).append(mask_path)
    if expect_masks is None:
        expect_masks = bool(masks)
    for key, image_path in images:
        stem = image_path.stem
        extra: ExtraSampleFields = sample_fields(key, image_path) if sample_fields else {}
        found = tuple(sorted(assigned.get(key, ())))
        if found:
            sample = make_sample(
                ctx,
                id=stem,
                image_path=image_path,
                format=format,
                mask_paths=found,
                mask_rule=mask_rule,
                mask_label=ctx.mask_label,
                **extra,
            )
        else:
            sample = make_sample(ctx, id=stem, image_path=image_path, format=format, unlabelled=True, **extra)
            if expect_masks:
                result.problems.append(
                    Problem(
                        "image_without_mask",
                        ctx.rel(image_path),
                        f"image {ctx.rel(image_path)} has no mask (expected e.g. a mask file named {stem}.png "
                        "in the masks folder); it can be imported unlabelled or skipped",
                        sample_id=stem,
                    )
                )
        result.samples.append(sample)
    return result


def keyed(files: list[Path], folder: Path) -> list[tuple[str, Path]]:
    """``(key, path)`` with key = path relative to ``folder`` without suffix."""
    out: list[tuple[str, Path]] = []
    for path in files:
        rel = path.relative_to(folder)
        key = rel.with_suffix("").as_posix() if rel.suffix else rel.as_posix()
        out.append((key, path))
    return out
