"""Argument helpers shared by the training/evaluation subcommands (not a subcommand itself)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from kdsam_core.cli import CliError
from kdsam_core.modeling.registry import KDSAM, TEACHERS


def add_device(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--device",
        default="auto",
        choices=["auto", "cpu", "cuda"],
        help="where to run: auto (CUDA when available), cpu or cuda (default: auto)",
    )


def add_progress(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--progress",
        default="bar",
        choices=["bar", "json", "none"],
        help="progress display: a progress bar on stderr, JSON lines on stdout, or nothing",
    )


def progress_callback(args):
    from kdsam_core.training.progress import JsonLinesProgress, TqdmProgress

    if args.progress == "json":
        return JsonLinesProgress(sys.stdout)
    if args.progress == "none":
        return None
    return TqdmProgress(sys.stderr)


def device_of(args):
    from kdsam_core.inference import resolve_device

    try:
        return resolve_device(args.device)
    except RuntimeError as error:
        raise CliError(str(error)) from error


def existing_file(path: str | None, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_file():
        raise CliError(f"{what} not found: {p}")
    return p


def existing_dir(path: str | None, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if not p.is_dir():
        raise CliError(f"{what} not found (or not a folder): {p}")
    return p


def add_data(parser: argparse.ArgumentParser, masks: bool) -> None:
    group = parser.add_argument_group("data")
    group.add_argument("--images", required=True, help="folder of training images (searched recursively)")
    if masks:
        group.add_argument("--masks", required=True, help="folder of masks, paired with images by file stem")
        group.add_argument(
            "--mask-suffix", default="", help="mask name = image stem + this suffix (e.g. _segmentation)"
        )
    group.add_argument("--val-images", help="folder of validation images (default: a split of --images)")
    if masks:
        group.add_argument("--val-masks", help="folder of validation masks")
    group.add_argument(
        "--val-fraction",
        type=float,
        default=0.1,
        help="fraction of --images held out for validation when --val-images is not given (default 0.1)",
    )


def load_data(args, masks: bool):
    from kdsam_core.training.data import Sample, images_in_folder, pairs_from_folders, split_samples

    existing_dir(args.images, "image folder")
    try:
        if masks:
            existing_dir(args.masks, "mask folder")
            train = pairs_from_folders(args.images, args.masks, args.mask_suffix)
        else:
            train = [Sample(image=p, id=str(p.relative_to(args.images))) for p in images_in_folder(args.images)]
        if not train:
            raise CliError(f"no images found in {args.images}")
        if args.val_images:
            existing_dir(args.val_images, "validation image folder")
            if masks:
                if not args.val_masks:
                    raise CliError("--val-images needs --val-masks")
                existing_dir(args.val_masks, "validation mask folder")
                val = pairs_from_folders(args.val_images, args.val_masks, args.mask_suffix)
            else:
                val = [
                    Sample(image=p, id=str(p.relative_to(args.val_images))) for p in images_in_folder(args.val_images)
                ]
        else:
            train, val = split_samples(train, args.val_fraction, seed=getattr(args, "seed", 0))
    except FileNotFoundError as error:
        raise CliError(str(error)) from error
    return train, val


def model_spec_forms(*, test: bool = False) -> list[str]:
    """The ``NAME=FILE`` forms of ``--model``, one per family: ``kdsam=FILE``, then the SAM names
    joined by ``|``, and so on.

    ``test`` adds the test-only teacher.
    """
    families: dict[str, list[str]] = {}
    for teacher in TEACHERS.values():
        if teacher.official or test:
            families.setdefault(teacher.family, []).append(teacher.name)
    return [f"{KDSAM}=FILE", *(f"{'|'.join(names)}=FILE" for names in families.values())]


def parse_model_spec(spec: str) -> tuple[str, str, str | None]:
    """``[LABEL:]NAME[=CHECKPOINT]`` → ``(label, name, checkpoint)``."""
    label = None
    body = spec
    if ":" in spec.split("=", 1)[0]:
        label, body = spec.split(":", 1)
    name, _, checkpoint = body.partition("=")
    return (label or name), name, (checkpoint or None)


def load_model_spec(spec: str):
    """Load a model for evaluate/export/embed. ``random[=KDSAM_CKPT]`` is a random-init KD-SAM floor
    (with the checkpoint's architecture when given)."""
    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling.build import build_kdsam
    from kdsam_core.modeling.checkpoint import CheckpointError
    from kdsam_core.modeling.teachers import MODEL_NAMES, load_model

    label, name, checkpoint = parse_model_spec(spec)
    try:
        if name == "random":
            config = KDSamConfig()
            if checkpoint:
                existing_file(checkpoint, "KD-SAM checkpoint")
                from kdsam_core.modeling.checkpoint import load_kdsam

                config = load_kdsam(Path(checkpoint))[0].kdsam_config
            return label, build_kdsam(config, seed=0), {"model": "kdsam", "weights": "random (seed 0)"}
        if name not in MODEL_NAMES:
            raise CliError(f"unknown model {name!r} in {spec!r}; use one of {[*sorted(MODEL_NAMES), 'random']}")
        if checkpoint is None:
            raise CliError(f"--model {spec}: give the checkpoint file as {name}=PATH")
        existing_file(checkpoint, f"{name} checkpoint")
        model, info = load_model(name, checkpoint)
        info.pop("metadata", None)
        return label, model, info
    except CheckpointError as error:
        raise CliError(str(error)) from error
