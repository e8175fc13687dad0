"""``kdsam evaluate``: Dice/IoU of several models on the same images and prompts; Table 1, Figures 2–3."""

from __future__ import annotations

import argparse
import json

from kdsam_core.cli import CliError
from kdsam_core.cli._training_args import (
    add_device,
    add_progress,
    device_of,
    existing_dir,
    load_model_spec,
    model_spec_forms,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="compare models (Dice, IoU) on datasets with simulated prompts",
        description="Evaluate every --model on every --dataset with identical prompts (default: one box = "
        "the ground-truth bounding box). Writes results.json, table1.md (the paper's Table 1 "
        "layout), figure2_dice.png (box plot + bar chart) and figure3_cases.png (best/worst cases).",
    )
    p.add_argument(
        "--model",
        action="append",
        required=True,
        metavar="[LABEL:]NAME[=CHECKPOINT]",
        help=f"a model: {', '.join(model_spec_forms())}, or "
        "random[=KDSAM_FILE] (random-init KD-SAM, the floor); repeat for several",
    )
    p.add_argument(
        "--dataset",
        action="append",
        required=True,
        nargs="+",
        metavar="NAME IMAGES MASKS [SUFFIX]",
        help="a dataset: its name, image folder, mask folder and optional mask-name suffix; repeatable",
    )
    p.add_argument("--out", default="runs/evaluate")
    p.add_argument("--prompt-mode", default="box", choices=["box", "points", "box+points"])
    p.add_argument("--box-jitter", type=int, default=0, help="box jitter in pixels (default 0: the protocol)")
    p.add_argument("--pos-points", type=int, default=1)
    p.add_argument("--neg-points", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-figures", action="store_true")
    add_device(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kdsam_core.evaluation.evaluate import compare_models
    from kdsam_core.evaluation.reports import write_reports
    from kdsam_core.training.data import pairs_from_folders
    from kdsam_core.training.prompts import PromptConfig

    device = device_of(args)
    datasets = {}
    for spec in args.dataset:
        if len(spec) not in (3, 4):
            raise CliError(f"--dataset takes NAME IMAGES MASKS [SUFFIX], got {' '.join(spec)!r}")
        name, images, masks = spec[:3]
        existing_dir(images, f"image folder of dataset {name}")
        existing_dir(masks, f"mask folder of dataset {name}")
        try:
            datasets[name] = pairs_from_folders(images, masks, spec[3] if len(spec) == 4 else "")
        except FileNotFoundError as error:
            raise CliError(str(error)) from error
    models, info = {}, {}
    for spec in args.model:
        label, model, details = load_model_spec(spec)
        models[label], info[label] = model, details
    protocol = PromptConfig(
        mode=args.prompt_mode,
        box_jitter=args.box_jitter,
        positive_points=args.pos_points if "points" in args.prompt_mode else 0,
        negative_points=args.neg_points if "points" in args.prompt_mode else 0,
    )
    comparison = compare_models(models, datasets, protocol=protocol, device=device, seed=args.seed, model_info=info)
    paths = write_reports(comparison, args.out, figures=not args.no_figures, models=models, device=str(device))
    summary = {
        d: {
            m: {"dice_mean": s["dice"]["mean"], "iou_mean": s["iou"]["mean"], "n": s["dice"]["n"]}
            for m, s in by.items()
        }
        for d, by in comparison.summary().items()
    }
    print(json.dumps({"summary": summary, "files": paths}, indent=1))
    return 0
