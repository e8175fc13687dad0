"""File-system helpers shared by the readers: listing without junk, folder safety scan."""

from __future__ import annotations

import os
from pathlib import Path

from kdsam_core.datasets.limits import Limits
from kdsam_core.datasets.problems import Problem

JUNK_NAMES = frozenset({".DS_Store", "Thumbs.db", "desktop.ini", "__MACOSX"})


def is_junk(name: str) -> bool:
    return name in JUNK_NAMES or name.startswith(".")


def list_dir(folder: Path) -> list[Path]:
    """Non-junk entries of ``folder``, sorted by name; ``[]`` if it is not a readable folder."""
    try:
        with os.scandir(folder) as entries:
            names = sorted(entry.name for entry in entries if not is_junk(entry.name))
    except OSError:
        return []
    return [folder / name for name in names]


def files_in(folder: Path) -> list[Path]:
    return [p for p in list_dir(folder) if p.is_file()]


def dirs_in(folder: Path) -> list[Path]:
    return [p for p in list_dir(folder) if p.is_dir()]


def walk_files(folder: Path, max_depth: int = 8) -> list[Path]:
    """All non-junk files under ``folder`` (sorted, at most ``max_depth`` levels deep)."""
    result: list[Path] = []
    stack = [(folder, 0)]
    while stack:
        current, depth = stack.pop()
        for entry in list_dir(current):
            if entry.is_dir():
                if depth < max_depth:
                    stack.append((entry, depth + 1))
            elif entry.is_file():
                result.append(entry)
    return sorted(result)


def find_child(folder: Path, *names: str) -> Path | None:
    """The sub-folder of ``folder`` whose name matches one of ``names`` case-insensitively."""
    wanted = [n.lower() for n in names]
    by_name = {p.name.lower(): p for p in dirs_in(folder)}
    for name in wanted:
        if name in by_name:
            return by_name[name]
    return None


def relative(path: Path, base: Path) -> str:
    try:
        return Path(path).relative_to(base).as_posix()
    except ValueError:
        return Path(path).name


def scan_folder(root: Path, limits: Limits) -> list[Problem]:
    """Blocking problems of a folder source: too many files, symlinks leading outside it."""
    root_resolved = root.resolve()
    count = 0
    for current, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = [d for d in dirnames if not is_junk(d)]
        here = Path(current)
        for name in list(dirnames) + filenames:
            path = here / name
            if path.is_symlink():
                target = path.resolve()
                if target != root_resolved and root_resolved not in target.parents:
                    return [
                        Problem(
                            "unsafe_symlink",
                            relative(path, root),
                            f"{relative(path, root)} is a symbolic link to a file outside the dataset folder; "
                            "replace it with the file itself",
                        )
                    ]
        count += sum(1 for f in filenames if not is_junk(f))
        if count > limits.max_files:
            return [
                Problem(
                    "too_many_files",
                    relative(here, root) or ".",
                    f"the folder holds more than {limits.max_files} files; point to the dataset folder itself "
                    "or raise the file-count limit",
                )
            ]
    return []
