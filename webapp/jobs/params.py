"""Parameters of each job kind: typed, with the paper's defaults, validated with field-named errors.

Each kind is a dataclass; :func:`validate_params` fills defaults, checks types and ranges and
returns a plain dict, or raises :class:`ParamsError` naming the field. :func:`schemas` describes
every field (type, default, choices, help) for the forms that start jobs.
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field, fields
from typing import Any


class ParamsError(ValueError):
    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name}: {message}")
        self.field = field_name
        self.message = message


def _f(
    default=MISSING, *, help: str, choices: tuple | None = None, minimum=None, maximum=None, kind: str | None = None
):
    metadata = {"help": help, "choices": choices, "minimum": minimum, "maximum": maximum, "kind": kind}
    if default is MISSING:
        return field(metadata=metadata)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=metadata)
    return field(default=default, metadata=metadata)


TEACHERS = ("vit_h", "vit_l", "vit_b", "vit_t", "tiny")


@dataclass
class DistillParams:
    """Phase 1: distil a SAM teacher's image encoder into the ResNet-50 student (METHOD.md defaults)."""

    dataset: int = _f(
        help="Dataset whose images are distilled on (its train split; val for the schedule)", kind="dataset"
    )
    teacher: str = _f("vit_h", help="Teacher encoder", choices=TEACHERS)
    epochs: int = _f(100, help="Maximum epochs", minimum=1, maximum=1000)
    batch_size: int = _f(16, help="Batch size", minimum=1, maximum=1024)
    lr: float = _f(1e-4, help="Adam learning rate", minimum=1e-8, maximum=1.0)
    weight_decay: float = _f(1e-3, help="Adam weight decay", minimum=0.0, maximum=1.0)
    loss: str = _f("mse+perceptual", help="Distillation loss", choices=("mse", "mse+perceptual"))
    perceptual_weight: float = _f(1.0, help="λ of the perceptual term", minimum=0.0, maximum=100.0)
    early_stopping_patience: int = _f(
        10, help="Epochs without validation improvement before stopping", minimum=1, maximum=1000
    )
    plateau_patience: int = _f(
        3, help="Epochs before ReduceLROnPlateau multiplies the LR by 0.1", minimum=1, maximum=1000
    )
    imagenet_init: bool = _f(
        False, help="Initialise the ResNet-50 trunk from resnet50 ImageNet weights in the weights dir"
    )
    seed: int = _f(0, help="Random seed", minimum=0)


@dataclass
class FinetuneParams:
    """Phase 2: fine-tune the prompt encoder + mask decoder with Dice loss, encoder frozen."""

    dataset: int = _f(help="Dataset with masks (train split trains, val split selects the best epoch)", kind="dataset")
    model_version: int = _f(help="Model version to start from (its encoder stays frozen)", kind="model_version")
    epochs: int = _f(20, help="Maximum epochs", minimum=1, maximum=1000)
    batch_size: int = _f(8, help="Images per optimiser step", minimum=1, maximum=1024)
    lr: float = _f(1e-4, help="Adam learning rate", minimum=1e-8, maximum=1.0)
    weight_decay: float = _f(1e-3, help="Adam weight decay", minimum=0.0, maximum=1.0)
    loss: str = _f("dice", help="Training loss", choices=("dice", "dice+bce"))
    prompt_mode: str = _f("box", help="Simulated prompts", choices=("box", "points", "box+points"))
    box_jitter: int = _f(20, help="Box sides move by up to this many pixels", minimum=0, maximum=200)
    positive_points: int = _f(1, help="Positive points per prompt (points modes)", minimum=0, maximum=20)
    negative_points: int = _f(0, help="Negative points per prompt (points modes)", minimum=0, maximum=20)
    early_stopping_patience: int = _f(
        5, help="Epochs without validation improvement before stopping", minimum=1, maximum=1000
    )
    seed: int = _f(0, help="Random seed", minimum=0)


@dataclass
class EvaluateParams:
    """Dice/IoU of models on a dataset split with the paper's protocol (one box = GT bounding box)."""

    dataset: int = _f(help="Dataset to evaluate on", kind="dataset")
    model_versions: list = _f(help="Model versions to compare", kind="model_versions")
    split: str = _f("test", help="Split of the dataset", choices=("train", "val", "test", "all"))
    prompt_mode: str = _f("box", help="Prompt protocol", choices=("box", "points", "box+points"))
    seed: int = _f(0, help="Random seed of prompt simulation", minimum=0)


@dataclass
class ExportParams:
    """Decoder ONNX (official contract), optionally dynamically int8-quantised."""

    model_version: int = _f(help="Model version to export", kind="model_version")
    quantize: bool = _f(True, help="Also write a dynamically int8-quantised decoder")


@dataclass
class EmbedParams:
    """Precompute the student embeddings of a whole dataset (speeds up fine-tuning and evaluation)."""

    dataset: int = _f(help="Dataset to embed", kind="dataset")
    model_version: int = _f(help="Model version whose encoder embeds", kind="model_version")


PARAMS_BY_KIND = {
    "distill": DistillParams,
    "finetune": FinetuneParams,
    "evaluate": EvaluateParams,
    "export": ExportParams,
    "embed": EmbedParams,
}

#: Which queue each kind runs on.
QUEUE_BY_KIND = {"distill": "gpu", "finetune": "gpu", "evaluate": "gpu", "embed": "gpu", "export": "cpu"}


def _coerce(name: str, value: Any, annotation: str, meta: dict) -> Any:
    if annotation == "bool":
        if isinstance(value, bool):
            return value
        raise ParamsError(name, f"must be true or false, got {value!r}")
    if annotation == "int":
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ParamsError(name, f"must be an integer, got {value!r}")
        try:
            number = int(value)
        except ValueError:
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
    elif annotation == "str":
        if not isinstance(value, str):
            raise ParamsError(name, f"must be text, got {value!r}")
    elif annotation == "list" and (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise ParamsError(name, f"must be a non-empty list of ids, got {value!r}")
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
        elif f.default_factory is not MISSING:  # type: ignore[misc]
            values[f.name] = f.default_factory()  # type: ignore[misc]
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
                    "required": f.default is MISSING and f.default_factory is MISSING,  # type: ignore[misc]
                    "default": default,
                    "help": f.metadata["help"],
                    "choices": list(f.metadata["choices"] or []),
                    "minimum": f.metadata["minimum"],
                    "maximum": f.metadata["maximum"],
                    "kind": f.metadata["kind"],
                }
            )
        result[kind] = {"description": (cls.__doc__ or "").strip(), "queue": QUEUE_BY_KIND[kind], "fields": items}
    return result
