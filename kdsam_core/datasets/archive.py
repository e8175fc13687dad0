"""Safe extraction of dataset archives (.zip, .tar, .tar.gz/.tgz, .tar.bz2, .tar.xz).

Nothing is ever extracted with ``extractall``: every entry is checked first and written by us.
Rejected (each a specific :class:`ArchiveError` code): entries with absolute paths or drive
letters, entries escaping the root with ``..`` (zip-slip), symbolic and hard links, device files
and FIFOs, password-protected entries, two entries mapping to the same path, more files than
``Limits.max_files``, more bytes than ``Limits.max_uncompressed_bytes`` or than the extraction
folder's disk has free, unreadable archives. macOS resource forks (``__MACOSX/``, ``._*``) are skipped.
:func:`extracted` extracts into a fresh temporary folder that is always removed on exit, also after errors.

Sizes are guarded twice. Before the first byte is written, the sizes the archive *declares* (a zip's
central directory; a tar's headers, read in one streaming pass that writes nothing and stops as soon
as the running total passes the limit) are summed and checked against the limit and against
``shutil.disk_usage(dest).free``. Declared sizes can lie (a zip's ``file_size`` is whatever its
author wrote), so the bytes actually written are counted again while extracting.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO

from kdsam_core.datasets.fs import relative
from kdsam_core.datasets.limits import DEFAULT_LIMITS, Limits

TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tbz", ".tar.xz", ".txz")
_CHUNK = 1024 * 1024
_DRIVE = re.compile(r"^[A-Za-z]:")


class ArchiveError(Exception):
    """The archive is unsafe or unreadable. ``code`` is a problem code, ``path`` the entry (the archive's
    file name for problems of the archive as a whole)."""

    def __init__(self, code: str, path: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.path = path
        self.message = message


def _reason(error: BaseException, dest: Path) -> str:
    """``error``'s text for a message: a file it names is given relative to the extraction folder ``dest``,
    never by its server path."""
    if isinstance(error, OSError) and error.filename is not None:
        return f"{error.strerror or error.__class__.__name__}: {relative(Path(os.fsdecode(error.filename)), dest)}"
    return str(error)


def _bytes(count: int) -> str:
    """``count`` bytes, exact and readable: ``"52428800 bytes (50.0 MiB)"``."""
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{count} bytes" if count < 1024 else f"{count} bytes ({value:.1f} {unit})"
    raise AssertionError("unreachable")


_HOW_TO_SHRINK = (
    "split the dataset into smaller archives and import them one by one, or ask an administrator to raise "
    "the limit (Limits.max_uncompressed_bytes; KDSAM_MAX_DATASET_UNCOMPRESSED_GB on a KD-SAM Studio server)"
)


def _declared_too_large(archive: Path, declared: int, limits: Limits, *, complete: bool) -> ArchiveError:
    amount = _bytes(declared) if complete else f"at least {_bytes(declared)}"
    return ArchiveError(
        "archive_too_large",
        archive.name,
        f"{archive.name} declares {amount} of files, more than the limit of "
        f"{_bytes(limits.max_uncompressed_bytes)}, so nothing was extracted; {_HOW_TO_SHRINK}",
    )


def check_free_space(archive: Path, dest: Path, declared: int) -> None:
    """Raise ``archive_insufficient_storage`` unless ``dest``'s disk has room for ``declared`` bytes."""
    free = shutil.disk_usage(dest).free
    if declared > free:
        raise ArchiveError(
            "archive_insufficient_storage",
            archive.name,
            f"{archive.name} declares {_bytes(declared)} of files, but the disk it is extracted to has "
            f"{_bytes(free)} free, so nothing was extracted; split the dataset into smaller archives, or ask an "
            "administrator to free disk space (or to move the data dir, KDSAM_DATA_DIR, to a larger disk)",
        )


def archive_kind(path: Path) -> str | None:
    """``"zip"``, ``"tar"`` or ``None`` (judged by content first, then by the file name)."""
    path = Path(path)
    if not path.is_file():
        return None
    name = path.name.lower()
    if zipfile.is_zipfile(path):
        return "zip"
    if name.endswith(".zip"):
        return "zip"  # broken zip: let extraction report it
    try:
        if tarfile.is_tarfile(path):
            return "tar"
    except (OSError, EOFError, tarfile.TarError):
        pass
    if name.endswith(TAR_SUFFIXES):
        return "tar"
    return None


