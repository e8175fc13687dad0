"""DICOM in one place (plain Python, never Django): sniffing, reading with the safety checks, display
conversion, the allow-list of non-identifying tags, de-identification and DICOM-SEG writing.

Used by the dataset layer (:mod:`kdsam_core.datasets`: images decoded for validation and training,
allow-listed tags kept as sample metadata) and by the web app's upload adapter
(``webapp.segmentation.dicom_io``: uploads converted for the viewer and stored de-identified).

Reading (:func:`read_dataset`) checks, in this order: the file parses; ``Rows`` x ``Columns`` is within
the pixel limit (from the header, before any pixel data is decoded); one frame only; pixel data
present. Decoding (:func:`decode_pixels`) accepts one 2-D frame or one colour frame. Every failure is
a :class:`DicomError` whose ``code`` is one of :data:`ERROR_CODES`.

Display: gray images go through the modality LUT (:func:`rescale`: ``RescaleSlope`` /
``RescaleIntercept``), then a VOI window (:func:`window_to_uint8`, the DICOM linear formula) and
``MONOCHROME1`` is inverted; colour images keep their first three channels. :func:`read_array` windows
with the file's own first window or the image's min..max (datasets, training); :func:`read_viewer`
with the file's window or the modality's first preset (:data:`PRESETS`, the viewer).

Privacy: only the tags in :data:`ALLOWED_TAGS` are ever read into metadata (:func:`allowed_meta`) or
copied into a de-identified file (:func:`deidentify`); see ``docs/datasets.md`` (*DICOM*).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, overload

import numpy as np

#: file suffixes taken as DICOM without opening the file
DICOM_SUFFIXES = frozenset({".dcm", ".dicom"})
#: the ``DICM`` marker stands after a 128-byte preamble (PS3.10 7.1)
_MARKER_OFFSET = 128
_MARKER = b"DICM"

#: The only DICOM attributes ever read into metadata or copied into a de-identified file. None
#: identifies a person, place, date or study instance: they describe the image (size, pixel
#: encoding, geometry, modality LUT, display window) and what kind of object it is (``SOPClassUID``
#: is the standard's class, e.g. "CT Image Storage", not an instance UID).
ALLOWED_TAGS = (
    # what kind of image
    "SOPClassUID",
    "Modality",
    "BodyPartExamined",
    # geometry (millimetres, direction cosines; no patient position in the room or time)
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    # modality LUT and display window
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
    # the image pixel module (needed to read the pixel data back)
    "SamplesPerPixel",
    "PhotometricInterpretation",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "BitsAllocated",
    "BitsStored",
    "HighBit",
    "PixelRepresentation",
)

#: window presets (name, center, width) offered in the viewer, per modality; ``center`` None means
#: "middle of the value range" and ``width`` then is a share of the range (1.0: all of it)
PRESETS: dict[str, list[tuple[str, float | None, float]]] = {
    "CT": [("Soft tissue", 40, 400), ("Lung", -600, 1500), ("Bone", 400, 1800), ("Brain", 40, 80), ("Liver", 60, 160)],
    "US": [("Full range", None, 1.0), ("High contrast", None, 0.5)],
    "MR": [("Full range", None, 1.0)],
}
_DEFAULT_PRESETS: list[tuple[str, float | None, float]] = [("Full range", None, 1.0)]

#: the stable codes of :class:`DicomError`
ERROR_CODES = ("unreadable", "too_many_pixels", "multi_frame", "no_pixel_data", "undecodable", "bad_shape")


class DicomError(Exception):
    """A DICOM file that cannot be used. ``code`` is one of :data:`ERROR_CODES`; ``message`` says why
    without naming the file (``"has 3 frames; …"``); ``details`` holds the numbers behind it
    (``frames``, ``rows``, ``columns``, ``max_pixels``, ``shape``, ``reason``)."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


# ---------------------------------------------------------------------------------------- sniffing


def is_dicom_bytes(content: bytes) -> bool:
    """Whether ``content`` (a whole file or at least its first 132 bytes) has the ``DICM`` marker."""
    return (
        len(content) >= _MARKER_OFFSET + len(_MARKER)
        and content[_MARKER_OFFSET : _MARKER_OFFSET + len(_MARKER)] == _MARKER
    )


