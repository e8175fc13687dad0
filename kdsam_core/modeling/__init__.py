"""Model definitions: the student encoder, the KD-SAM model and teachers, and their registry.

The names below are imported on first use, so that :mod:`kdsam_core.modeling.registry` (the table
of teachers read by argument parsers, Django models and reports) can be imported without torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kdsam_core.modeling.build import build_kdsam, count_parameters
    from kdsam_core.modeling.student import StudentEncoder

__all__ = ["StudentEncoder", "build_kdsam", "count_parameters"]

_MODULE_OF = {"StudentEncoder": "student", "build_kdsam": "build", "count_parameters": "build"}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
