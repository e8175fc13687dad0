"""A team's storage quota: what counts, how shared files count, and where bytes are refused.

**What counts** toward team T (``selectors.team_stored_bytes``, from the sizes recorded in ``StoredFile``):

- ``datasets``: the object files (images, masks) T's datasets reference, and their thumbnails once made;
- ``images``: the images T's members uploaded (the stored image, the de-identified DICOM copy) and their
  embeddings. An image belongs to its uploader, not to a team: it counts for every team its uploader is a
  member of, and an upload must fit in each of them (a user in no team has no quota: only the per-file limits);
- ``models``: the checkpoint and decoder files of T's model versions;
- ``uploads``: the declared size of T's unfinished upload sessions (their staged archives), reserved from
  the start of the upload until the session is settled.

**Shared files.** Files are stored once per content and shared. A file counts **once for each team that
references it**, however many of that team's datasets (or members' images) do: a team's usage is what it
would hold alone, it does not depend on what other teams store (so it tells nothing about their data), and
deleting a dataset frees what no other dataset of the team holds. Summed over teams, usage may therefore
exceed the disk space actually used.

**Not counted:** masks saved on images (RLE rows in the database), exports (made per request, never
stored), job folders (logs, reports, training checkpoints), extraction folders (temporary, bounded by the
archive limits and the free disk space).

**Enforced where bytes enter**, answering ``413 team_quota_exceeded`` with the usage, the quota and what to do,
before anything is stored: starting an upload (its declared size), confirming an import (nothing fits once
the quota is used up), starting a server-folder import, uploading an image. An import then checks the exact
bytes it adds (new to the team, after deduplication) before its dataset is created, and fails, keeping
nothing, if they do not fit. Bytes the server derives later (thumbnails, embeddings) and model versions
made by jobs are counted but never refused: they may take a team past its quota, and its next upload is then
refused. The check is not a reservation: concurrent image uploads may each pass on the same remaining room.

**The quota** is the team's ``storage_quota_gb`` (Django admin › Teams) or else ``KDSAM_TEAM_STORAGE_QUOTA_GB``;
0 means unlimited; 1 GB = 1024³ bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from webapp.accounts.models import Team
from webapp.datasets import conf, selectors, storage
from webapp.datasets.services.errors import DatasetRejected


class QuotaExceeded(DatasetRejected):
    """413 ``team_quota_exceeded``: the bytes do not fit in the team's storage quota (the message says how much)."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__("team_quota_exceeded", message, field=field, status=413)


def format_bytes(count: int) -> str:
    """``count`` bytes readably, as the studio page shows them: 1024-based, one decimal ("3.5 GB", "512 B")."""
    value, unit = float(count), "B"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1024 or unit == "TB":
            break
        value /= 1024
    return f"{count} B" if unit == "B" else f"{value:.1f} {unit}"


def quota_bytes(team: Team) -> int | None:
    """The team's quota in bytes, ``None`` = unlimited: its own ``storage_quota_gb``, else the deployment's."""
    gb = team.storage_quota_gb if team.storage_quota_gb is not None else settings.STUDIO.team_storage_quota_gb
    return round(gb * conf.GIB) if gb > 0 else None


@dataclass(frozen=True)
class TeamStorage:
    team: Team
    parts: dict[str, int]  #: bytes per selectors.STORAGE_PARTS
    quota: int | None  #: bytes; None = unlimited

    @property
    def used(self) -> int:
        return sum(self.parts.values())

    @property
    def remaining(self) -> int | None:
        return None if self.quota is None else max(0, self.quota - self.used)

    @property
    def quota_source(self) -> str:
        """``team`` when the team has its own quota, else ``default`` (the deployment's)."""
        return "team" if self.team.storage_quota_gb is not None else "default"


def usage(team: Team, *, exclude_upload: int | None = None) -> TeamStorage:
    """The team's stored bytes and quota. Records, once, the size of any file its rows reference that was
    written without being recorded (embeddings, model versions, files older than the ledger)."""
    unrecorded = selectors.unrecorded_paths(team.pk)
    if unrecorded:
        storage.record_sizes(unrecorded)
    return TeamStorage(team, selectors.team_stored_bytes(team.pk, exclude_upload=exclude_upload), quota_bytes(team))


def _refusal(current: TeamStorage, adding: int, what: str, field: str | None) -> QuotaExceeded:
    assert current.quota is not None
    room = current.remaining or 0
    return QuotaExceeded(
        f"Team {current.team.name} has {format_bytes(room)} left of its {format_bytes(current.quota)} storage quota "
        f"({format_bytes(current.used)} used): {what} ({format_bytes(adding)}) does not fit. "
        "Delete datasets or images the team no longer needs, or ask an admin to raise the team's quota.",
        field=field,
    )


def ensure_room(
    team: Team, adding: int, *, what: str, field: str | None = None, exclude_upload: int | None = None
) -> TeamStorage:
    """Raise ``413 team_quota_exceeded`` unless ``adding`` more bytes fit in the team's quota.

    ``adding=0`` asks whether anything still fits: refused once the quota is used up.
    """
    current = usage(team, exclude_upload=exclude_upload)
    if current.quota is None:
        return current
    if current.used + adding > current.quota or (adding == 0 and current.used >= current.quota):
        raise _refusal(current, adding, what, field)
    return current


def ensure_added_fits(before: TeamStorage, after: TeamStorage, *, what: str) -> None:
    """Raise ``413 team_quota_exceeded`` when going from ``before`` to ``after`` added bytes past the quota."""
    added = after.used - before.used
    if before.quota is not None and added > 0 and after.used > before.quota:
        raise _refusal(before, added, what, None)


def ensure_room_for_image(owner, files: dict[str, int], *, what: str) -> None:
    """Raise ``413 team_quota_exceeded`` unless the image's ``files`` ({path: bytes}) fit in the quota of every
    team the uploader is a member of; a file the team already holds (same content) costs it nothing."""
    from webapp.segmentation.models import Image

    files = {path: size for path, size in files.items() if path}
    for team in Team.objects.filter(memberships__user=owner).order_by("pk"):
        images = Image.objects.filter(owner__memberships__team=team)
        held = set(images.filter(file__in=list(files)).values_list("file", flat=True))
        held |= set(images.filter(dicom_file__in=list(files)).values_list("dicom_file", flat=True))
        adding = sum(size for path, size in files.items() if path not in held)
        if adding:
            ensure_room(team, adding, what=what, field="file")