def is_archive(path: Path) -> bool:
    return archive_kind(path) is not None


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(part == "__MACOSX" or part.startswith("._") for part in parts) or parts[-1] in (".DS_Store", "Thumbs.db")


def safe_member_path(name: str) -> tuple[str, ...]:
    """Normalised path parts of an archive entry name; raises :class:`ArchiveError` if unsafe."""
    raw = name.replace("\\", "/")
    if raw.startswith("/") or _DRIVE.match(raw):
        raise ArchiveError(
            "archive_absolute_path",
            name,
            f"archive entry {name!r} has an absolute path; archives must contain relative paths only "
            "(re-create the archive from inside the dataset folder)",
        )
    parts = tuple(part for part in PurePosixPath(raw).parts if part not in ("", "."))
    if ".." in parts:
        raise ArchiveError(
            "archive_path_traversal",
            name,
            f"archive entry {name!r} contains '..' and would be written outside the extraction folder "
            "(zip-slip); re-create the archive without parent-directory references",
        )
    return parts


class _Extractor:
    def __init__(self, dest: Path, limits: Limits) -> None:
        self.dest = dest
        self.limits = limits
        self.written = 0
        self.files = 0
        self.seen: set[str] = set()

    def count_file(self, name: str, declared: int) -> None:
        self.files += 1
        if self.files > self.limits.max_files:
            raise ArchiveError(
                "archive_too_many_files",
                name,
                f"the archive holds more than {self.limits.max_files} files (limit reached at {name!r}); "
                "split the dataset into smaller archives or raise the file-count limit",
            )
        if declared < 0:
            raise ArchiveError("archive_corrupt", name, f"archive entry {name!r} declares a negative size")

    def too_large(self, name: str) -> ArchiveError:
        """The bytes written passed the limit although the declared sizes did not: the archive lies."""
        return ArchiveError(
            "archive_too_large",
            name,
            f"the archive expands to more than {_bytes(self.limits.max_uncompressed_bytes)} while extracting "
            f"{name!r}, although it declares less (its recorded sizes are wrong); re-create the archive, "
            f"or {_HOW_TO_SHRINK}",
        )

    def target(self, name: str, parts: tuple[str, ...]) -> Path:
        key = "/".join(parts).lower()  # case-insensitive file systems would merge these too
        if key in self.seen:
            raise ArchiveError(
                "archive_duplicate_entry",
                name,
                f"archive entry {name!r} appears twice (or differs only in letter case); remove the duplicate",
            )
        self.seen.add(key)
        target = self.dest.joinpath(*parts)
        root = self.dest.resolve()
        resolved = target.resolve()
        if resolved != root and root not in resolved.parents:  # defence in depth
            raise ArchiveError(
                "archive_path_traversal", name, f"archive entry {name!r} resolves outside the extraction folder"
            )
        return target

    def write(self, name: str, parts: tuple[str, ...], stream: IO[bytes]) -> None:
        target = self.target(name, parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        if target.is_dir():
            raise ArchiveError("archive_duplicate_entry", name, f"archive entry {name!r} is both a folder and a file")
        with open(target, "xb") as out:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                self.written += len(chunk)
                if self.written > self.limits.max_uncompressed_bytes:
                    raise self.too_large(name)
                out.write(chunk)


def _extract_zip(path: Path, dest: Path, limits: Limits) -> None:
    extractor = _Extractor(dest, limits)
    try:
        with zipfile.ZipFile(path) as archive:
            infos = archive.infolist()
            plan = []
            declared = 0
            for info in infos:
                parts = safe_member_path(info.filename)
                mode = (info.external_attr >> 16) & 0xFFFF
                if stat.S_ISLNK(mode):
                    raise ArchiveError(
                        "archive_symlink",
                        info.filename,
                        f"archive entry {info.filename!r} is a symbolic link; links are not allowed in dataset "
                        "archives (replace it with the file itself)",
                    )
                if mode and stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                    raise ArchiveError(
                        "archive_special_file", info.filename, f"archive entry {info.filename!r} is not a regular file"
                    )
                if info.is_dir() or not parts:
                    continue
                if info.flag_bits & 0x1:
                    raise ArchiveError(
                        "archive_encrypted",
                        info.filename,
                        f"archive entry {info.filename!r} is password-protected; upload an unencrypted archive",
                    )
                extractor.count_file(info.filename, info.file_size)
                declared += info.file_size
                if not _is_junk(parts):
                    plan.append((info, parts))
            if declared > limits.max_uncompressed_bytes:
                raise _declared_too_large(path, declared, limits, complete=True)
            check_free_space(path, dest, declared)
            for info, parts in plan:
                with archive.open(info) as stream:
                    extractor.write(info.filename, parts, stream)
    except ArchiveError:
        raise
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
        RuntimeError,
    ) as error:
        raise ArchiveError(
            "archive_corrupt", path.name, f"{path.name} is not a readable zip archive: {_reason(error, dest)}"
        ) from None


