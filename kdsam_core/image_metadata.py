"""Removing metadata from PNG and JPEG files without re-encoding them (plain Python, never Django).

Images arrive with whatever the scanner, camera or export tool wrote next to the pixels: PNG text
chunks (``tEXt``/``zTXt``/``iTXt``), EXIF (JPEG ``APP1``, PNG ``eXIf``), XMP, JPEG comments (``COM``),
maker notes, timestamps, thumbnails. Any of them may hold a patient's name or ID. DICOM files are
de-identified by :mod:`kdsam_core.dicom`; :func:`strip_metadata` is the same rule for PNG and JPEG, used
by the web app's image uploads and by dataset imports (``docs/api.md`` *Uploads*, ``docs/datasets.md``).

The file is rewritten at the byte level: kept chunks and segments are copied byte for byte (their CRCs
included) and the compressed image data is never decoded, so the pixels are bit-identical. The rule
is an allow-list: whatever is not listed below is dropped, known or not.

PNG, chunks kept (everything needed to decode the pixels and show them in the right colours):

- ``IHDR``, ``PLTE``, ``IDAT``, ``IEND``: the critical chunks.
- ``tRNS`` (transparency), ``gAMA``, ``cHRM``, ``sRGB``, ``iCCP``, ``cICP``, ``mDCV``, ``cLLI`` (colour
  space and profile), ``sBIT`` (significant bits): they change how the pixels are rendered. An ICC
  profile names a device class or colour space, not a person.
- ``pHYs``: the physical pixel size (two numbers and a unit); kept as it can be the image's scale and
  identifies nobody.
- ``acTL``, ``fcTL``, ``fdAT``: the frames of an animated PNG (pixel data).

Dropped: ``tEXt``, ``zTXt``, ``iTXt``, ``eXIf``, ``tIME``, ``bKGD``, ``hIST``, ``sPLT`` and every
private or unknown chunk; any bytes after ``IEND``.

JPEG, segments kept: ``SOI``, frame headers, quantisation, Huffman and arithmetic-coding tables, restart
interval, scan headers, the entropy-coded data (restart markers included, copied as is) and ``EOI``;
``APP0`` JFIF (version and density; an embedded thumbnail is removed, the header says 0x0 thumbnail);
``APP2`` ICC profile (colour rendering, see above); ``APP14`` Adobe (its transform flag decides how the
colour channels are converted). Dropped: every other ``APPn`` (EXIF, XMP, JFXX thumbnails, MPF,
Photoshop IRB, maker data, …), ``COM`` and any bytes after ``EOI`` (e.g. an appended second picture).

Orientation: browsers and viewers rotate an image by its EXIF orientation. When the EXIF block says
2-8, a new minimal EXIF block holding only that orientation tag replaces it (at the same place), so the
file displays exactly as before; an orientation of 1 (upright) or none is not kept.

TIFF and BMP are not handled here (the web app converts uploaded ones to PNG); :func:`supported` tells
whether a file is PNG or JPEG.
"""

from __future__ import annotations

import struct
import zlib

__all__ = ["ImageMetadataError", "strip_metadata", "supported"]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"
_IEND_CHUNK = b"\x00\x00\x00\x00IEND\xaeB`\x82"

#: PNG chunks copied to the output (see the module docstring for why each one is kept)
PNG_KEPT_CHUNKS = frozenset(
    {
        b"IHDR",
        b"PLTE",
        b"IDAT",
        b"IEND",
        b"tRNS",
        b"gAMA",
        b"cHRM",
        b"sRGB",
        b"iCCP",
        b"cICP",
        b"mDCV",
        b"cLLI",
        b"sBIT",
        b"pHYs",
        b"acTL",
        b"fcTL",
        b"fdAT",
    }
)

