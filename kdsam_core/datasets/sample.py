"""The unit every reader yields: one image, its mask file(s) and its labels."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kdsam_core.datasets.limits import DEFAULT_LIMITS
from kdsam_core.datasets.masks import RULE_AUTO, load_mask_files


@dataclass(frozen=True)
class Sample:
    """One image of a dataset.

    ``id`` is the image file's stem (unique within the dataset), ``group`` the split group (the
    subject for HC18, the id itself where a format has no subject), ``label`` the class (BUSI) or
    ``None``. ``unlabelled`` images have no mask; ``negative`` ones have an empty mask (known up
    front for BUSI ``normal``, otherwise set by validation). ``subset`` is the original partition
    where the release has one (``"training"``, ``"validation"``, ``"test"``). ``image`` and ``masks`` are
    the paths relative to the dataset source (for reports). ``width``/``height``/``content_hash`` are filled
    in by validation. ``meta`` holds allow-listed DICOM tags (never patient data).
    """

    id: str
    image_path: Path
    mask_paths: tuple[Path, ...] = ()
    group: str = ""
    label: str | None = None
    unlabelled: bool = False
    negative: bool = False
    subset: str | None = None
    format: str = "generic"
    image: str = ""
    masks: tuple[str, ...] = ()
    mask_rule: str = RULE_AUTO
    mask_label: int | None = None
    width: int | None = None
    height: int | None = None
    content_hash: str | None = None
    meta: dict[str, Any] = field(default_factory=dict, compare=False)
    max_image_pixels: int = field(default=DEFAULT_LIMITS.max_image_pixels, compare=False)

    @property
    def split_group(self) -> str:
        return self.group or self.id

    @property
    def class_label(self) -> str | None:
        return self.label

    @property
    def flags(self) -> tuple[str, ...]:
        return tuple(name for name in ("negative", "unlabelled") if getattr(self, name))

    def load_image(self) -> np.ndarray:
        """Decoded image, ``uint8`` ``(H, W)`` (grayscale, incl. equal-channel RGB) or ``(H, W, 3)``."""
        from kdsam_core.datasets.images import read_image_array

        return read_image_array(self.image_path, self.max_image_pixels)

    def load_mask(self) -> np.ndarray | None:
        """Binary ``uint8`` mask (0/1), ``None`` for unlabelled images.

        A negative without a mask file (BUSI ``normal`` without ``_mask.png``) gives zeros of the
        image's size.
        """
        if self.unlabelled:
            return None
        if not self.mask_paths:
            if self.width is not None and self.height is not None:
                return np.zeros((self.height, self.width), dtype=np.uint8)
            return np.zeros(self.load_image().shape[:2], dtype=np.uint8)
        return load_mask_files(
            self.mask_paths, rule=self.mask_rule, label=self.mask_label, max_pixels=self.max_image_pixels
        ).mask

    def to_dict(self) -> dict[str, Any]:
        """JSON-serialisable description (paths as strings)."""
        return {
            "id": self.id,
            "image": self.image,
            "image_path": str(self.image_path),
            "masks": list(self.masks),
            "mask_paths": [str(p) for p in self.mask_paths],
            "group": self.split_group,
            "label": self.label,
            "flags": list(self.flags),
            "subset": self.subset,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "content_hash": self.content_hash,
            "meta": dict(self.meta),
        }