@contextmanager
def _reading_tar(path: Path, dest: Path) -> Iterator[tarfile.TarFile]:
    """``path`` opened as a stream (one pass, no member list in memory); read errors become ``archive_corrupt``."""
    try:
        with tarfile.open(path, mode="r|*") as archive:
            yield archive
    except ArchiveError:
        raise
    except (tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as error:
        raise ArchiveError(
            "archive_corrupt", path.name, f"{path.name} is not a readable tar archive: {_reason(error, dest)}"
        ) from None
    except Exception as error:  # lzma.LZMAError, bz2 errors, …: never crash on a hostile file
        raise ArchiveError(
            "archive_corrupt", path.name, f"{path.name} is not a readable tar archive: {_reason(error, dest)}"
        ) from None


def _tar_files(archive: tarfile.TarFile) -> Iterator[tuple[tarfile.TarInfo, tuple[str, ...]]]:
    """Every regular file of a streaming tar with its path parts, once each entry passed the safety checks."""
    for member in archive:
        name = member.name
        parts = safe_member_path(name)
        if member.issym():
            raise ArchiveError(
                "archive_symlink",
                name,
                f"archive entry {name!r} is a symbolic link (to {member.linkname!r}); links are not "
                "allowed in dataset archives (replace it with the file itself)",
            )
        if member.islnk():
            raise ArchiveError(
                "archive_hardlink",
                name,
                f"archive entry {name!r} is a hard link (to {member.linkname!r}); links are not allowed "
                "in dataset archives (re-create the archive without hard links)",
            )
        if member.isdir():
            continue
        if not member.isfile():
            raise ArchiveError(
                "archive_special_file",
                name,
                f"archive entry {name!r} is a device, FIFO or other special file; only regular files are allowed",
            )
        if parts:
            yield member, parts


def _extract_tar(path: Path, dest: Path, limits: Limits) -> None:
    # First pass: the headers only (decompressing the stream, writing nothing), stopped as soon as the
    # declared sizes pass the limit; a tar has no central directory to read them from.
    counter = _Extractor(dest, limits)
    declared = 0
    with _reading_tar(path, dest) as archive:
        for member, _parts in _tar_files(archive):
            counter.count_file(member.name, member.size)
            declared += member.size
            if declared > limits.max_uncompressed_bytes:
                raise _declared_too_large(path, declared, limits, complete=False)
    check_free_space(path, dest, declared)
    extractor = _Extractor(dest, limits)
    with _reading_tar(path, dest) as archive:
        for member, parts in _tar_files(archive):
            extractor.count_file(member.name, member.size)
            if _is_junk(parts):
                continue
            stream = archive.extractfile(member)
            if stream is None:
                raise ArchiveError("archive_corrupt", member.name, f"archive entry {member.name!r} cannot be read")
            with stream:
                extractor.write(member.name, parts, stream)


def extract_archive(path: Path, dest: Path, limits: Limits = DEFAULT_LIMITS) -> None:
    """Extract ``path`` into the existing empty folder ``dest``; raises :class:`ArchiveError`."""
    path = Path(path)
    kind = archive_kind(path)
    if kind == "zip":
        _extract_zip(path, Path(dest), limits)
    elif kind == "tar":
        _extract_tar(path, Path(dest), limits)
    else:
        raise ArchiveError(
            "unsupported_source",
            path.name,
            f"{path.name} is not a folder, .zip or .tar(.gz/.bz2/.xz) archive",
        )


@contextmanager
def temporary_folder(limits: Limits = DEFAULT_LIMITS) -> Iterator[Path]:
    """A fresh private folder under ``limits.temp_dir``, always removed on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-dataset-", dir=limits.temp_dir))
    try:
        os.chmod(tmp, 0o700)
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def extracted(path: Path, limits: Limits = DEFAULT_LIMITS) -> Iterator[Path]:
    """Extract into a fresh temporary folder, yield it, and always remove it afterwards."""
    with temporary_folder(limits) as tmp:
        extract_archive(path, tmp, limits)
        yield tmp
