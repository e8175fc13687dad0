"""Stripping metadata from PNG and JPEG files without touching their pixels (kdsam_core.image_metadata)."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, ImageCms, PngImagePlugin

from kdsam_core import image_metadata
from kdsam_core.image_metadata import ImageMetadataError, strip_metadata
from tests.conftest import LANDSCAPE_JPEG, PORTRAIT_PNG

PATIENT = b"Doe^Jane"
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    b'<rdf:Description xmlns:dc="http://purl.org/dc/elements/1.1/" dc:creator="Doe^Jane"/></rdf:RDF></x:xmpmeta>'
)


def pixels(content: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(content)) as img:
        return np.asarray(img)


def random_rgb(width: int = 33, height: int = 21, seed: int = 0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 255, (height, width, 3), dtype=np.uint8))


def patient_exif(orientation: int | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010E] = "Patient Doe^Jane, MRN 12345"  # ImageDescription
    exif[0x013B] = "Doe^Jane"  # Artist
    if orientation is not None:
        exif[0x0112] = orientation
    return exif


# --- PNG ---------------------------------------------------------------------------------------------------------


def png_chunks(content: bytes) -> list[tuple[bytes, bytes]]:
    """``(type, whole chunk bytes)`` of every chunk, in file order."""
    chunks, offset = [], 8
    while offset < len(content):
        (length,) = struct.unpack(">I", content[offset : offset + 4])
        chunks.append((content[offset + 4 : offset + 8], content[offset : offset + 12 + length]))
        offset += 12 + length
    return chunks


def png_with_metadata(img: Image.Image | None = None, **save) -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Patient", "Doe^Jane")  # tEXt
    info.add_text("Comment", "Doe^Jane " * 40, zip=True)  # zTXt
    info.add_itxt("Author", "Doe^Jane", lang="en", tkey="Author")  # iTXt
    info.add(b"prVt", PATIENT)  # a private ancillary chunk
    info.add(b"tIME", struct.pack(">HBBBBB", 2024, 5, 17, 9, 30, 0))
    buffer = io.BytesIO()
    (img or random_rgb()).save(buffer, format="PNG", pnginfo=info, exif=patient_exif(), **save)
    return buffer.getvalue()


def test_png_text_exif_and_private_chunks_are_removed():
    content = png_with_metadata()
    assert {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"prVt", b"tIME"} <= {kind for kind, _ in png_chunks(content)}
    stripped = strip_metadata(content)
    assert [kind for kind, _ in png_chunks(stripped)] == [b"IHDR", b"IDAT", b"IEND"]
    assert PATIENT not in stripped
    with Image.open(io.BytesIO(stripped)) as img:
        assert not img.getexif() and "Patient" not in img.info


def test_png_pixels_and_critical_chunks_stay_byte_identical():
    img = random_rgb().quantize(16)  # palette image: PLTE + tRNS are kept
    img.info["transparency"] = 3
    content = png_with_metadata(img, transparency=3)
    stripped = strip_metadata(content)
    kept = [chunk for kind, chunk in png_chunks(content) if kind in (b"IHDR", b"PLTE", b"tRNS", b"IDAT", b"IEND")]
    assert [chunk for _, chunk in png_chunks(stripped)] == kept
    assert np.array_equal(pixels(stripped), pixels(content))


def test_png_colour_chunks_and_physical_size_are_kept():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    content = png_with_metadata(icc_profile=profile, dpi=(300, 300))
    stripped = strip_metadata(content)
    kinds = [kind for kind, _ in png_chunks(stripped)]
    assert b"iCCP" in kinds and b"pHYs" in kinds
    with Image.open(io.BytesIO(stripped)) as img:
        assert img.info["icc_profile"] == profile
    assert np.array_equal(pixels(stripped), pixels(content))


def test_png_exif_orientation_survives_alone():
    buffer = io.BytesIO()
    random_rgb().save(buffer, format="PNG", exif=patient_exif(orientation=6))
    stripped = strip_metadata(buffer.getvalue())
    assert PATIENT not in stripped
    with Image.open(io.BytesIO(stripped)) as img:
        assert dict(img.getexif()) == {0x0112: 6}


def test_png_data_after_iend_is_dropped():
    content = PORTRAIT_PNG.read_bytes()
    assert strip_metadata(content + b"Patient: " + PATIENT) == content


# --- JPEG --------------------------------------------------------------------------------------------------------


def jpeg_header(content: bytes) -> list[bytes]:
    """The segments between SOI and the first SOS (marker included), in file order."""
    segments, offset = [], 2
    while content[offset + 1] != 0xDA:
        (length,) = struct.unpack(">H", content[offset + 2 : offset + 4])
        segments.append(content[offset : offset + 2 + length])
        offset += 2 + length
    return segments


def scan_data(content: bytes) -> bytes:
    """Everything from the first SOS marker to EOI: scan headers, entropy-coded data, restart markers."""
    offset = 2 + sum(len(segment) for segment in jpeg_header(content))
    end = content.rindex(b"\xff\xd9") + 2
    return content[offset:end]


def jpeg_with_metadata(img: Image.Image | None = None, **save) -> bytes:
    buffer = io.BytesIO()
    (img or random_rgb()).save(
        buffer, format="JPEG", exif=patient_exif(), comment=b"Patient: Doe^Jane", xmp=XMP, quality=90, **save
    )
    return buffer.getvalue()


def app_markers(content: bytes) -> list[int]:
    return [segment[1] for segment in jpeg_header(content) if 0xE0 <= segment[1] <= 0xEF or segment[1] == 0xFE]


def test_jpeg_exif_xmp_and_comment_are_removed():
    content = jpeg_with_metadata()
    assert app_markers(content).count(0xE1) == 2 and 0xFE in app_markers(content)  # Exif + XMP, COM
    stripped = strip_metadata(content)
    assert app_markers(stripped) == [0xE0]  # JFIF only
    assert PATIENT not in stripped and b"xmpmeta" not in stripped
    with Image.open(io.BytesIO(stripped)) as img:
        assert not img.getexif() and "comment" not in img.info


@pytest.mark.parametrize(
    "options",
    [{}, {"progressive": True}, {"restart_marker_blocks": 2}, {"subsampling": 0}],
    ids=["baseline", "progressive", "restart-markers", "4:4:4"],
)
def test_jpeg_pixels_tables_and_scan_data_stay_byte_identical(options):
    content = jpeg_with_metadata(random_rgb(77, 45, seed=3), **options)
    stripped = strip_metadata(content)
    assert scan_data(stripped) == scan_data(content)
    tables = [segment for segment in jpeg_header(content) if not 0xE1 <= segment[1] <= 0xEF and segment[1] != 0xFE]
    assert jpeg_header(stripped) == tables
    assert np.array_equal(pixels(stripped), pixels(content))


def test_jpeg_icc_profile_and_adobe_colour_transform_are_kept():
    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    content = jpeg_with_metadata(random_rgb().convert("CMYK"), icc_profile=profile)
    assert 0xEE in app_markers(content)  # libjpeg writes the Adobe segment for CMYK
    stripped = strip_metadata(content)
    assert app_markers(stripped) == [0xE2, 0xEE] or app_markers(stripped) == [0xEE, 0xE2]
    with Image.open(io.BytesIO(stripped)) as img:
        assert img.info["icc_profile"] == profile and img.mode == "CMYK"
    assert np.array_equal(pixels(stripped), pixels(content))


def test_jpeg_exif_orientation_survives_alone():
    buffer = io.BytesIO()
    random_rgb().save(buffer, format="JPEG", exif=patient_exif(orientation=8))
    stripped = strip_metadata(buffer.getvalue())
    assert PATIENT not in stripped
    with Image.open(io.BytesIO(stripped)) as img:
        assert dict(img.getexif()) == {0x0112: 8}
    assert np.array_equal(pixels(stripped), pixels(buffer.getvalue()))


def test_jpeg_jfif_thumbnail_is_dropped_and_the_jfif_header_kept():
    content = LANDSCAPE_JPEG.read_bytes()
    thumbnail = bytes(range(256)) * 3  # 16 x 16 RGB thumbnail
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x10\x10" + thumbnail
    with_thumbnail = content[:2] + b"\xff\xe0" + struct.pack(">H", 2 + len(app0)) + app0 + content[20:]
    stripped = strip_metadata(with_thumbnail)
    assert stripped[2:20] == b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    assert np.array_equal(pixels(stripped), pixels(content))


def test_jpeg_data_after_eoi_is_dropped():
    content = LANDSCAPE_JPEG.read_bytes()
    assert strip_metadata(content + jpeg_with_metadata()) == content  # e.g. an appended second picture


# --- pass-through and errors -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [PORTRAIT_PNG, LANDSCAPE_JPEG], ids=["png", "jpeg"])
def test_a_file_without_metadata_passes_through_unchanged(path):
    content = path.read_bytes()
    assert strip_metadata(content) == content


def test_supported_names_png_and_jpeg_only():
    buffer = io.BytesIO()
    random_rgb().save(buffer, format="TIFF")
    assert image_metadata.supported(PORTRAIT_PNG.read_bytes()) and image_metadata.supported(LANDSCAPE_JPEG.read_bytes())
    assert not image_metadata.supported(buffer.getvalue()) and not image_metadata.supported(b"")


def test_another_format_is_refused_by_name():
    buffer = io.BytesIO()
    random_rgb().save(buffer, format="BMP")
    with pytest.raises(ImageMetadataError, match="not a PNG or JPEG"):
        strip_metadata(buffer.getvalue())


@pytest.mark.parametrize("cut", [8, 20, 40, -13], ids=["signature-only", "in-ihdr", "in-a-chunk", "in-last-idat"])
def test_a_truncated_png_raises_a_clear_error(cut):
    content = png_with_metadata()
    with pytest.raises(ImageMetadataError, match=r"PNG.*truncated"):
        strip_metadata(content[:cut])


@pytest.mark.parametrize("cut", [-12, -5], ids=["no-iend", "iend-cut"])
def test_a_png_whose_iend_is_missing_or_cut_gets_a_complete_one(cut):
    content = PORTRAIT_PNG.read_bytes()  # decoders accept such files: the image data is complete
    assert strip_metadata(content[:cut]) == content


def test_a_png_chunk_with_a_bad_type_raises_a_clear_error():
    content = PORTRAIT_PNG.read_bytes()
    broken = content[:12] + b"I\x00DR" + content[16:]
    with pytest.raises(ImageMetadataError, match=r"PNG.*chunk"):
        strip_metadata(broken)


def test_a_png_not_starting_with_ihdr_raises_a_clear_error():
    body = b"Doe^Jane"
    chunk = struct.pack(">I", len(body)) + b"tEXt" + body + struct.pack(">I", zlib.crc32(b"tEXt" + body))
    content = PORTRAIT_PNG.read_bytes()
    with pytest.raises(ImageMetadataError, match="IHDR"):
        strip_metadata(content[:8] + chunk + content[8:])


@pytest.mark.parametrize("cut", [3, 30, 2000, -2], ids=["in-soi", "in-header", "in-scan", "no-eoi"])
def test_a_truncated_jpeg_raises_a_clear_error(cut):
    content = LANDSCAPE_JPEG.read_bytes()
    with pytest.raises(ImageMetadataError, match=r"JPEG.*truncated"):
        strip_metadata(content[:cut])


def test_extraneous_bytes_between_jpeg_segments_are_dropped():
    content = LANDSCAPE_JPEG.read_bytes()  # decoders skip such bytes with a warning
    assert strip_metadata(content[:20] + b"Doe^Jane\xff\x00" + content[20:]) == content


def test_a_jpeg_with_a_reserved_marker_raises_a_clear_error():
    content = LANDSCAPE_JPEG.read_bytes()
    with pytest.raises(ImageMetadataError, match=r"JPEG.*marker 0xFF02"):
        strip_metadata(content[:20] + b"\xff\x02" + content[20:])