def is_dicom_file(path: Path) -> bool:
    """``.dcm``/``.dicom`` files, and extension-less files with the ``DICM`` preamble marker."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in DICOM_SUFFIXES:
        return True
    if suffix:
        return False
    try:
        with open(path, "rb") as handle:
            head = handle.read(_MARKER_OFFSET + len(_MARKER))
    except OSError:
        return False
    return is_dicom_bytes(head)


# ----------------------------------------------------------------------------------------- values


@overload
def first_number(value: Any, default: float) -> float: ...
@overload
def first_number(value: Any, default: None = None) -> float | None: ...
def first_number(value: Any, default: float | None = None) -> float | None:
    """The first value of a (possibly multi-valued) numeric attribute as ``float``; ``default`` when
    the attribute is absent, empty or not a number (a malformed optional tag never fails a file)."""
    if value is not None and not isinstance(value, str) and hasattr(value, "__len__"):
        value = value[0] if len(value) else None
    if value is None or value == "":
        return default
    try:
        return float(value)
    except (TypeError, ValueError):
        return default


def _json_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return [_json_value(v) for v in value]
    if isinstance(value, (int, float, str)):
        return value
    for cast in (int, float):
        try:
            number = cast(value)
            if cast is int and float(value) != number:
                continue
            return number
        except (TypeError, ValueError):
            continue
    return str(value)


def allowed_meta(dataset: Any) -> dict:
    """The allow-listed attributes of a pydicom dataset as JSON-ready values."""
    return {keyword: _json_value(dataset.get(keyword)) for keyword in ALLOWED_TAGS if keyword in dataset}


# ---------------------------------------------------------------------------------------- reading


def _dcmread(source: str | Path | bytes, *, header_only: bool) -> Any:
    import pydicom

    target = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else Path(source)
    try:
        return pydicom.dcmread(target, stop_before_pixels=header_only)
    except Exception as error:  # pydicom raises many types on hostile files
        raise DicomError("unreadable", f"is not a readable DICOM file ({error})", reason=str(error)) from None


def read_header(source: str | Path | bytes) -> Any:
    """The dataset without its pixel data; raises :class:`DicomError` (``unreadable``)."""
    return _dcmread(source, header_only=True)


def read_meta(source: str | Path | bytes) -> dict:
    """Allow-listed tags of a DICOM file (``{}`` if unreadable)."""
    try:
        return allowed_meta(read_header(source))
    except DicomError:
        return {}


def check_header(dataset: Any, max_pixels: int) -> None:
    """The pixel limit (``Rows`` x ``Columns`` from the header), then the frame count."""
    rows, cols = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if rows * cols > max_pixels:
        raise DicomError(
            "too_many_pixels",
            f"declares {cols}x{rows} = {rows * cols} pixels, more than the limit of {max_pixels}",
            rows=rows,
            columns=cols,
            max_pixels=max_pixels,
        )
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DicomError(
            "multi_frame", f"has {frames} frames; only single-frame DICOM images are supported", frames=frames
        )


def read_dataset(source: str | Path | bytes, max_pixels: int) -> Any:
    """A checked single-frame DICOM dataset with pixel data (see the module doc for the order).

    A file is read header first, so that the pixel limit is checked before the pixel data is loaded;
    bytes (already in memory) are parsed once.
    """
    if isinstance(source, (bytes, bytearray)):
        dataset = _dcmread(source, header_only=False)
        check_header(dataset, max_pixels)
    else:
        check_header(read_header(source), max_pixels)
        dataset = _dcmread(source, header_only=False)
    if "PixelData" not in dataset:
        raise DicomError("no_pixel_data", "has no pixel data (not an image)")
    return dataset


def load(content: bytes) -> Any:
    """Parse DICOM bytes (e.g. a stored de-identified file) without any check."""
    import pydicom

    return pydicom.dcmread(io.BytesIO(content))


def is_colour(pixels: np.ndarray) -> bool:
    return pixels.ndim == 3 and pixels.shape[-1] in (3, 4)


def decode_pixels(dataset: Any) -> np.ndarray:
    """The stored pixel values: one 2-D gray frame or one ``(H, W, 3|4)`` colour frame."""
    try:
        pixels = dataset.pixel_array
    except Exception as error:  # the pixel handlers raise many types on damaged data
        raise DicomError(
            "undecodable",
            f"pixel data cannot be decoded ({error}); compressed transfer syntaxes need an extra decoder "
            "(pylibjpeg or GDCM): convert the file to uncompressed DICOM or PNG",
            reason=str(error),
        ) from None
    if not is_colour(pixels) and pixels.ndim != 2:
        raise DicomError(
            "bad_shape", f"has pixel data of shape {pixels.shape}; expected one 2-D frame", shape=pixels.shape
        )
    return pixels


def photometric_of(dataset: Any) -> str:
    return str(dataset.get("PhotometricInterpretation", "MONOCHROME2")).upper()


def modality_of(dataset: Any) -> str:
    return str(dataset.get("Modality", "OT") or "OT")


# ---------------------------------------------------------------------------------------- display


def rescale(dataset: Any, pixels: np.ndarray) -> np.ndarray:
    """Stored values through the modality LUT (``RescaleSlope``/``RescaleIntercept``), float64."""
    slope = first_number(dataset.get("RescaleSlope"), 1.0)
    intercept = first_number(dataset.get("RescaleIntercept"), 0.0)
    return pixels.astype(np.float64) * slope + intercept


def modality_values(dataset: Any) -> np.ndarray:
    """Modality values (e.g. Hounsfield units for CT) of a dataset's pixels, float32 ``(H, W)``."""
    return rescale(dataset, dataset.pixel_array).astype(np.float32)


