"""Content hashes: the one place that names a file, or a decoded array, by its SHA-256."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

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


def array_sha256(array: np.ndarray) -> str:
    """Hex SHA-256 of an array's content: ``repr((shape, dtype name))``, then its elements in C order.

    ``array`` is any shape and dtype (e.g. an ``(H, W, 3)`` uint8 image). Equal pixels give equal
    digests however they were stored (byte-different files of one image, non-contiguous views);
    the same bytes under another shape or dtype do not. The embedding caches are keyed by this
    value, so its definition must not change.
    """
    digest = hashlib.sha256(repr((array.shape, str(array.dtype))).encode())
    digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()
