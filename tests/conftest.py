"""Shared fixtures. Settings run in the "test" environment (see webapp.kdsam_studio.config)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURE_IMAGES = REPO_ROOT / "tests" / "fixtures" / "images"

#: Real images of three shapes: landscape, portrait and square.
LANDSCAPE_JPEG = FIXTURE_IMAGES / "kvasir_cju0qkwl35piu0993l0dewei2.jpg"  # 622×529
PORTRAIT_PNG = FIXTURE_IMAGES / "busi_benign_111.png"  # 315×477, greyscale
SQUARE_JPEG = FIXTURE_IMAGES / "isic_ISIC_0000000.jpg"  # 256×256
WIDE_PNG = FIXTURE_IMAGES / "hc18_000_HC.png"  # 800×540, greyscale


@pytest.fixture
def landscape_rgb() -> np.ndarray:
    from kdsam_core.transforms import load_rgb

    return load_rgb(LANDSCAPE_JPEG)
