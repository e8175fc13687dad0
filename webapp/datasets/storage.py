"""Content-addressed files under the data dir: ``media/datasets/objects/<aa>/<sha256><ext>``.

One file per content, shared by every dataset (and item) holding the same bytes. Files are written
to a temporary name in the target folder and renamed, so a reader never sees half a file. A file is
removed only when no :class:`DatasetItem` references it any more. Each file's size is recorded in
:class:`~webapp.datasets.models.StoredFile` (:func:`record_sizes`), so a team's storage is a query.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from kdsam_core.hashing import file_sha256
from webapp.datasets import conf

_BUFFER = 1024 * 1024


def path_of(rel: str) -> Path:
    return conf.media_root() / rel


def object_rel(sha256: str, ext: str) -> str:
    return f"{conf.OBJECTS}/{sha256[:2]}/{sha256}{ext.lower()}"


def _publish(write, rel: str) -> bool:
    """Write ``rel`` through ``write(handle)`` unless it exists; True when this call created it."""
    target = path_of(rel)
    if target.exists():
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        if target.exists():  # another writer won the race: same content
            os.unlink(tmp)
            return False
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return True


def put_file(source: Path, ext: str) -> tuple[str, str, bool]:
    """Store a copy of ``source``; returns ``(rel, sha256, created)``."""
    sha = file_sha256(source)
    rel = object_rel(sha, ext)

    def write(handle):
        with open(source, "rb") as src:
            shutil.copyfileobj(src, handle, _BUFFER)

    return rel, sha, _publish(write, rel)


def put_bytes(content: bytes, ext: str) -> tuple[str, str, bool]:
    sha = hashlib.sha256(content).hexdigest()
    rel = object_rel(sha, ext)
    return rel, sha, _publish(lambda handle: handle.write(content), rel)


def thumbnail_rel(sha256: str, kind: str) -> str:
    ext = ".jpg" if kind == "image" else ".png"
    return f"{conf.THUMBS}/{sha256[:2]}/{sha256}.{kind}{ext}"


def record_sizes(rels) -> dict[str, int]:
    """Record the size of each file in ``rels`` (relative to MEDIA_ROOT; 0 for a missing one) and return them."""
    from webapp.datasets.models import StoredFile

    sizes = {}
    for rel in sorted({rel for rel in rels if rel}):
        try:
            sizes[rel] = path_of(rel).stat().st_size
        except OSError:
            sizes[rel] = 0
    rows = [StoredFile(path=rel, size=size) for rel, size in sizes.items()]
    StoredFile.objects.bulk_create(
        rows, batch_size=500, update_conflicts=True, unique_fields=["path"], update_fields=["size", "recorded_at"]
    )
    return sizes


def forget_sizes(rels) -> None:
    from webapp.datasets.models import StoredFile

    rel_list = sorted({rel for rel in rels if rel})
    for start in range(0, len(rel_list), 500):
        StoredFile.objects.filter(path__in=rel_list[start : start + 500]).delete()


def referenced(rels: set[str]) -> set[str]:
    from django.db.models import Q

    from webapp.datasets.models import DatasetItem

    if not rels:
        return set()
    found = set()
    rel_list = sorted(rels)
    for start in range(0, len(rel_list), 500):
        batch = rel_list[start : start + 500]
        rows = DatasetItem.objects.filter(Q(image_file__in=batch) | Q(mask_file__in=batch)).values_list(
            "image_file", "mask_file"
        )
        for image_file, mask_file in rows:
            found.add(image_file)
            found.add(mask_file)
    return found & rels


def remove_unreferenced(rels) -> int:
    """Delete the object files in ``rels`` (and their thumbnails) that no item references. Returns how many."""
    rels = {rel for rel in rels if rel}
    removed = 0
    gone = set()
    for rel in sorted(rels - referenced(rels)):
        path = path_of(rel)
        sha = Path(rel).name.split(".")[0]
        for kind in ("image", "mask"):
            path_of(thumbnail_rel(sha, kind)).unlink(missing_ok=True)
            gone.add(thumbnail_rel(sha, kind))
        gone.add(rel)
        if path.exists():
            path.unlink()
            removed += 1
    forget_sizes(gone)
    return removed
