"""Format readers called directly on folders that do not hold their layout."""

from __future__ import annotations

from kdsam_core.datasets.formats import kvasir
from kdsam_core.datasets.formats.base import ReadContext


def test_kvasir_read_of_a_folder_without_images_and_masks_finds_nothing(tmp_path):
    (tmp_path / "images").mkdir()  # no masks/ folder: not a Kvasir-SEG layout
    (tmp_path / "images" / "a.jpg").write_bytes(b"")

    result = kvasir.read(tmp_path, ReadContext(base=tmp_path))

    assert (result.samples, result.problems) == ([], [])