def voi_window(dataset: Any) -> tuple[float | None, float | None]:
    """The first VOI window ``(center, width)`` of the file; ``None`` parts when it has none."""
    return first_number(dataset.get("WindowCenter")), first_number(dataset.get("WindowWidth"))


def window_to_uint8(values: np.ndarray, center: float | None, width: float | None) -> np.ndarray:
    """DICOM linear VOI windowing (PS3.3 C.11.2.1.2) to 0..255; min..max when there is no window."""
    data = values.astype(np.float64)
    if center is None or width is None or width < 1:
        low, high = float(data.min()), float(data.max())
        if high <= low:
            return np.zeros(data.shape, dtype=np.uint8)
        return np.clip((data - low) * (255.0 / (high - low)) + 0.5, 0, 255).astype(np.uint8)
    if width == 1:
        return np.where(data <= center - 0.5, 0, 255).astype(np.uint8)
    scaled = ((data - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    return np.clip(scaled + 0.5, 0, 255).astype(np.uint8)


def gray_to_uint8(values: np.ndarray, center: float | None, width: float | None, photometric: str) -> np.ndarray:
    """Windowed 8-bit gray image; ``MONOCHROME1`` (low values bright) is inverted."""
    image = window_to_uint8(values, center, width)
    if photometric == "MONOCHROME1":
        image = 255 - image
    return np.ascontiguousarray(image)


def colour_to_uint8(pixels: np.ndarray) -> np.ndarray:
    """The first three channels, scaled by their own min..max unless already 8-bit."""
    colour = pixels[..., :3]
    if colour.dtype != np.uint8:
        colour = window_to_uint8(colour, None, None)
    return np.ascontiguousarray(colour)


def presets_for(modality: str, low: float, high: float) -> list[dict]:
    """Concrete (center, width) presets; relative ones are resolved against the value range."""
    out = []
    span = max(1.0, high - low)
    for name, center, width in PRESETS.get(modality, _DEFAULT_PRESETS):
        if center is None:
            width = span * width
            center = (low + high) / 2
        out.append({"name": name, "center": float(center), "width": float(width)})
    return out


def read_array(source: str | Path | bytes, max_pixels: int) -> np.ndarray:
    """Decode a single-frame DICOM to ``uint8`` gray ``(H, W)`` or RGB ``(H, W, 3)`` with the file's
    own window, or min..max without one; raises :class:`DicomError`."""
    dataset = read_dataset(source, max_pixels)
    pixels = decode_pixels(dataset)
    if is_colour(pixels):
        return colour_to_uint8(pixels)
    return gray_to_uint8(rescale(dataset, pixels), *voi_window(dataset), photometric_of(dataset))


@dataclass
class ViewerImage:
    dataset: Any  # the parsed (not yet de-identified) source
    display: np.ndarray  # uint8 (H, W) or (H, W, 3)
    meta: dict = field(default_factory=dict)  # modality, photometric, windowing (+ range, window, presets)


def read_viewer(source: str | Path | bytes, max_pixels: int) -> ViewerImage:
    """Decode for the viewer: the file's window, or the modality's first preset without one, and the
    value range and presets for window/level in the browser; raises :class:`DicomError`."""
    dataset = read_dataset(source, max_pixels)
    pixels = decode_pixels(dataset)
    kind = photometric_of(dataset)
    meta: dict = {"modality": modality_of(dataset), "photometric": kind}
    if is_colour(pixels):
        meta["windowing"] = False
        return ViewerImage(dataset, colour_to_uint8(pixels), meta)
    values = modality_values(dataset)
    low, high = float(values.min()), float(values.max())
    center, width = voi_window(dataset)
    presets = presets_for(meta["modality"], low, high)
    if center is None or width is None:
        center, width = presets[0]["center"], presets[0]["width"]
    meta.update(
        {"windowing": True, "range": [low, high], "window": {"center": center, "width": width}, "presets": presets}
    )
    return ViewerImage(dataset, gray_to_uint8(values, center, width, kind), meta)


# ------------------------------------------------------------------------------- de-identification


def deidentify(source: Any) -> bytes:
    """A new DICOM file with the pixels and the allow-listed attributes only.

    Patient, study and institution attributes are set to fixed pseudonyms; the study, series, SOP
    instance and frame-of-reference UIDs are replaced by new ones derived one-way from the originals
    (the same upload gives the same UIDs, so a DICOM-SEG references a consistent source). Everything
    else (names, ids, dates, institutions, private tags, …) is left out.
    """
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    original_sop = str(source.get("SOPInstanceUID", "")) or generate_uid()
    ds = pydicom.Dataset()
    for keyword in ALLOWED_TAGS:
        if keyword in source:
            ds[keyword] = source[keyword]
    ds.SOPClassUID = source.get("SOPClassUID", "1.2.840.10008.5.1.4.1.1.7")  # Secondary Capture by default
    ds.Modality = source.get("Modality", "OT")
    # new UIDs, derived one-way from the originals (the same upload gives the same UIDs)
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["kdsam-study", str(source.get("StudyInstanceUID", original_sop))])
    ds.SeriesInstanceUID = generate_uid(
        entropy_srcs=["kdsam-series", str(source.get("SeriesInstanceUID", original_sop))]
    )
    ds.SOPInstanceUID = generate_uid(entropy_srcs=["kdsam-sop", original_sop])
    ds.FrameOfReferenceUID = generate_uid(
        entropy_srcs=["kdsam-for", str(source.get("FrameOfReferenceUID", original_sop))]
    )
    ds.PatientName = "Anonymous"
    ds.PatientID = "ANON"
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyDate = ds.StudyTime = ds.ReferringPhysicianName = ds.AccessionNumber = ""
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientIdentityRemoved = "YES"
    ds.DeidentificationMethod = "KD-SAM Studio allow-list: pixels and technical attributes only"
    pixels = source.pixel_array
    ds.PixelData = np.ascontiguousarray(pixels).tobytes()
    if pixels.ndim == 3:
        ds.PlanarConfiguration = 0
        ds.SamplesPerPixel = 3
        ds.PhotometricInterpretation = "RGB"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def write_segmentation(deidentified: bytes, mask: np.ndarray, *, label: str, software: str) -> bytes:
    """A binary DICOM-SEG (highdicom) of ``mask`` referencing the de-identified source image."""
    import highdicom as hd
    from pydicom.sr.codedict import codes
    from pydicom.sr.coding import Code

    source = load(deidentified)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=label[:64] or "object",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=Code("52988006", "SCT", "Lesion"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.SEMIAUTOMATIC,
        algorithm_identification=hd.AlgorithmIdentificationSequence(
            name="KD-SAM", version=software[:64] or "1", family=codes.cid7162.ArtificialIntelligence
        ),
    )
    seg = hd.seg.Segmentation(
        source_images=[source],
        pixel_array=np.asarray(mask, dtype=bool)[None],
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
        segment_descriptions=[description],
        series_instance_uid=hd.UID(),
        series_number=100,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer="KD-SAM Studio",
        manufacturer_model_name="KD-SAM",
        software_versions=software[:64] or "1",
        device_serial_number="0",
    )
    buffer = io.BytesIO()
    seg.save_as(buffer)
    return buffer.getvalue()
