"""Resource limits applied while reading untrusted datasets (uploads, archives)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

GIB = 1024**3


@dataclass(frozen=True)
class Limits:
    """Upper bounds that protect the importer against hostile or accidental huge inputs.

    ``max_uncompressed_bytes`` bounds the total size of the files an archive expands to (checked on
    the declared sizes before anything is extracted, where the free space of the extraction folder's
    disk bounds them too, and again on the bytes actually written);
    ``max_files`` bounds the number of files in an archive or a folder; ``max_image_pixels`` bounds
    ``width * height`` of every image and mask, checked from the file header before any pixel is
    decoded (decompression bombs); ``temp_dir`` is where archives are extracted (the system default
    when ``None``); the extraction folder is always removed afterwards.
    """

    max_uncompressed_bytes: int = 16 * GIB
    max_files: int = 200_000
    max_image_pixels: int = 100_000_000
    temp_dir: str | None = None

    def __post_init__(self) -> None:
        for name in ("max_uncompressed_bytes", "max_files", "max_image_pixels"):
            value = getattr(self, name)
            if not isinstance(value, int) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if data["temp_dir"] is not None:
            data["temp_dir"] = str(Path(data["temp_dir"]))
        return data


DEFAULT_LIMITS = Limits()
