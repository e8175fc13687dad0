"""The compact binary embedding format served to browsers (``application/x-kdsam-embedding``).

Layout (see ``docs/api.md``)::

    b"KDEM" | uint32 LE header length N | N bytes UTF-8 JSON header (space padded) | payload

The payload starts at an 8-byte aligned offset and is the embedding in little-endian C order.

Encodings (header ``encoding``):

- ``raw``: the values as ``dtype`` (``float16`` or ``float32``).
- ``quant8``: ``dtype`` is ``uint8``; per channel (axis 1) an affine 8-bit quantisation. Payload:
  ``C`` float32 channel minima, ``C`` float32 steps, then the ``uint8`` codes in C order;
  value = minimum[c] + step[c] * code.
- ``quant8-zlib``: the ``quant8`` payload compressed with zlib (RFC 1950, what browsers'
  ``DecompressionStream("deflate")`` reads). About 0.85 MB for a 256×64×64 embedding.
"""

from __future__ import annotations

import json
import struct
import zlib
from typing import Any

import numpy as np

MAGIC = b"KDEM"
FORMAT_VERSION = 1
CONTENT_TYPE = "application/x-kdsam-embedding"
SUPPORTED_DTYPES = {"float16": "<f2", "float32": "<f4"}
SUPPORTED_ENCODINGS = ("raw", "quant8", "quant8-zlib")
QUANT_ENCODINGS = ("quant8", "quant8-zlib")


class EmbeddingFormatError(ValueError):
    """The bytes are not a valid KDEM embedding."""


def _header_bytes(fields: dict[str, Any]) -> bytes:
    text = json.dumps(fields, separators=(",", ":")).encode("utf-8")
    padded_length = (len(text) + 8 + 7) // 8 * 8 - 8
    text = text.ljust(padded_length, b" ")
    return MAGIC + struct.pack("<I", len(text)) + text


def quantize8(embedding: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel (axis 1) affine uint8 codes: ``(minima, steps, codes)``."""
    array = np.asarray(embedding, dtype=np.float32)
    if array.ndim < 2:
        raise EmbeddingFormatError(f"quant8 needs an array with a channel axis, got shape {array.shape}")
    channels = array.shape[1]
    per_channel = np.moveaxis(array, 1, 0).reshape(channels, -1)
    low = per_channel.min(axis=1)
    step = (per_channel.max(axis=1) - low) / 255.0
    step[step <= 0] = 1.0
    codes = np.clip(np.rint((per_channel - low[:, None]) / step[:, None]), 0, 255).astype(np.uint8)
    codes = np.moveaxis(codes.reshape((channels, array.shape[0], *array.shape[2:])), 0, 1)
    return low.astype("<f4"), step.astype("<f4"), np.ascontiguousarray(codes)


def encode_embedding(embedding: np.ndarray, dtype: str = "float16", *, encoding: str = "raw", **header: Any) -> bytes:
    """Encode a ``(1, C, H, W)`` float array; ``header`` adds fields (image_size, input_size, ...).

    ``encoding="quant8"``/``"quant8-zlib"`` ignore ``dtype`` (the codes are ``uint8``).
    """
    if encoding in QUANT_ENCODINGS:
        array = np.asarray(embedding, dtype=np.float32)
        if not np.isfinite(array).all():
            raise EmbeddingFormatError("embedding has non-finite values; cannot quantise")
        low, step, codes = quantize8(array)
        payload = low.tobytes() + step.tobytes() + codes.tobytes()
        if encoding == "quant8-zlib":
            payload = zlib.compress(payload, 6)
        fields = {"version": FORMAT_VERSION, "dtype": "uint8", "shape": list(array.shape), "encoding": encoding}
        fields.update(header)
        return _header_bytes(fields) + payload
    if encoding != "raw":
        raise EmbeddingFormatError(f"unsupported encoding {encoding!r}; use one of {list(SUPPORTED_ENCODINGS)}")
    if dtype not in SUPPORTED_DTYPES:
        raise EmbeddingFormatError(f"unsupported dtype {dtype!r}; use one of {sorted(SUPPORTED_DTYPES)}")
    array = np.ascontiguousarray(embedding, dtype=SUPPORTED_DTYPES[dtype])
    if dtype == "float16" and not np.isfinite(array).all():
        raise EmbeddingFormatError("embedding overflows float16 (values beyond ±65504)")
    fields = {"version": FORMAT_VERSION, "dtype": dtype, "shape": list(array.shape), "encoding": "raw"}
    fields.update(header)
    return _header_bytes(fields) + array.tobytes()


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
    if header.get("encoding") not in SUPPORTED_ENCODINGS:
        raise EmbeddingFormatError(f"unsupported KD-SAM embedding encoding {header.get('encoding')!r}")
    if header["encoding"] in QUANT_ENCODINGS:
        return _decode_quant8(data[8 + length :], header), header
    if header.get("dtype") not in SUPPORTED_DTYPES:
        raise EmbeddingFormatError(f"unsupported KD-SAM embedding dtype {header.get('dtype')!r}")
    dtype = np.dtype(SUPPORTED_DTYPES[header["dtype"]])
    shape = tuple(int(s) for s in header["shape"])
    expected = int(np.prod(shape)) * dtype.itemsize
    payload = data[8 + length :]
    if len(payload) != expected:
        raise EmbeddingFormatError(
            f"KD-SAM embedding payload has {len(payload)} bytes, expected {expected} for {shape}"
        )
    return np.frombuffer(payload, dtype=dtype).reshape(shape).astype(np.float32), header


def _decode_quant8(payload: bytes, header: dict[str, Any]) -> np.ndarray:
    if header.get("dtype") != "uint8":
        raise EmbeddingFormatError(f"quant8 embeddings have dtype uint8, not {header.get('dtype')!r}")
    if header["encoding"] == "quant8-zlib":
        try:
            payload = zlib.decompress(payload)
        except zlib.error as error:
            raise EmbeddingFormatError(f"corrupt quant8-zlib KD-SAM embedding: {error}") from error
    shape = tuple(int(s) for s in header["shape"])
    if len(shape) < 2:
        raise EmbeddingFormatError(f"quant8 embedding shape {shape} has no channel axis")
    channels = shape[1]
    expected = 8 * channels + int(np.prod(shape))
    if len(payload) != expected:
        raise EmbeddingFormatError(
            f"quant8 KD-SAM embedding payload has {len(payload)} bytes, expected {expected} for {shape}"
        )
    low = np.frombuffer(payload, "<f4", channels, 0)
    step = np.frombuffer(payload, "<f4", channels, 4 * channels)
    codes = np.frombuffer(payload, np.uint8, offset=8 * channels).reshape(shape)
    view = (1, channels) + (1,) * (len(shape) - 2)
    values: np.ndarray = (low.reshape(view) + step.reshape(view) * codes.astype(np.float32)).astype(np.float32)
    return values


def transcode_embedding(data: bytes, encoding: str) -> bytes:
    """A KDEM file re-encoded as ``encoding``, keeping its header fields (image and input size...)."""
    array, header = decode_embedding(data)
    extra = {k: v for k, v in header.items() if k not in ("version", "dtype", "shape", "encoding")}
    return encode_embedding(array, encoding=encoding, **extra)
