"""Deterministic train/val/test splits, grouped by subject and stratified by class.

All samples of one split group (``Sample.split_group``: the HC18 subject, otherwise the image id)
land in the same split. Groups are stratified by class label (a group's label is its most common
one): each class is split separately in the requested ratios. Within a class, groups are put in a
seeded random order (independent of input order and of ``PYTHONHASHSEED``), then each group goes to
the split that is furthest below its target number of samples (largest groups first). The same
samples, seed and ratios always give the same split.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from kdsam_core.datasets.sample import Sample

SPLIT_NAMES = ("train", "val", "test")
DEFAULT_RATIOS = (0.8, 0.1, 0.1)


def parse_ratios(ratios: Sequence[float] | Mapping[str, float] | str) -> dict[str, float]:
    """``(0.8, 0.1, 0.1)``, ``{"train": 0.7, "val": 0.3}`` or ``"80,10,10"`` -> normalised dict."""
    if isinstance(ratios, str):
        try:
            ratios = [float(part) for part in ratios.replace(":", ",").split(",") if part.strip()]
        except ValueError:
            raise ValueError(f"ratios must be numbers like 0.8,0.1,0.1, got {ratios!r}") from None
    if isinstance(ratios, Mapping):
        unknown = set(ratios) - set(SPLIT_NAMES)
        if unknown:
            raise ValueError(f"unknown split names {sorted(unknown)}; use {', '.join(SPLIT_NAMES)}")
        values = {name: float(ratios.get(name, 0.0)) for name in SPLIT_NAMES}
    else:
        ratios = [float(r) for r in ratios]
        if not 1 <= len(ratios) <= 3:
            raise ValueError(f"give one to three ratios (train, val, test), got {len(ratios)}")
        values = dict(zip(SPLIT_NAMES, list(ratios) + [0.0] * (3 - len(ratios))))
    if any(v < 0 or v != v for v in values.values()):
        raise ValueError(f"ratios must not be negative, got {values}")
    total = sum(values.values())
    if total <= 0:
        raise ValueError("at least one ratio must be positive")
    return {name: value / total for name, value in values.items()}


def assign_splits(
    samples: Iterable[Sample],
    seed: int = 0,
    ratios: Sequence[float] | Mapping[str, float] | str = DEFAULT_RATIOS,
    *,
    stratify: bool = True,
) -> dict[str, str]:
    """Map every sample id to ``"train"``, ``"val"`` or ``"test"`` (see the module docstring)."""
    fractions = parse_ratios(ratios)
    active = [name for name in SPLIT_NAMES if fractions[name] > 0]
    groups: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        groups[sample.split_group].append(sample)
    strata: dict[str, list[str]] = defaultdict(list)
    for key, members in groups.items():
        if stratify:
            labels = Counter(s.label or "" for s in members)
            label = sorted(labels.items(), key=lambda item: (-item[1], item[0]))[0][0]
        else:
            label = ""
        strata[label].append(key)
    result: dict[str, str] = {}
    for label in sorted(strata):
        keys = sorted(strata[label])
        random.Random(f"kdsam-split|{seed}|{label}").shuffle(keys)
        keys.sort(key=lambda k: -len(groups[k]))  # stable: random order within equal sizes
        total = sum(len(groups[k]) for k in keys)
        targets = {name: fractions[name] * total for name in active}
        counts = dict.fromkeys(active, 0)
        for key in keys:
            name = max(active, key=lambda n: (targets[n] - counts[n], -SPLIT_NAMES.index(n)))
            counts[name] += len(groups[key])
            for sample in groups[key]:
                result[sample.id] = name
    return result


def split_samples(
    samples: Iterable[Sample],
    seed: int = 0,
    ratios: Sequence[float] | Mapping[str, float] | str = DEFAULT_RATIOS,
    *,
    stratify: bool = True,
) -> dict[str, list[Sample]]:
    """Split samples into ``{"train": [...], "val": [...], "test": [...]}`` (each sorted by id)."""
    samples = list(samples)
    ids = [s.id for s in samples]
    if len(set(ids)) != len(ids):
        raise ValueError("sample ids must be unique to be split")
    assignment = assign_splits(samples, seed, ratios, stratify=stratify)
    out: dict[str, list[Sample]] = {name: [] for name in SPLIT_NAMES}
    for sample in sorted(samples, key=lambda s: s.id):
        out[assignment[sample.id]].append(sample)
    return out