_ORIENTATION_TAG = 0x0112
_EXIF_PREFIX = b"Exif\x00\x00"
_JFIF_PREFIX = b"JFIF\x00"
_ICC_PREFIX = b"ICC_PROFILE\x00"
_ADOBE_PREFIX = b"Adobe"
#: JPEG markers without a length field: TEM, RST0-7 (SOI and EOI are handled on their own)
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})
_SOS, _EOI, _SOI, _COM = 0xDA, 0xD9, 0xD8, 0xFE


class ImageMetadataError(ValueError):
    """The file is not a complete PNG or JPEG; the message says what is wrong and where."""


def supported(data: bytes) -> bool:
    """True for content that starts like a PNG or a JPEG file (the formats :func:`strip_metadata` handles)."""
    return data.startswith(PNG_SIGNATURE) or data.startswith(JPEG_SOI)


def strip_metadata(data: bytes) -> bytes:
    """``data`` (a PNG or JPEG file) without its metadata, pixels bit-identical; see the module docstring.

    A file without metadata comes back unchanged. Raises :class:`ImageMetadataError` for other formats
    and for truncated or malformed files.
    """
    if data.startswith(PNG_SIGNATURE):
        return _strip_png(data)
    if data.startswith(JPEG_SOI):
        return _strip_jpeg(data)
    raise ImageMetadataError("the file is not a PNG or JPEG image (its first bytes are no PNG or JPEG signature)")


# --- EXIF orientation ---------------------------------------------------------------------------------------------


def _orientation(tiff: bytes) -> int | None:
    """The orientation (2-8) in a TIFF-structured EXIF block; None when absent, 1 or unreadable."""
    if tiff[:4] == b"II*\x00":
        order = "<"
    elif tiff[:4] == b"MM\x00*":
        order = ">"
    else:
        return None
    try:
        (ifd,) = struct.unpack_from(order + "I", tiff, 4)
        (count,) = struct.unpack_from(order + "H", tiff, ifd)
        for index in range(count):
            tag, kind, values, value = struct.unpack_from(order + "HHIH", tiff, ifd + 2 + 12 * index)
            if tag == _ORIENTATION_TAG and kind == 3 and values == 1:  # one SHORT
                return value if 2 <= value <= 8 else None
    except struct.error:
        return None
    return None


def _orientation_only_exif(orientation: int) -> bytes:
    """A TIFF-structured EXIF block holding nothing but the orientation tag (big-endian, one IFD entry)."""
    return b"MM\x00*" + struct.pack(">IHHHIHHI", 8, 1, _ORIENTATION_TAG, 3, 1, orientation, 0, 0)


# --- PNG ----------------------------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _strip_png(data: bytes) -> bytes:
    out = [PNG_SIGNATURE]
    offset = len(PNG_SIGNATURE)
    seen_idat = False
    while True:
        if (
            seen_idat
            and _IEND_CHUNK.startswith(data[offset : offset + len(_IEND_CHUNK)])
            and (offset + len(_IEND_CHUNK) > len(data))
        ):
            # IEND missing or cut after the last image data, which decoders accept: write a complete one
            out.append(_IEND_CHUNK)
            return b"".join(out)
        if offset + 8 > len(data):
            raise ImageMetadataError(f"the PNG file is truncated: it ends at byte {len(data)} before its IEND chunk")
        (length,) = struct.unpack_from(">I", data, offset)
        kind = data[offset + 4 : offset + 8]
        if not (kind.isascii() and kind.isalpha()):
            raise ImageMetadataError(
                f"the PNG file is damaged: the chunk at byte {offset} has an invalid type {kind!r}"
            )
        name = kind.decode()
        if offset == len(PNG_SIGNATURE) and kind != b"IHDR":
            raise ImageMetadataError(f"the PNG file is damaged: its first chunk is {name}, not IHDR")
        end = offset + 12 + length
        if end > len(data):
            raise ImageMetadataError(
                f"the PNG file is truncated: its {name} chunk at byte {offset} holds {length} bytes of data "
                f"but the file ends at byte {len(data)}"
            )
        if kind in PNG_KEPT_CHUNKS:
            out.append(data[offset:end])
        elif kind == b"eXIf":
            orientation = _orientation(data[offset + 8 : end - 4])
            if orientation is not None:
                out.append(_png_chunk(b"eXIf", _orientation_only_exif(orientation)))
        if kind == b"IEND":
            return b"".join(out)
        seen_idat = seen_idat or kind == b"IDAT"
        offset = end


