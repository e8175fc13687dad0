"""Limits and places of the datasets app (module constants; tests monkeypatch them).

The deployment-level limits come from ``StudioConfig`` (``KDSAM_MAX_DATASET_*`` variables).
"""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from kdsam_core.datasets import Limits

MIB = 1024**2
GIB = 1024**3

#: Largest total size an archive may expand to, and most files it (or a server folder) may hold. Checked
#: on the sizes the archive declares before it is extracted (with the free disk space), then on the bytes
#: written: kdsam_core.datasets.archive.
MAX_UNCOMPRESSED_BYTES = settings.STUDIO.max_dataset_uncompressed_gb * GIB
#: Largest archive one may upload (the compressed bytes sent): never more than it may expand to, since an
#: archive (of images, which barely compress) holds at least about its own size of files; a larger one would
#: be refused only once all of it had arrived.
MAX_ARCHIVE_BYTES = min(settings.STUDIO.max_dataset_archive_gb, settings.STUDIO.max_dataset_uncompressed_gb) * GIB
MAX_FILES = settings.STUDIO.max_dataset_files
#: Largest chunk one PUT may carry; the browser sends CHUNK_BYTES.
MAX_CHUNK_BYTES = 64 * MIB
CHUNK_BYTES = 8 * MIB
#: Archive suffixes accepted for uploads.
ARCHIVE_SUFFIXES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
#: Defaults of the split.
DEFAULT_SEED = 0
DEFAULT_RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}
#: Longest side of thumbnails.
THUMBNAIL_SIZE = 192
#: At most one progress write per this many seconds.
PROGRESS_INTERVAL_S = 0.5

#: Folders under MEDIA_ROOT.
UPLOADS = "datasets/uploads"
OBJECTS = "datasets/objects"
THUMBS = "datasets/thumbs"
TMP = "datasets/tmp"


def media_root() -> Path:
    return Path(settings.MEDIA_ROOT)


def tmp_dir() -> Path:
    path = media_root() / TMP
    path.mkdir(parents=True, exist_ok=True)
    return path


def limits() -> Limits:
    """Limits for reading untrusted datasets; archives are extracted under the data dir."""
    return Limits(
        max_uncompressed_bytes=MAX_UNCOMPRESSED_BYTES,
        max_files=MAX_FILES,
        max_image_pixels=settings.STUDIO.max_image_pixels,
        temp_dir=str(tmp_dir()),
    )
