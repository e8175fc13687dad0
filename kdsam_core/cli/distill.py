"""``kdsam distill``: phase 1, distil a SAM / MobileSAM image encoder into the ResNet student."""

from __future__ import annotations

import argparse
import json
from typing import Any

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
from kdsam_core.modeling.registry import DEFAULT_TEACHER, MOBILESAM, TEACHERS, TINY


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "distill",
        help="phase 1: distil the teacher's image encoder into the student",
        description="Train the KD-SAM student encoder to reproduce a teacher's embeddings "
        "(L = MSE + λ·perceptual). Teacher embeddings are cached on disk (float16); "
        "every epoch writes OUT/last.pt, which --resume continues from. Runs under "
        "torchrun with DistributedDataParallel when launched that way.",
    )
    t = p.add_argument_group("models")
    t.add_argument(
        "--teacher",
        default=DEFAULT_TEACHER,
        choices=list(TEACHERS),
        help=f"teacher kind ({MOBILESAM.kind} = {MOBILESAM.family}; {TINY.kind} = test-only small ViT) "
        f"(default {DEFAULT_TEACHER})",
    )
    t.add_argument("--teacher-checkpoint", required=True, help="official SAM / MobileSAM checkpoint file")
    t.add_argument("--imagenet-weights", help="torchvision ResNet-50 ImageNet weights file for the student trunk")
    add_data(p, masks=False)
    o = p.add_argument_group("training")
    o.add_argument("--out", default="runs/distill", help="run folder (default runs/distill)")
    o.add_argument("--cache", help="teacher-embedding cache folder (default OUT/cache)")
    o.add_argument("--loss", default="mse+perceptual", choices=["mse", "mse+perceptual"])
    o.add_argument("--perceptual-weight", type=float, default=1.0, help="λ (default 1)")
    o.add_argument("--vgg-weights", help="torchvision VGG16 ImageNet weights file (default: fixed-seed random VGG)")
    o.add_argument("--epochs", type=int, default=100)
    o.add_argument("--batch-size", type=int, default=16)
    o.add_argument("--lr", type=float, default=1e-4)
    o.add_argument("--weight-decay", type=float, default=1e-3)
    o.add_argument("--patience", type=int, default=10, help="early-stopping patience in epochs (default 10)")
    o.add_argument("--plateau-patience", type=int, default=3, help="ReduceLROnPlateau patience (default 3)")
    o.add_argument("--seed", type=int, default=0)
    o.add_argument(
        "--workers", type=int, default=0, help="data-loading worker processes (default 0: in the main process)"
    )
    o.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    add_device(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kdsam_core.modeling.checkpoint import CheckpointError
    from kdsam_core.modeling.teachers import build_kdsam_from_teacher, load_teacher_sam, teacher_config
    from kdsam_core.training.distill import DistillConfig, distill

    existing_file(args.teacher_checkpoint, f"{args.teacher} teacher checkpoint")
    existing_file(args.imagenet_weights, "ImageNet ResNet weights file")
    existing_file(args.vgg_weights, "VGG16 weights file")
    device = device_of(args)
    train, val = load_data(args, masks=False)
    try:
        teacher = load_teacher_sam(args.teacher, args.teacher_checkpoint)
        config = teacher_config(args.teacher)
        if args.teacher == TINY.kind:
            from kdsam_core.modeling.tiny import tiny_config

            encoder: Any = teacher.image_encoder  # segment-anything's ImageEncoderViT (untyped)
            config = tiny_config(int(encoder.img_size))
        model = build_kdsam_from_teacher(
            args.teacher,
            args.teacher_checkpoint,
            config,
            imagenet_weights=args.imagenet_weights,
            teacher=teacher,
            seed=args.seed,
        )
    except CheckpointError as error:
        raise CliError(str(error)) from error
    cfg = DistillConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        loss=args.loss,
        perceptual_weight=args.perceptual_weight,
        vgg_weights=args.vgg_weights,
        early_stopping_patience=args.patience,
        plateau_patience=args.plateau_patience,
        seed=args.seed,
        num_workers=args.workers,
    )
    metadata = {
        "student_init": "imagenet" if args.imagenet_weights else "random",
        "teacher_checkpoint": str(args.teacher_checkpoint),
    }
    try:
        result = distill(
            model,
            teacher,
            train,
            val,
            args.out,
            cfg,
            cache_dir=args.cache,
            teacher_kind=args.teacher,
            device=device,
            resume=args.resume,
            callback=progress_callback(args),
            metadata=metadata,
        )
    except (CheckpointError, ValueError) as error:  # e.g. --resume with other settings, size mismatch
        raise CliError(str(error)) from error
    from kdsam_core.training import ddp

    if ddp.launched_with_torchrun():
        import torch.distributed as dist

        rank = dist.get_rank() if dist.is_initialized() else 0
        ddp.cleanup_distributed()
        if rank != 0:
            return 0
    summary = {
        "checkpoint": str(result.checkpoint),
        "best_epoch": result.best_epoch,
        "best_val_loss": result.best_val_loss,
        "epochs_run": len(result.history),
        "stopped_early": result.stopped_early,
        "cache": result.cache,
        "loss": result.loss,
    }
    print(json.dumps(summary, indent=1, default=str))
    return 0
