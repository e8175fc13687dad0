"""``kdsam finetune``: phase 2, fine-tune the prompt encoder + mask decoder on a frozen encoder."""

from __future__ import annotations

import argparse
import json

from kdsam_core.cli import CliError
from kdsam_core.cli._training_args import (
    add_data,
    add_device,
    add_progress,
    device_of,
    existing_file,
    load_data,
    progress_callback,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "finetune",
        help="phase 2: fine-tune the decoder with Dice loss on a frozen encoder",
        description="Fine-tune a KD-SAM checkpoint's prompt encoder and mask decoder with Dice loss "
        "(optionally + BCE) using prompts simulated from the ground truth. Writes a new "
        "KD-SAM file, its decoder ONNX exports and an evaluation on the validation split.",
    )
    p.add_argument("--checkpoint", required=True, help="KD-SAM checkpoint (e.g. from kdsam distill)")
    add_data(p, masks=True)
    o = p.add_argument_group("training")
    o.add_argument("--out", default="runs/finetune")
    o.add_argument("--cache", help="student-embedding cache folder (default OUT/cache)")
    o.add_argument("--loss", default="dice", choices=["dice", "dice+bce"])
    o.add_argument("--epochs", type=int, default=20)
    o.add_argument("--batch-size", type=int, default=8)
    o.add_argument("--lr", type=float, default=1e-4)
    o.add_argument("--weight-decay", type=float, default=1e-3)
    o.add_argument("--patience", type=int, default=5, help="early-stopping patience in epochs")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    o.add_argument("--no-onnx", action="store_true", help="skip the decoder ONNX export")
    q = p.add_argument_group("prompt simulation")
    q.add_argument("--prompt-mode", default="box", choices=["box", "points", "box+points"])
    q.add_argument("--box-jitter", type=int, default=20, help="max pixels each box side moves (default 20)")
    q.add_argument("--pos-points", type=int, default=1)
    q.add_argument("--neg-points", type=int, default=0)
    q.add_argument("--iterative-clicks", type=int, default=0, help="correction clicks per image (default 0)")
    add_device(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kdsam_core.modeling.checkpoint import CheckpointError, load_kdsam
    from kdsam_core.training.finetune import FinetuneConfig, finetune
    from kdsam_core.training.prompts import PromptConfig

    existing_file(args.checkpoint, "KD-SAM checkpoint")
    device = device_of(args)
    train, val = load_data(args, masks=True)
    try:
        model, metadata = load_kdsam(Path(args.checkpoint))
    except CheckpointError as error:
        raise CliError(str(error)) from error
    cfg = FinetuneConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        loss=args.loss,
        prompts=PromptConfig(
            mode=args.prompt_mode,
            box_jitter=args.box_jitter,
            positive_points=args.pos_points,
            negative_points=args.neg_points,
            iterative_clicks=args.iterative_clicks,
        ),
        early_stopping_patience=args.patience,
        seed=args.seed,
        export_onnx=not args.no_onnx,
    )
    extra = {"parent_checkpoint": str(args.checkpoint)}
    if "teacher" in metadata:
        extra["teacher"] = metadata["teacher"]
    try:
        result = finetune(
            model,
            train,
            val,
            args.out,
            cfg,
            cache_dir=args.cache,
            device=device,
            resume=args.resume,
            callback=progress_callback(args),
            metadata=extra,
        )
    except (CheckpointError, ValueError) as error:
        raise CliError(str(error)) from error
    print(
        json.dumps(
            {
                "checkpoint": str(result.checkpoint),
                "best_epoch": result.best_epoch,
                "onnx": result.onnx,
                "evaluation": result.evaluation,
                "cache": result.cache,
            },
            indent=1,
            default=str,
        )
    )
    return 0
