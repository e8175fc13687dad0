"""Parameters of each job kind: typed, with the paper's defaults, validated with field-named errors.

Each kind is a dataclass; :func:`validate_params` fills defaults, checks types and ranges and
returns a plain dict, or raises :class:`ParamsError` naming the field. :func:`schemas` describes
every field (type, default, choices, help) for the forms that start jobs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from typing import Any

from kdsam_core.modeling import registry
from webapp.kdsam_studio.api_input import BIGINT_MAX
from webapp.kdsam_studio.queues import queue_for_job_kind


class ParamsError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _meta(
    *, help: str, choices: tuple | None = None, minimum=None, maximum=None, kind: str | None = None
) -> dict[str, Any]:
    """A parameter's description for :func:`schemas` and :func:`validate_params` (a field's ``metadata``)."""
    return {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "kind": kind}


#: Largest random seed (NumPy's legacy seeding range; torch seeds ``seed * 100_003 + epoch`` stay below 2**64).
SEED_MAX = 2**32 - 1

#: Parameter kinds whose values are ids of rows (datasets, model versions): 1 to ``BIGINT_MAX``.
ID_KINDS = ("dataset", "model_version", "model_versions")

#: Teacher kinds a distill job takes (kdsam_core's registry of teachers).
TEACHERS = tuple(registry.TEACHERS)


@dataclass
class DistillParams:
    """Phase 1: distil a SAM teacher's image encoder into the ResNet-50 student (METHOD.md defaults)."""

    dataset: int = field(
        metadata=_meta(
            help="Dataset whose images are distilled on (its train split; val for the schedule)", kind="dataset"
        )
    )
    teacher: str = field(default=registry.DEFAULT_TEACHER, metadata=_meta(help="Teacher encoder", choices=TEACHERS))
    epochs: int = field(default=100, metadata=_meta(help="Maximum epochs", minimum=1, maximum=1000))
    batch_size: int = field(default=16, metadata=_meta(help="Batch size", minimum=1, maximum=1024))
    lr: float = field(default=1e-4, metadata=_meta(help="Adam learning rate", minimum=1e-8, maximum=1.0))
    weight_decay: float = field(default=1e-3, metadata=_meta(help="Adam weight decay", minimum=0.0, maximum=1.0))
    loss: str = field(
        default="mse+perceptual", metadata=_meta(help="Distillation loss", choices=("mse", "mse+perceptual"))
    )
    perceptual_weight: float = field(
        default=1.0, metadata=_meta(help="λ of the perceptual term", minimum=0.0, maximum=100.0)
    )
    early_stopping_patience: int = field(
        default=10,
        metadata=_meta(help="Epochs without validation improvement before stopping", minimum=1, maximum=1000),
    )
    plateau_patience: int = field(
        default=3,
        metadata=_meta(help="Epochs before ReduceLROnPlateau multiplies the LR by 0.1", minimum=1, maximum=1000),
    )
    imagenet_init: bool = field(
        default=False,
        metadata=_meta(help="Initialise the ResNet-50 trunk from resnet50 ImageNet weights in the weights dir"),
    )
    seed: int = field(default=0, metadata=_meta(help="Random seed", minimum=0, maximum=SEED_MAX))


@dataclass
class FinetuneParams:
    """Phase 2: fine-tune the prompt encoder + mask decoder with Dice loss, encoder frozen."""

    dataset: int = field(
        metadata=_meta(help="Dataset with masks (train split trains, val split selects the best epoch)", kind="dataset")
    )
    model_version: int = field(
        metadata=_meta(help="Model version to start from (its encoder stays frozen)", kind="model_version")
    )
    epochs: int = field(default=20, metadata=_meta(help="Maximum epochs", minimum=1, maximum=1000))
    batch_size: int = field(default=8, metadata=_meta(help="Images per optimiser step", minimum=1, maximum=1024))
    lr: float = field(default=1e-4, metadata=_meta(help="Adam learning rate", minimum=1e-8, maximum=1.0))
    weight_decay: float = field(default=1e-3, metadata=_meta(help="Adam weight decay", minimum=0.0, maximum=1.0))
    loss: str = field(default="dice", metadata=_meta(help="Training loss", choices=("dice", "dice+bce")))
    prompt_mode: str = field(
        default="box", metadata=_meta(help="Simulated prompts", choices=("box", "points", "box+points"))
    )
    box_jitter: int = field(
        default=20, metadata=_meta(help="Box sides move by up to this many pixels", minimum=0, maximum=200)
    )
    positive_points: int = field(
        default=1, metadata=_meta(help="Positive points per prompt (points modes)", minimum=0, maximum=20)
    )
    negative_points: int = field(
        default=0, metadata=_meta(help="Negative points per prompt (points modes)", minimum=0, maximum=20)
    )
    early_stopping_patience: int = field(
        default=5, metadata=_meta(help="Epochs without validation improvement before stopping", minimum=1, maximum=1000)
    )
    seed: int = field(default=0, metadata=_meta(help="Random seed", minimum=0, maximum=SEED_MAX))


