"""Dataset format readers. Each module has ``KEY``, ``TITLE``, ``detect(root) -> bool`` (cheap:
folder listings only) and ``read(root, ctx) -> ReadResult`` (no pixel decoding)."""

from __future__ import annotations

from types import ModuleType

from kdsam_core.datasets.formats import busi, dicom, generic, hc18, isic, kvasir

#: detection order: specific layouts first, the catch-all generic layout last
FORMATS: dict[str, ModuleType] = {module.KEY: module for module in (kvasir, isic, hc18, busi, dicom, generic)}
SPECIFIC_FORMATS = tuple(key for key in FORMATS if key != generic.KEY)


def get_format(key: str) -> ModuleType:
    try:
        return FORMATS[key]
    except KeyError:
        raise ValueError(f"unknown dataset format {key!r}; choose one of {', '.join(FORMATS)}") from None
