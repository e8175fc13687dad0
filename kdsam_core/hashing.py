"""Content hashes of files: the one place that reads a file to name it by its SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

#: bytes read per step; large enough to be fast, small enough that a 4 GB checkpoint needs no memory
CHUNK_BYTES = 1 << 20


def stream_sha256(handle: BinaryIO) -> str:
    """Hex SHA-256 of everything left to read in an open binary file."""
    digest = hashlib.sha256()
    while chunk := handle.read(CHUNK_BYTES):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes, read in chunks."""
    with open(path, "rb") as handle:
        return stream_sha256(handle)
