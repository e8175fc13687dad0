"""The JSON-serialisable summary of a dataset inspection."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from kdsam_core.datasets.problems import Problem
from kdsam_core.datasets.validate import SampleCheck


@dataclass
class DatasetReport:
    """What :func:`inspect_dataset` found. Every field is a plain JSON type (``asdict`` works).

    ``pairs``: images with a usable mask (negatives included); ``unlabelled``: usable images
    without mask; ``negatives``: pairs whose mask is empty; ``skipped``: images left out under the
    default actions (unreadable, size mismatch, duplicate …); ``images`` = pairs + unlabelled +
    skipped. ``class_counts``/``subset_counts`` count imported images. ``image_size`` is
    ``{"min_width", "max_width", "min_height", "max_height"}`` over imported images (``None`` if
    none). ``problems`` are :meth:`Problem.to_dict` dicts; ``importable`` is false when any problem is
    blocking or nothing can be imported.
    """

    source: str
    archive: bool
    format: str | None
    format_title: str | None
    root: str | None
    importable: bool
    images: int = 0
    pairs: int = 0
    unlabelled: int = 0
    negatives: int = 0
    skipped: int = 0
    groups: int = 0
    class_counts: dict[str, int] = field(default_factory=dict)
    subset_counts: dict[str, int] = field(default_factory=dict)
    image_size: dict[str, int] | None = None
    image_modes: dict[str, int] = field(default_factory=dict)
    problem_counts: dict[str, int] = field(default_factory=dict)
    blocking_problems: int = 0
    problems: list[dict[str, Any]] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @property
    def problem_codes(self) -> set[str]:
        return {p["code"] for p in self.problems}


def build_report(
    *,
    source: str,
    archive: bool,
    format: str | None,
    format_title: str | None,
    root: str | None,
    checks: list[SampleCheck],
    problems: list[Problem],
    limits: dict[str, Any],
) -> DatasetReport:
    used = [c for c in checks if c.usable]
    pairs = [c for c in used if not c.sample.unlabelled]
    widths = [c.sample.width for c in used if c.sample.width]
    heights = [c.sample.height for c in used if c.sample.height]
    blocking = sum(1 for p in problems if p.blocking)
    return DatasetReport(
        source=source,
        archive=archive,
        format=format,
        format_title=format_title,
        root=root,
        importable=blocking == 0 and bool(used),
        images=len(checks),
        pairs=len(pairs),
        unlabelled=len(used) - len(pairs),
        negatives=sum(1 for c in pairs if c.sample.negative),
        skipped=len(checks) - len(used),
        groups=len({c.sample.split_group for c in used}),
        class_counts=dict(sorted(Counter(c.sample.label for c in used if c.sample.label).items())),
        subset_counts=dict(sorted(Counter(c.sample.subset for c in used if c.sample.subset).items())),
        image_size=(
            {"min_width": min(widths), "max_width": max(widths), "min_height": min(heights), "max_height": max(heights)}
            if widths
            else None
        ),
        image_modes=dict(sorted(Counter(c.mode for c in used if c.mode).items())),
        problem_counts=dict(sorted(Counter(p.code for p in problems).items())),
        blocking_problems=blocking,
        problems=[p.to_dict() for p in problems],
        limits=limits,
    )
