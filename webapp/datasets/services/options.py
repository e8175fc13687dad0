"""The options a user gives with a dataset: its format and its split (seed and ratios)."""

from __future__ import annotations

from kdsam_core.datasets import FORMAT_KEYS, parse_ratios
from webapp.datasets import conf
from webapp.datasets.services.errors import DatasetRejected


def split_options(format: str, seed, ratios) -> tuple[int, dict]:
    """Check ``format`` (empty: detect it); the seed and the normalised ratios (defaults from ``conf``)."""
    if format and format not in FORMAT_KEYS:
        raise DatasetRejected(
            "invalid_format",
            f"Unknown format {format!r}; choose one of {', '.join(FORMAT_KEYS)} or leave it empty to detect it.",
            field="format",
        )
    try:
        fractions = parse_ratios(ratios if ratios is not None else conf.DEFAULT_RATIOS)
    except (TypeError, ValueError) as error:
        raise DatasetRejected("invalid_ratios", f"Invalid split ratios: {error}.", field="ratios") from None
    return int(seed if seed is not None else conf.DEFAULT_SEED), {k: round(v, 6) for k, v in fractions.items()}
