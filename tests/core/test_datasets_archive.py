"""Archive safety: every unsafe or broken archive gives its own blocking problem code, never a crash."""

from __future__ import annotations

import io
import os
import stat
import struct
import tarfile
import zipfile
import zlib

import pytest

from kdsam_core.datasets import Limits, inspect_dataset, iter_samples, open_dataset
from kdsam_core.datasets.archive import ArchiveError, extract_archive


def _codes(report):
    return [p["code"] for p in report.problems]


def huge_png(width: int, height: int) -> bytes:
    """A tiny PNG file whose header declares ``width`` x ``height`` pixels (decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\0" * (width + 1)))
        + chunk(b"IEND", b"")
    )


def _tar_with(path, members):
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


def test_zip_with_dataset_one_folder_down_is_detected(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "kvasir-seg.zip", folder=datasets_kit.fixtures / "kvasir_seg")
    report = inspect_dataset(archive)
    assert (report.archive, report.format, report.root, report.pairs, report.problems) == (
        True,
        "kvasir_seg",
        "Kvasir-SEG",
        2,
        [],
    )


def test_targz_with_dataset_two_folders_down_is_detected(tmp_path, datasets_kit):
    archive = datasets_kit.make_targz(tmp_path / "busi.tar.gz", datasets_kit.fixtures / "busi", arc_prefix="export/")
    report = inspect_dataset(archive)
    assert (report.format, report.root, report.pairs) == ("busi", "export/Dataset_BUSI_with_GT", 3)


def test_macos_resource_forks_in_zip_are_ignored(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(
        tmp_path / "isic.zip",
        entries={"__MACOSX/ISIC-2017_Training_Data/._ISIC_0010444.jpg": b"\0\5\x16\7junk", ".DS_Store": b"x"},
        folder=datasets_kit.fixtures / "isic2017",
    )
    report = inspect_dataset(archive)
    assert (report.format, report.pairs, report.problems) == ("isic", 3, [])


def test_zip_slip_entry_is_archive_path_traversal(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(
        tmp_path / "evil.zip", entries={"data/images/a.png": b"x", "data/../../evil.txt": b"pwned"}
    )
    report = inspect_dataset(archive, Limits(temp_dir=str(tmp_path)))
    assert _codes(report) == ["archive_path_traversal"] and not report.importable
    assert report.problems[0]["path"] == "data/../../evil.txt" and report.problems[0]["blocking"]
    assert not list(tmp_path.rglob("evil.txt"))


def test_absolute_entry_path_is_archive_absolute_path(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "abs.zip", entries={"/tmp/kdsam-evil.png": b"x"})
    assert _codes(inspect_dataset(archive)) == ["archive_absolute_path"]


def test_windows_drive_entry_path_is_archive_absolute_path(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "abs.zip", entries={"C:\\Windows\\evil.png": b"x"})
    assert _codes(inspect_dataset(archive)) == ["archive_absolute_path"]


def test_tar_entry_with_parent_reference_is_archive_path_traversal(tmp_path):
    info = tarfile.TarInfo("../escape.png")
    info.size = 1
    assert _codes(inspect_dataset(_tar_with(tmp_path / "t.tar.gz", [(info, b"x")]))) == ["archive_path_traversal"]


def test_symlink_in_zip_is_archive_symlink(tmp_path):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as archive:
        info = zipfile.ZipInfo("images/a.png")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc/passwd")
    assert _codes(inspect_dataset(path)) == ["archive_symlink"]


def test_symlink_in_tar_is_archive_symlink(tmp_path):
    info = tarfile.TarInfo("images/a.png")
    info.type = tarfile.SYMTYPE
    info.linkname = "/etc/passwd"
    assert _codes(inspect_dataset(_tar_with(tmp_path / "t.tar.gz", [(info, None)]))) == ["archive_symlink"]


def test_hardlink_in_tar_is_archive_hardlink(tmp_path):
    regular = tarfile.TarInfo("images/a.png")
    regular.size = 1
    link = tarfile.TarInfo("images/b.png")
    link.type = tarfile.LNKTYPE
    link.linkname = "/etc/passwd"
    report = inspect_dataset(_tar_with(tmp_path / "t.tar.gz", [(regular, b"x"), (link, None)]))
    assert _codes(report) == ["archive_hardlink"]


def test_fifo_in_tar_is_archive_special_file(tmp_path):
    fifo = tarfile.TarInfo("images/pipe")
    fifo.type = tarfile.FIFOTYPE
    assert _codes(inspect_dataset(_tar_with(tmp_path / "t.tar.gz", [(fifo, None)]))) == ["archive_special_file"]


def test_archive_expanding_beyond_the_size_limit_is_archive_too_large(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "big.zip", entries={"images/a.png": b"\0" * 50_000})
    assert os.path.getsize(archive) < 5_000
    report = inspect_dataset(archive, Limits(max_uncompressed_bytes=10_000))
    assert _codes(report) == ["archive_too_large"] and "10000" in report.problems[0]["message"]


def test_targz_expanding_beyond_the_size_limit_is_archive_too_large(tmp_path):
    info = tarfile.TarInfo("images/a.png")
    info.size = 50_000
    report = inspect_dataset(
        _tar_with(tmp_path / "big.tar.gz", [(info, b"\0" * 50_000)]), Limits(max_uncompressed_bytes=10_000)
    )
    assert _codes(report) == ["archive_too_large"]


def test_archive_with_too_many_files_is_archive_too_many_files(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "many.zip", entries={f"images/{i}.png": b"x" for i in range(6)})
    assert _codes(inspect_dataset(archive, Limits(max_files=5))) == ["archive_too_many_files"]


def test_duplicate_entries_are_archive_duplicate_entry(tmp_path):
    path = tmp_path / "dup.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/a.png", b"1")
        with pytest.warns(UserWarning):
            archive.writestr("images/a.png", b"2")
    assert _codes(inspect_dataset(path)) == ["archive_duplicate_entry"]


def test_encrypted_zip_entry_is_archive_encrypted(tmp_path, datasets_kit):
    path = datasets_kit.make_zip(tmp_path / "enc.zip", entries={"images/a.png": b"secret"})
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the "encrypted" flag bit
        position = data.find(signature)
        data[position + offset] |= 0x01
    path.write_bytes(bytes(data))
    assert _codes(inspect_dataset(path)) == ["archive_encrypted"]


def test_garbage_with_zip_extension_is_archive_corrupt(tmp_path):
    path = tmp_path / "broken.zip"
    path.write_bytes(b"PK\x03\x04 this is not really a zip file")
    assert _codes(inspect_dataset(path)) == ["archive_corrupt"]


def test_truncated_targz_is_archive_corrupt(tmp_path, datasets_kit):
    archive = datasets_kit.make_targz(tmp_path / "full.tar.gz", datasets_kit.fixtures / "busi")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(archive.read_bytes()[: os.path.getsize(archive) // 2])
    assert _codes(inspect_dataset(cut)) == ["archive_corrupt"]


def test_plain_file_is_unsupported_source(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    report = inspect_dataset(path)
    assert _codes(report) == ["unsupported_source"] and not report.importable


def test_decompression_bomb_image_in_archive_is_decompression_bomb(tmp_path, datasets_kit):
    entries = {
        "images/bomb.png": huge_png(60_000, 60_000),
        "masks/bomb.png": datasets_kit.png_bytes(datasets_kit.disk()),
    }
    report = inspect_dataset(datasets_kit.make_zip(tmp_path / "bomb.zip", entries=entries))
    assert "decompression_bomb" in _codes(report) and not report.importable
    problem = next(p for p in report.problems if p["code"] == "decompression_bomb")
    assert problem["path"] == "images/bomb.png" and problem["blocking"]


def test_image_over_the_pixel_limit_is_decompression_bomb(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path, count=1)
    report = inspect_dataset(tmp_path, Limits(max_image_pixels=1_000))
    assert _codes(report) == ["decompression_bomb"]


def test_extraction_folder_is_removed_after_inspection(tmp_path, datasets_kit):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    archive = datasets_kit.make_zip(tmp_path / "kv.zip", folder=datasets_kit.fixtures / "kvasir_seg")
    inspect_dataset(archive, Limits(temp_dir=str(scratch)))
    samples = list(iter_samples(archive, Limits(temp_dir=str(scratch))))
    assert len(samples) == 2 and list(scratch.iterdir()) == []


def test_extraction_folder_is_removed_after_an_unsafe_archive(tmp_path, datasets_kit):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    archive = datasets_kit.make_zip(tmp_path / "evil.zip", entries={"a.png": b"x", "../b.png": b"y"})
    inspect_dataset(archive, Limits(temp_dir=str(scratch)))
    assert list(scratch.iterdir()) == []


def test_extraction_folder_is_removed_when_the_caller_raises(tmp_path, datasets_kit):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    archive = datasets_kit.make_zip(tmp_path / "kv.zip", folder=datasets_kit.fixtures / "kvasir_seg")
    with pytest.raises(RuntimeError), open_dataset(archive, Limits(temp_dir=str(scratch))):
        raise RuntimeError("boom")
    assert list(scratch.iterdir()) == []


def test_extract_archive_raises_archive_error_with_the_entry(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "evil.zip", entries={"../../x": b"x"})
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError) as error:
        extract_archive(archive, tmp_path / "out")
    assert (error.value.code, error.value.path) == ("archive_path_traversal", "../../x")


def test_symlink_leading_outside_a_folder_is_unsafe_symlink(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "ds", count=1)
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", tmp_path / "ds" / "images" / "leak.png")
    report = inspect_dataset(tmp_path / "ds")
    assert _codes(report) == ["unsafe_symlink"] and report.problems[0]["path"] == "images/leak.png"


def test_unsafe_symlink_message_does_not_show_where_the_link_points(tmp_path, datasets_kit):
    datasets_kit.generic_dataset(tmp_path / "ds", count=1)
    (tmp_path / "secret.png").write_bytes(b"x")
    os.symlink(tmp_path / "secret.png", tmp_path / "ds" / "images" / "leak.png")
    message = inspect_dataset(tmp_path / "ds").problems[0]["message"]
    assert str(tmp_path) not in message and message.startswith("images/leak.png is a symbolic link")


def _files_under(folder):
    return [p for p in folder.rglob("*") if p.is_file()]


def test_zip_declaring_more_than_the_size_limit_is_refused_before_any_file_is_written(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(
        tmp_path / "bomb.zip", entries={"images/a.png": b"x" * 100, "images/b.png": b"\0" * 50_000}
    )
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError) as error:
        extract_archive(archive, tmp_path / "out", Limits(max_uncompressed_bytes=10_000))
    assert (error.value.code, error.value.path) == ("archive_too_large", "bomb.zip")
    message = error.value.message
    assert all(text in message for text in ("bomb.zip", "50100 bytes", "10000 bytes", "split the dataset"))
    assert "KDSAM_MAX_DATASET_UNCOMPRESSED_GB" in message
    assert _files_under(tmp_path / "out") == []


def test_targz_declaring_more_than_the_size_limit_is_refused_before_any_file_is_written(tmp_path):
    small, big = tarfile.TarInfo("images/a.png"), tarfile.TarInfo("images/b.png")
    small.size, big.size = 100, 50_000
    archive = _tar_with(tmp_path / "bomb.tar.gz", [(small, b"x" * 100), (big, b"\0" * 50_000)])
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError) as error:
        extract_archive(archive, tmp_path / "out", Limits(max_uncompressed_bytes=10_000))
    assert _files_under(tmp_path / "out") == []
    assert (error.value.code, error.value.path) == ("archive_too_large", "bomb.tar.gz")
    assert all(text in error.value.message for text in ("bomb.tar.gz", "10000 bytes", "split the dataset"))


def test_zip_declaring_more_than_the_free_space_is_archive_insufficient_storage(tmp_path, datasets_kit, monkeypatch):
    from types import SimpleNamespace

    from kdsam_core.datasets import archive as archive_module

    seen = []

    def disk_usage(path):
        seen.append(path)
        return SimpleNamespace(total=10**9, used=10**9 - 20_000, free=20_000)

    monkeypatch.setattr(archive_module.shutil, "disk_usage", disk_usage)
    archive = datasets_kit.make_zip(tmp_path / "big.zip", entries={"images/a.png": b"\0" * 50_000})
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError) as error:
        extract_archive(archive, tmp_path / "out")
    assert (error.value.code, error.value.path) == ("archive_insufficient_storage", "big.zip")
    assert all(text in error.value.message for text in ("big.zip", "50000 bytes", "20000 bytes (19.5 KiB) free"))
    assert seen == [tmp_path / "out"] and _files_under(tmp_path / "out") == []


def test_zip_understating_its_sizes_never_writes_more_than_it_declares(tmp_path, datasets_kit):
    archive = datasets_kit.make_zip(tmp_path / "liar.zip", entries={"images/a.png": b"\0" * 50_000})
    data = bytearray(archive.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):  # uncompressed size: 50000 -> 100
        position = data.find(signature)
        assert struct.unpack_from("<I", data, position + offset) == (50_000,)
        struct.pack_into("<I", data, position + offset, 100)
    archive.write_bytes(bytes(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(ArchiveError):
        extract_archive(archive, tmp_path / "out", Limits(max_uncompressed_bytes=10_000))
    assert sum(p.stat().st_size for p in _files_under(tmp_path / "out")) <= 100


def test_extraction_stops_once_the_bytes_written_pass_the_limit(tmp_path):
    from kdsam_core.datasets.archive import _Extractor

    extractor = _Extractor(tmp_path, Limits(max_uncompressed_bytes=10_000))
    with pytest.raises(ArchiveError) as error:
        extractor.write("images/a.png", ("images", "a.png"), io.BytesIO(b"\0" * (3 * 1024 * 1024)))
    assert error.value.code == "archive_too_large"
    assert (tmp_path / "images" / "a.png").stat().st_size <= 10_000
