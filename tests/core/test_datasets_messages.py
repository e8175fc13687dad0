"""Problem messages name files relative to the dataset (or by the archive's name), never by a server path."""

from __future__ import annotations

import io
import json
import tarfile
import zipfile

import pytest

from kdsam_core.datasets import Limits, inspect_dataset


def _entries(datasets_kit) -> list[tuple[str, bytes]]:
    """A file ``data/images`` and then a file inside a folder of the same name: it cannot be written."""
    return [("data/images", b"not a folder"), ("data/images/case0.png", datasets_kit.png_bytes(datasets_kit.noise()))]


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            archive.writestr(name, data)
    return path


def _tar(path, entries):
    with tarfile.open(path, "w") as archive:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("build, name", [(_zip, "scans.zip"), (_tar, "scans.tar")])
def test_archive_problem_does_not_show_the_extraction_folder(tmp_path, datasets_kit, build, name):
    extraction = tmp_path / "server-temp"
    extraction.mkdir()
    archive = build(tmp_path / name, _entries(datasets_kit))
    report = inspect_dataset(archive, Limits(temp_dir=str(extraction)))
    problems = json.dumps(report.problems)
    assert report.problems and not report.importable
    assert str(extraction) not in problems and "kdsam-dataset-" not in problems


@pytest.mark.parametrize("build, name", [(_zip, "scans.zip"), (_tar, "scans.tar")])
def test_archive_problem_names_the_entry_relative_to_the_archive(tmp_path, datasets_kit, build, name):
    extraction = tmp_path / "server-temp"
    extraction.mkdir()
    report = inspect_dataset(build(tmp_path / name, _entries(datasets_kit)), Limits(temp_dir=str(extraction)))
    [problem] = report.problems
    assert name in problem["message"] and "data/images" in problem["message"]
