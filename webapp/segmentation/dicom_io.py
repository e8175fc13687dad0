"""Single-frame DICOM uploads: de-identification by allow-list, display conversion, modality values
for window/level in the browser, and DICOM-SEG export (highdicom).

Privacy: an uploaded DICOM file is never stored. What is stored is a *new* dataset that holds only
the image pixel module and the allow-listed technical attributes below; patient, study and
institution attributes are replaced by fixed pseudonyms and the UIDs by new ones derived (one-way)
from the original, so the exported DICOM-SEG references a consistent, de-identified source.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np

from kdsam_core.datasets.formats.dicom import window_to_uint8
from webapp.kdsam_studio.api_errors import ApiError

#: technical attributes copied from the upload (nothing that identifies a person, place or date)
COPIED_TAGS = (
    "SOPClassUID",
    "Modality",
    "BodyPartExamined",
    "PixelSpacing",
    "ImagerPixelSpacing",
    "SliceThickness",
    "ImageOrientationPatient",
    "ImagePositionPatient",
    "RescaleSlope",
    "RescaleIntercept",
    "RescaleType",
    "WindowCenter",
    "WindowWidth",
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

#: window presets (center, width) offered in the viewer, per modality
PRESETS = {
    "CT": [("Soft tissue", 40, 400), ("Lung", -600, 1500), ("Bone", 400, 1800), ("Brain", 40, 80), ("Liver", 60, 160)],
    "US": [("Full range", None, None), ("High contrast", None, 0.5)],
    "MR": [("Full range", None, None)],
}


class DicomRejected(ApiError):
    """A DICOM upload we cannot read or de-identify; ``message`` says what and how to fix it."""

    def __init__(self, code: str, message: str):
        super().__init__(code, message, field="file")


@dataclass
class DicomImage:
    display: np.ndarray  # uint8 (H, W) or (H, W, 3), what the encoder and the viewer see
    deidentified: bytes  # the de-identified DICOM file
    meta: dict = field(default_factory=dict)


def is_dicom(content: bytes) -> bool:
    return len(content) >= 132 and content[128:132] == b"DICM"


def _first(value, default=None):
    if value is None or value == "":
        return default
    try:
        return float(value[0] if hasattr(value, "__len__") and not isinstance(value, str) else value)
    except (TypeError, ValueError, IndexError):
        return default


def modality_values(dataset) -> np.ndarray:
    """Stored values through the modality LUT (e.g. Hounsfield units for CT), float32 ``(H, W)``."""
    pixels = dataset.pixel_array
    slope = _first(dataset.get("RescaleSlope"), 1.0)
    intercept = _first(dataset.get("RescaleIntercept"), 0.0)
    return (pixels.astype(np.float64) * slope + intercept).astype(np.float32)


def presets_for(modality: str, low: float, high: float) -> list[dict]:
    """Concrete (center, width) presets; relative ones are resolved against the value range."""
    out = []
    span = max(1.0, high - low)
    for name, center, width in PRESETS.get(modality, [("Full range", None, None)]):
        if center is None:
            width = span * (width if width is not None else 1.0)
            center = (low + high) / 2
        out.append({"name": name, "center": float(center), "width": float(width)})
    return out


def read_upload(name: str, content: bytes, max_pixels: int) -> DicomImage:
    """Validate and convert an uploaded DICOM file; raises :class:`DicomRejected` with a clear message."""
    import pydicom

    try:
        source = pydicom.dcmread(io.BytesIO(content))
    except Exception as error:  # pydicom raises many types on damaged files
        raise DicomRejected(
            "corrupt_image", f"{name} is not a readable DICOM file ({error}). Export it again and retry."
        ) from None
    frames = int(source.get("NumberOfFrames", 1) or 1)
    if frames > 1:
        raise DicomRejected(
            "unsupported_format", f"{name} has {frames} frames; upload a single-frame DICOM image (one slice)."
        )
    if "PixelData" not in source:
        raise DicomRejected(
            "unsupported_format",
            f"{name} has no pixel data: it is not an image, or the file is truncated. Upload a complete DICOM image.",
        )
    rows, cols = int(source.get("Rows", 0) or 0), int(source.get("Columns", 0) or 0)
    if rows * cols > max_pixels:
        raise DicomRejected(
            "image_too_large",
            f"{name} has more than {max_pixels:,} pixels; downscale it or raise KDSAM_MAX_IMAGE_PIXELS.",
        )
    try:
        pixels = source.pixel_array
    except Exception as error:
        raise DicomRejected(
            "unsupported_format",
            f"{name}: the pixel data cannot be decoded ({error}). The file may be truncated, or compressed "
            "in a way that needs an extra decoder: export it as uncompressed DICOM (or PNG) and retry.",
        ) from None
    photometric = str(source.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    modality = str(source.get("Modality", "OT") or "OT")
    meta: dict = {"modality": modality, "photometric": photometric}
    if pixels.ndim == 3 and pixels.shape[-1] in (3, 4):
        display = pixels[..., :3]
        if display.dtype != np.uint8:
            display = window_to_uint8(display, None, None)
        meta["windowing"] = False
    elif pixels.ndim == 2:
        values = modality_values(source)
        low, high = float(values.min()), float(values.max())
        center, width = _first(source.get("WindowCenter")), _first(source.get("WindowWidth"))
        presets = presets_for(modality, low, high)
        if center is None or width is None:
            center, width = presets[0]["center"], presets[0]["width"]
        display = window_to_uint8(values, center, width)
        if photometric == "MONOCHROME1":
            display = 255 - display
        meta.update(
            {"windowing": True, "range": [low, high], "window": {"center": center, "width": width}, "presets": presets}
        )
    else:
        raise DicomRejected(
            "unsupported_format", f"{name} has pixel data of shape {pixels.shape}; upload one 2-D frame."
        )
    return DicomImage(np.ascontiguousarray(display), deidentify(source), meta)


def deidentify(source) -> bytes:
    """A new DICOM file with the pixels and allow-listed technical attributes only (see module doc)."""
    import pydicom
    from pydicom.dataset import FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    original_sop = str(source.get("SOPInstanceUID", "")) or generate_uid()
    ds = pydicom.Dataset()
    for keyword in COPIED_TAGS:
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


def load(deidentified: bytes):
    import pydicom

    return pydicom.dcmread(io.BytesIO(deidentified))


def segmentation(deidentified: bytes, mask: np.ndarray, *, label: str, software: str) -> bytes:
    """A binary DICOM-SEG of ``mask`` referencing the de-identified source image."""
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
