"""``kdsam params``: parameter counts of a model as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kdsam_core.cli import CliError
from kdsam_core.cli._training_args import add_device, existing_file
from kdsam_core.modeling.registry import KDSAM, OFFICIAL_TEACHERS

CHOICES = [KDSAM, *(t.name for t in OFFICIAL_TEACHERS)]


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "params",
        help="print parameter counts of a model as JSON",
        description='Print {"total", "image_encoder", "prompt_encoder", "mask_decoder"} parameter counts. '
        "Without --checkpoint the model is built with random initialisation (on the meta "
        "device: no memory, no download).",
    )
    parser.add_argument("--model", required=True, choices=CHOICES, help="which model")
    parser.add_argument("--checkpoint", help="optional checkpoint file (counts the model it holds)")
    add_device(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kdsam_core.modeling.build import count_parameters
    from kdsam_core.modeling.checkpoint import CheckpointError
    from kdsam_core.modeling.teachers import build_model_for_params, load_model

    if args.checkpoint:
        existing_file(args.checkpoint, f"{args.model} checkpoint")
        try:
            model, _ = load_model(args.model, Path(args.checkpoint))
        except CheckpointError as error:
            raise CliError(str(error)) from error
    else:
        model = build_model_for_params(args.model)
    counts = count_parameters(model)
    print(json.dumps({k: counts.get(k, 0) for k in ("total", "image_encoder", "prompt_encoder", "mask_decoder")}))
    return 0