# --- JPEG ---------------------------------------------------------------------------------------------------------


def _jpeg_truncated(where: str, size: int) -> ImageMetadataError:
    return ImageMetadataError(f"the JPEG file is truncated: it ends at byte {size} {where}, before its EOI marker")


def _app_segment(segment: bytes, marker: int, payload: bytes) -> bytes:
    """What to write for an APPn ``segment`` (marker and length included): itself, a reduced copy, or b""."""
    if marker == 0xE0 and payload.startswith(_JFIF_PREFIX) and len(payload) >= 14:
        if payload[12:14] == b"\x00\x00" and len(payload) == 14:
            return segment
        return b"\xff\xe0" + struct.pack(">H", 16) + payload[:12] + b"\x00\x00"  # thumbnail removed
    if (marker == 0xE2 and payload.startswith(_ICC_PREFIX)) or (marker == 0xEE and payload.startswith(_ADOBE_PREFIX)):
        return segment
    if marker == 0xE1 and payload.startswith(_EXIF_PREFIX):
        orientation = _orientation(payload[len(_EXIF_PREFIX) :])
        if orientation is not None:
            body = _EXIF_PREFIX + _orientation_only_exif(orientation)
            return b"\xff\xe1" + struct.pack(">H", 2 + len(body)) + body
    return b""


def _strip_jpeg(data: bytes) -> bytes:
    out = [JPEG_SOI]
    size, offset = len(data), 2
    while True:
        # Bytes that are no marker (decoders skip them with a warning) are dropped.
        offset = data.find(b"\xff", offset)
        if offset < 0:
            raise _jpeg_truncated("between segments", size)
        start = offset
        while offset < size and data[offset] == 0xFF:  # fill bytes before a marker belong to it
            offset += 1
        if offset >= size:
            raise _jpeg_truncated("in a marker", size)
        marker = data[offset]
        offset += 1
        if marker == 0x00:
            continue
        if marker == _EOI:
            out.append(data[start:offset])
            return b"".join(out)
        if marker in _STANDALONE:
            out.append(data[start:offset])
            continue
        if marker == _SOI or marker < 0xC0:
            raise ImageMetadataError(
                f"the JPEG file is damaged: unexpected marker 0xFF{marker:02X} at byte {offset - 2}"
            )
        if offset + 2 > size:
            raise _jpeg_truncated(f"in the length of the segment at byte {start}", size)
        (length,) = struct.unpack_from(">H", data, offset)
        if length < 2:
            raise ImageMetadataError(f"the JPEG file is damaged: the segment at byte {start} has length {length}")
        end = offset + length
        if end > size:
            raise _jpeg_truncated(f"in the 0xFF{marker:02X} segment at byte {start}", size)
        segment = data[start:end]
        if 0xE0 <= marker <= 0xEF:
            out.append(_app_segment(segment, marker, data[offset + 2 : end]))
        elif marker != _COM:
            out.append(segment)
        offset = end
        if marker == _SOS:
            offset = _entropy_coded_end(data, offset)
            out.append(data[end:offset])


def _entropy_coded_end(data: bytes, offset: int) -> int:
    """Where the entropy-coded data starting at ``offset`` ends: at the next marker other than a stuffed
    0xFF00 or a restart marker (those belong to the scan and are copied with it)."""
    size = len(data)
    while True:
        offset = data.find(b"\xff", offset)
        if offset < 0 or offset + 1 >= size:
            raise _jpeg_truncated("inside the compressed image data", size)
        following = data[offset + 1]
        if following == 0x00 or 0xD0 <= following <= 0xD7:
            offset += 2
        else:
            return offset  # a marker, maybe after fill bytes: the segment loop reads it
