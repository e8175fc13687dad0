"""Deterministic train/val/test splits: seeded, grouped by subject, stratified by class."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from kdsam_core.datasets import Sample, assign_splits, open_dataset, parse_ratios, split_samples


def _samples(n, *, group_size=1, labels=None):
    out = []
    for i in range(n):
        label = labels[i % len(labels)] if labels else None
        out.append(
            Sample(id=f"s{i:03d}", image_path=Path(f"/x/s{i}.png"), group=f"g{i // group_size:03d}", label=label)
        )
    return out


def _ids(splits):
    return {name: [s.id for s in samples] for name, samples in splits.items()}


def test_same_seed_gives_the_same_split():
    samples = _samples(50)
    assert _ids(split_samples(samples, seed=3)) == _ids(split_samples(samples, seed=3))


def test_different_seeds_give_different_splits():
    samples = _samples(50)
    assert _ids(split_samples(samples, seed=1)) != _ids(split_samples(samples, seed=2))


def test_split_does_not_depend_on_input_order():
    samples = _samples(40, group_size=2)
    shuffled = samples[:]
    random.Random(5).shuffle(shuffled)
    assert _ids(split_samples(samples, seed=7)) == _ids(split_samples(shuffled, seed=7))


def test_split_sizes_follow_the_ratios():
    splits = split_samples(_samples(100), seed=0, ratios=(0.7, 0.2, 0.1))
    assert {name: len(v) for name, v in splits.items()} == {"train": 70, "val": 20, "test": 10}


def test_every_sample_lands_in_exactly_one_split():
    samples = _samples(33, group_size=3)
    splits = split_samples(samples, seed=0)
    ids = [s.id for part in splits.values() for s in part]
    assert sorted(ids) == sorted(s.id for s in samples)


def test_samples_of_one_subject_stay_in_one_split():
    samples = _samples(60, group_size=3)
    assignment = assign_splits(samples, seed=11)
    by_group = {}
    for sample in samples:
        by_group.setdefault(sample.group, set()).add(assignment[sample.id])
    assert all(len(splits) == 1 for splits in by_group.values())


def test_classes_are_stratified():
    samples = _samples(100, labels=["benign", "benign", "benign", "malignant"])  # 75 / 25
    splits = split_samples(samples, seed=0, ratios=(0.6, 0.2, 0.2))
    counts = {name: sum(s.label == "malignant" for s in part) for name, part in splits.items()}
    assert counts == {"train": 15, "val": 5, "test": 5}


def test_zero_ratio_split_stays_empty():
    splits = split_samples(_samples(10), seed=0, ratios=(0.8, 0.2, 0.0))
    assert splits["test"] == [] and len(splits["train"]) == 8


@pytest.mark.parametrize("ratios", ["80,10,10", (8, 1, 1), {"train": 0.8, "val": 0.1, "test": 0.1}])
def test_ratios_are_normalised_from_any_notation(ratios):
    assert parse_ratios(ratios) == pytest.approx({"train": 0.8, "val": 0.1, "test": 0.1})


@pytest.mark.parametrize("ratios", ["a,b", (-1, 1, 1), (0, 0, 0), (1, 1, 1, 1), {"holdout": 1}])
def test_invalid_ratios_are_rejected(ratios):
    with pytest.raises(ValueError):
        parse_ratios(ratios)


def test_hc18_frames_of_a_subject_share_a_split(datasets_kit):
    with open_dataset(datasets_kit.fixtures / "hc18") as dataset:
        samples = list(dataset.samples())
    for seed in range(10):
        assignment = assign_splits(samples, seed=seed, ratios=(0.5, 0.5, 0))
        assert assignment["779_HC"] == assignment["779_2HC"]
