"""The compact binary embedding format served to browsers (``application/x-kdsam-embedding``).

Layout (see ``docs/api.md``)::

    b"KDEM" | uint32 LE header length N | N bytes UTF-8 JSON header (space padded) | payload

The payload starts at an 8-byte aligned offset and is the embedding in little-endian C order.
"""

from __future__ import annotations

import json
import struct
from typing import Any

import numpy as np

MAGIC = b"KDEM"
FORMAT_VERSION = 1
CONTENT_TYPE = "application/x-kdsam-embedding"
SUPPORTED_DTYPES = {"float16": "<f2", "float32": "<f4"}
SUPPORTED_ENCODINGS = ("raw",)


class EmbeddingFormatError(ValueError):
    """The bytes are not a valid KDEM embedding."""


def encode_embedding(embedding: np.ndarray, dtype: str = "float16", **header: Any) -> bytes:
    """Encode a ``(1, C, H, W)`` float array; ``header`` adds fields (image_size, input_size, ...)."""
    if dtype not in SUPPORTED_DTYPES:
        raise EmbeddingFormatError(f"unsupported dtype {dtype!r}; use one of {sorted(SUPPORTED_DTYPES)}")
    array = np.ascontiguousarray(embedding, dtype=SUPPORTED_DTYPES[dtype])
    if dtype == "float16" and not np.isfinite(array).all():
        raise EmbeddingFormatError("embedding overflows float16 (values beyond ±65504)")
    fields = {"version": FORMAT_VERSION, "dtype": dtype, "shape": list(array.shape), "encoding": "raw"}
    fields.update(header)
    text = json.dumps(fields, separators=(",", ":")).encode("utf-8")
    padded_length = (len(text) + 8 + 7) // 8 * 8 - 8
    text = text.ljust(padded_length, b" ")
    return MAGIC + struct.pack("<I", len(text)) + text + array.tobytes()


def decode_embedding(data: bytes) -> tuple[np.ndarray, dict[str, Any]]:
    """Inverse of :func:`encode_embedding`: ``(float32 array, header)``."""
    if len(data) < 8 or data[:4] != MAGIC:
        raise EmbeddingFormatError("not a KD-SAM embedding: the first bytes are not 'KDEM'")
    (length,) = struct.unpack("<I", data[4:8])
    if 8 + length > len(data):
        raise EmbeddingFormatError("truncated KD-SAM embedding: header runs past the end")
    try:
        header = json.loads(data[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise EmbeddingFormatError(f"KD-SAM embedding header is not JSON: {error}") from error
    if header.get("version") != FORMAT_VERSION:
        raise EmbeddingFormatError(f"unsupported KD-SAM embedding version {header.get('version')!r}")
    if header.get("dtype") not in SUPPORTED_DTYPES:
        raise EmbeddingFormatError(f"unsupported KD-SAM embedding dtype {header.get('dtype')!r}")
    if header.get("encoding") not in SUPPORTED_ENCODINGS:
        raise EmbeddingFormatError(f"unsupported KD-SAM embedding encoding {header.get('encoding')!r}")
    dtype = np.dtype(SUPPORTED_DTYPES[header["dtype"]])
    shape = tuple(int(s) for s in header["shape"])
    expected = int(np.prod(shape)) * dtype.itemsize
    payload = data[8 + length :]
    if len(payload) != expected:
        raise EmbeddingFormatError(
            f"KD-SAM embedding payload has {len(payload)} bytes, expected {expected} for {shape}"
        )
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(np.float32), header
