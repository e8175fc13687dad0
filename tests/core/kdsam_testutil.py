"""Shared helpers of the kdsam_core training/evaluation/export tests (tiny models, fixture data)."""

from __future__ import annotations

from pathlib import Path

import torch

from kdsam_core.modeling.build import build_kdsam
from kdsam_core.modeling.tiny import build_tiny_teacher_sam, tiny_config
from kdsam_core.training.data import pairs_from_folders

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "core"
#: Input size of the test models: small enough for 2 CPU cores (8×8 embeddings).
SIZE = 128


def kvasir():
    return pairs_from_folders(FIXTURES / "kvasir" / "images", FIXTURES / "kvasir" / "masks")


def isic():
    return pairs_from_folders(FIXTURES / "isic" / "images", FIXTURES / "isic" / "masks", "_segmentation")


def all_samples():
    return kvasir() + isic()


def tiny_teacher(seed: int = 0):
    return build_tiny_teacher_sam(SIZE, seed=seed)


def tiny_kdsam(seed: int = 0):
    return build_kdsam(tiny_config(SIZE), seed=seed)


def set_threads() -> None:
    torch.set_num_threads(2)
