"""Format auto-detection: find the dataset root (the source itself or up to two folders down)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from kdsam_core.datasets.formats import FORMATS, SPECIFIC_FORMATS, generic, get_format
from kdsam_core.datasets.fs import dirs_in, relative
from kdsam_core.datasets.problems import Problem

MAX_DEPTH = 2
_MAX_DIRS_PER_LEVEL = 500

LAYOUT_HELP = (
    "supported layouts: Kvasir-SEG (images/ + masks/ JPEGs), ISIC 2016-2018 (ISIC_<id>.jpg + "
    "ISIC_<id>_segmentation.png), HC18 (training_set/<n>_HC.png + <n>_HC_Annotation.png), BUSI "
    "(<class>/<class> (<n>).png + _mask.png), DICOM (images/*.dcm + masks/*.png), generic "
    "(images/ + masks/ with matching names, or a CSV with image,mask columns)"
)


@dataclass
class Detection:
    format: str | None
    root: Path | None
    problems: list[Problem] = field(default_factory=list)


def _levels(base: Path, max_depth: int) -> list[list[Path]]:
    levels = [[base]]
    for _ in range(max_depth):
        nxt: list[Path] = []
        for folder in levels[-1]:
            nxt.extend(dirs_in(folder))
            if len(nxt) >= _MAX_DIRS_PER_LEVEL:
                break
        if not nxt:
            break
        levels.append(nxt[:_MAX_DIRS_PER_LEVEL])
    return levels


def detect_format(base: Path, format: str | None = None, max_depth: int = MAX_DEPTH) -> Detection:
    """Find which format the folder ``base`` holds and where its root is.

    Specific formats and the structured generic layouts (``images/`` folder, CSV manifest) are
    searched first, shallowest match wins; a flat folder of images counts only when nothing else is
    found. Several matches at the same depth give ``ambiguous_format``; none gives
    ``unknown_format``. With ``format`` given only that format is searched for.
    """
    base = Path(base)
    if format is not None:
        get_format(format)
        passes: list[list[tuple[str, Callable[[Path], bool]]]] = [[(format, FORMATS[format].detect)]]
    else:
        strong = [(key, FORMATS[key].detect) for key in SPECIFIC_FORMATS] + [(generic.KEY, generic.detect_structured)]
        passes = [strong, [(generic.KEY, generic.detect)]]
    levels = _levels(base, max_depth)
    for detectors in passes:
        for folders in levels:
            matches: list[tuple[str, Path]] = []
            for folder in folders:
                key = next((k for k, detect in detectors if detect(folder)), None)
                if key is not None:
                    matches.append((key, folder))
            if len(matches) == 1:
                key, root = matches[0]
                return Detection(key, root)
            if matches:
                listed = ", ".join(f"{relative(root, base) or '.'} ({key})" for key, root in matches[:6])
                return Detection(
                    None,
                    None,
                    [
                        Problem(
                            "ambiguous_format",
                            ".",
                            f"several datasets were found: {listed}; "
                            "upload one dataset at a time, or point to its folder",
                        )
                    ],
                )
    wanted = f"no {FORMATS[format].TITLE} dataset" if format else "no supported dataset layout"
    return Detection(
        None,
        None,
        [
            Problem(
                "unknown_format",
                ".",
                f"{wanted} was found in the top three folder levels; {LAYOUT_HELP}",
            )
        ],
    )
