"""Shared fixtures of the dataset-layer tests (``test_datasets_*.py``); all named ``datasets_*``."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
import zipfile
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[2]
DATASET_FIXTURES = REPO_ROOT / "tests" / "fixtures" / "datasets"


def _shared_data_root() -> Path:
    override = os.environ.get("KDSAM_SHARED_DATA")
    return Path(override) if override else REPO_ROOT.parent / "shared" / "data"


def _write_image(path: Path, array: np.ndarray, **save_options) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array)).save(path, **save_options)
    return path


def _shared(name: str) -> Path:
    root = _shared_data_root() / name
    if not root.is_dir():
        pytest.skip(
            f"shared dataset {name!r} not found at {root} (set KDSAM_SHARED_DATA to the folder holding "
            "kvasir_seg/, isic2017/, hc18/, busi/); the fixture-based tests cover the format without it"
        )
    return root


def _copy_subset(src_root: Path, dst_root: Path, relative_paths: list[str]) -> Path:
    """Copy a few files of a shared dataset, keeping their layout."""
    for rel in relative_paths:
        target = dst_root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src_root / rel, target)
    return dst_root


def _make_zip(
    path: Path, entries: dict[str, bytes] | None = None, folder: Path | None = None, arc_prefix: str = ""
) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        if folder is not None:
            for file in sorted(Path(folder).rglob("*")):
                if file.is_file():
                    archive.write(file, arc_prefix + file.relative_to(folder).as_posix())
        for name, data in (entries or {}).items():
            archive.writestr(name, data)
    return path


def _make_targz(path: Path, folder: Path, arc_prefix: str = "") -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for file in sorted(Path(folder).rglob("*")):
            if file.is_file():
                archive.add(file, arc_prefix + file.relative_to(folder).as_posix())
    return path


def _png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.asarray(array)).save(buffer, format="PNG")
    return buffer.getvalue()


def _disk(shape=(48, 64), center=(30, 24), radius=10) -> np.ndarray:
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
    return (((xs - center[0]) ** 2 + (ys - center[1]) ** 2) <= radius**2).astype(np.uint8) * 255


def _noise(shape=(48, 64, 3), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)


def _generic_dataset(root: Path, count: int = 3, shape=(48, 64)) -> Path:
    """``root/images/img<i>.png`` + ``root/masks/img<i>.png`` (0/255 disks), distinct noise images."""
    for i in range(count):
        _write_image(root / "images" / f"img{i}.png", _noise((*shape, 3), seed=i))
        _write_image(root / "masks" / f"img{i}.png", _disk(shape, center=(20 + i, 20), radius=8))
    return root


@pytest.fixture
def datasets_kit() -> SimpleNamespace:
    """Helpers for building datasets in tests (images, archives, copies of shared data)."""
    return SimpleNamespace(
        fixtures=DATASET_FIXTURES,
        shared=_shared,
        shared_root=_shared_data_root,
        copy_subset=_copy_subset,
        write_image=_write_image,
        make_zip=_make_zip,
        make_targz=_make_targz,
        png_bytes=_png_bytes,
        disk=_disk,
        noise=_noise,
        generic_dataset=_generic_dataset,
    )
