"""DICOM files built with pydicom for the core and web tests (this module holds no tests)."""

from __future__ import annotations

import io

import numpy as np

#: identifying values every built file carries (and no output may)
PHI = {
    "PatientName": "Doe^Jane",
    "PatientID": "MRN-123456",
    "PatientBirthDate": "19700101",
    "InstitutionName": "St Example Hospital",
    "StudyDate": "20240102",
    "AccessionNumber": "ACC99",
}
PRIVATE_VALUE = "private vendor secret"


def dicom_bytes(pixels=None, *, frames=1, photometric="MONOCHROME2", pixel_data=True, **attributes) -> bytes:
    """A CT image (16-bit, uncompressed) with :data:`PHI`, instance UIDs and a private tag; ``attributes``
    (keyword=value) are set last. ``frames`` > 1 repeats ``pixels`` as a multi-frame file."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid

    pixels = np.arange(12 * 16).reshape(12, 16) * 10 if pixels is None else np.asarray(pixels)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = CTImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = generate_uid(), generate_uid(), generate_uid()
    ds.Modality = "CT"
    for key, value in PHI.items():
        setattr(ds, key, value)
    ds.add_new(0x00091001, "LO", PRIVATE_VALUE)
    ds.Rows, ds.Columns = pixels.shape[:2]
    if frames > 1:
        ds.NumberOfFrames = frames
        pixels = np.stack([pixels] * frames)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    for key, value in attributes.items():
        setattr(ds, key, value)
    if pixel_data:
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()