@dataclass
class EvaluateParams:
    """Dice/IoU of models on a dataset split with the paper's protocol (one box = GT bounding box)."""

    dataset: int = field(metadata=_meta(help="Dataset to evaluate on", kind="dataset"))
    model_versions: list = field(metadata=_meta(help="Model versions to compare", kind="model_versions"))
    split: str = field(
        default="test", metadata=_meta(help="Split of the dataset", choices=("train", "val", "test", "all"))
    )
    prompt_mode: str = field(
        default="box", metadata=_meta(help="Prompt protocol", choices=("box", "points", "box+points"))
    )
    seed: int = field(default=0, metadata=_meta(help="Random seed of prompt simulation", minimum=0, maximum=SEED_MAX))


@dataclass
class ExportParams:
    """Decoder ONNX (official contract), optionally dynamically int8-quantised."""

    model_version: int = field(metadata=_meta(help="Model version to export", kind="model_version"))
    quantize: bool = field(default=True, metadata=_meta(help="Also write a dynamically int8-quantised decoder"))


@dataclass
class EmbedParams:
    """Precompute the student embeddings of a whole dataset (speeds up fine-tuning and evaluation)."""

    dataset: int = field(metadata=_meta(help="Dataset to embed", kind="dataset"))
    model_version: int = field(metadata=_meta(help="Model version whose encoder embeds", kind="model_version"))


PARAMS_BY_KIND = {
    "distill": DistillParams,
    "finetune": FinetuneParams,
    "evaluate": EvaluateParams,
    "export": ExportParams,
    "embed": EmbedParams,
}


def _coerce(name: str, value: Any, annotation: type | str, meta: Mapping[str, Any]) -> Any:
    if annotation == "bool":
        if isinstance(value, bool):
            return value
        raise ParamsError(name, f"must be true or false, got {value!r}")
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ParamsError(name, f"must be an integer, got {value!r}")
        try:
            number = int(value)
        except (ValueError, OverflowError):  # OverflowError: JSON's 1e400 is float('inf')
            raise ParamsError(name, f"must be an integer, got {value!r}") from None
        if isinstance(value, float) and value != number:
            raise ParamsError(name, f"must be an integer, got {value!r}")
        value = number
    elif annotation == "float":
        if isinstance(value, bool):
            raise ParamsError(name, f"must be a number, got {value!r}")
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise ParamsError(name, f"must be a number, got {value!r}") from None
        if not math.isfinite(value):
            raise ParamsError(name, f"must be a finite number, got {value!r}")
    elif annotation == "str":
        if not isinstance(value, str):
            raise ParamsError(name, f"must be text, got {value!r}")
    elif annotation == "list" and (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ParamsError(name, f"must be a non-empty list of ids, got {value!r}")
    if meta.get("kind") in ID_KINDS:
        ids = value if isinstance(value, list) else [value]
        if not all(1 <= v <= BIGINT_MAX for v in ids):
            raise ParamsError(name, f"ids are whole numbers from 1 to {BIGINT_MAX}, got {value}")
    if meta.get("choices") and value not in meta["choices"]:
        raise ParamsError(name, f"{value!r} is not one of {', '.join(map(str, meta['choices']))}")
    if meta.get("minimum") is not None and value < meta["minimum"]:
        raise ParamsError(name, f"must be at least {meta['minimum']}, got {value}")
    if meta.get("maximum") is not None and value > meta["maximum"]:
        raise ParamsError(name, f"must be at most {meta['maximum']}, got {value}")
    return value


def validate_params(kind: str, raw: dict | None) -> dict:
    """Defaults filled in, types checked; raises :class:`ParamsError` naming the field."""
    if kind not in PARAMS_BY_KIND:
        raise ParamsError("kind", f"unknown job kind {kind!r}; choose one of {', '.join(PARAMS_BY_KIND)}")
    raw = dict(raw or {})
    cls = PARAMS_BY_KIND[kind]
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ParamsError(unknown[0], f"is not a parameter of {kind} jobs (known: {', '.join(sorted(known))})")
    values = {}
    for f in fields(cls):
        if f.name in raw and raw[f.name] is not None:
            values[f.name] = _coerce(f.name, raw[f.name], f.type, f.metadata)
        elif f.default is not MISSING:
            values[f.name] = f.default
        elif f.default_factory is not MISSING:
            values[f.name] = f.default_factory()
        else:
            raise ParamsError(f.name, "is required")
    return values


def schemas() -> dict[str, dict]:
    """Every kind's fields for forms: ``{kind: {"description", "fields": [{name, type, default, ...}]}}``."""
    result = {}
    for kind, cls in PARAMS_BY_KIND.items():
        items = []
        for f in fields(cls):
            default = None if f.default is MISSING else f.default
            items.append(
                {
                    "name": f.name,
                    "type": f.type,
                    "required": f.default is MISSING and f.default_factory is MISSING,
                    "default": default,
                    "help": f.metadata["help"],
                    "choices": list(f.metadata["choices"] or []),
                    "minimum": f.metadata["minimum"],
                    "maximum": f.metadata["maximum"],
                    "kind": f.metadata["kind"],
                }
            )
        result[kind] = {"description": (cls.__doc__ or "").strip(), "queue": queue_for_job_kind(kind), "fields": items}
    return result
