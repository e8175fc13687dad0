"""Fixtures and builders shared by tests/web/test_datasets_*.py (this module holds no tests)."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image
from rest_framework.test import APIClient

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_DATASETS = REPO_ROOT / "tests" / "fixtures" / "datasets"


def png(width: int = 16, height: int = 12, *, seed: int = 0, mode: str = "L") -> bytes:
    rng = np.random.default_rng(seed)
    shape = (height, width) if mode == "L" else (height, width, 3)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def mask_png(width: int = 16, height: int = 12, *, empty: bool = False, seed: int = 0) -> bytes:
    array = np.zeros((height, width), dtype=np.uint8)
    if not empty:
        array[2 : height - 2, 3 : width - 3] = 255
        array[np.random.default_rng(seed).random((height, width)) < 0.2] = 255  # distinct content per seed
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg(width: int = 32, height: int = 24, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8)).save(buffer, format="JPEG")
    return buffer.getvalue()


def generic_files(n: int = 4, *, seed: int | None = None) -> dict[str, bytes]:
    """A generic dataset: ``images/case<i>.png`` + ``masks/case<i>.png``, new content unless ``seed`` is given
    (test transactions roll back, but stored files stay: fresh content keeps tests independent)."""
    seed = int(np.random.default_rng().integers(1, 2**31)) if seed is None else seed
    files = {}
    for i in range(n):
        files[f"data/images/case{i}.png"] = png(seed=seed * 100 + i)
        files[f"data/masks/case{i}.png"] = mask_png(seed=seed * 100 + i)
    return files


def zip_bytes(files: dict[str, bytes], *, symlinks: dict[str, str] | None = None, deflate: bool = False) -> bytes:
    """A zip of ``files`` (stored, or deflated with ``deflate``) and of ``symlinks`` (name → target)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o120777 << 16
            archive.writestr(info, target)
    return buffer.getvalue()


def tar_gz_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def media_files() -> set[str]:
    """Every file under the datasets folder of the data dir (uploads, objects, thumbnails, temp)."""
    from webapp.datasets import conf

    root = conf.media_root() / "datasets"
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()} if root.exists() else set()


def upload(
    client: APIClient, team_id: int, content: bytes, filename: str = "ds.zip", *, chunk: int | None = None, **extra
):
    """Create the upload session and send the bytes (in chunks of ``chunk``); returns its id and the last response."""
    response = client.post(
        "/api/datasets/uploads/",
        {"team": team_id, "name": extra.pop("name", "ds"), "filename": filename, "size": len(content), **extra},
        format="json",
    )
    assert response.status_code == 201, response.content
    session = response.json()
    chunk = chunk or len(content)
    for offset in range(0, len(content), chunk):
        response = client.put(
            f"{session['upload_url']}?offset={offset}",
            content[offset : offset + chunk],
            content_type="application/octet-stream",
        )
        assert response.status_code == 200, response.content
    return session["id"], response
