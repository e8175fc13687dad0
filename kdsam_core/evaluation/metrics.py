"""Per-image metrics and their aggregation (mean, median, 95% bootstrap interval)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def dice_score(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice coefficient ``2|P∩G| / (|P| + |G|)`` of two binary masks; 1.0 when both are empty."""
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    denominator = int(p.sum()) + int(g.sum())
    if denominator == 0:
        return 1.0
    return 2.0 * int((p & g).sum()) / denominator


def iou_score(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union ``|P∩G| / |P∪G|``; 1.0 when both are empty."""
    p, g = np.asarray(pred).astype(bool), np.asarray(gt).astype(bool)
    union = int((p | g).sum())
    if union == 0:
        return 1.0
    return int((p & g).sum()) / union


def bootstrap_ci(
    values: Sequence[float], statistic=np.mean, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over per-image ``values`` (fixed seed)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return (math.nan, math.nan)
    if data.size == 1:
        return (float(data[0]), float(data[0]))
    rng = np.random.default_rng(seed)
    index = rng.integers(0, data.size, size=(resamples, data.size))
    stats = statistic(data[index], axis=1)
    alpha = (1.0 - confidence) / 2.0
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha))


def summarize(values: Sequence[float], confidence: float = 0.95, resamples: int = 10_000, seed: int = 0) -> dict:
    """``{"n", "mean", "median", "std", "ci_low", "ci_high", "confidence"}`` (CI of the mean)."""
    data = np.asarray(values, dtype=np.float64)
    if data.size == 0:
        return {
            "n": 0,
            "mean": None,
            "median": None,
            "std": None,
            "ci_low": None,
            "ci_high": None,
            "confidence": confidence,
        }
    low, high = bootstrap_ci(values, confidence=confidence, resamples=resamples, seed=seed)
    return {
        "n": int(data.size),
        "mean": float(data.mean()),
        "median": float(np.median(data)),
        "std": float(data.std(ddof=1)) if data.size > 1 else 0.0,
        "ci_low": low,
        "ci_high": high,
        "confidence": confidence,
    }
