"""Phase 1: distil a teacher image encoder into the student (METHOD.md, "Phase 1").

:func:`distill` trains ``model.image_encoder`` (the student of a KD-SAM model) to reproduce the
teacher's embeddings with :class:`~kdsam_core.losses.DistillationLoss`. Teacher embeddings are
computed once per image and cached on disk (float16, :class:`~kdsam_core.training.caches.EmbeddingCache`),
so later epochs and later runs only cost the student. Every epoch ends with a checkpoint
(``last.pt``); ``resume=True`` continues from it and produces exactly the weights an uninterrupted
run would (the data order of each epoch is a pure function of ``seed`` and the epoch number).

:func:`distill` reads as its steps: start the run, prepare the data (teacher embeddings cached),
load the resume state, build the loss and the trainer, train the epochs, export the KD-SAM file.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.optim.lr_scheduler import ReduceLROnPlateau

import kdsam_core
from kdsam_core.config import PREPROCESSING_VERSION
from kdsam_core.inference import resolve_device, run_image_encoder
from kdsam_core.losses import DistillationLoss, EmbeddingRenderer, PerceptualLoss, VGG16Features
from kdsam_core.modeling.checkpoint import CheckpointError, save_kdsam
from kdsam_core.training import ddp
from kdsam_core.training.caches import CacheStats, EmbeddingCache, fill_cache, teacher_identity
from kdsam_core.training.common import (
    PreparedImages,
    encoder_img_size,
    encoder_of,
    epoch_batches,
    set_determinism,
)
from kdsam_core.training.data import Sample, as_samples
from kdsam_core.training.progress import CallbackList, ProgressEvent, StopTraining, Throughput

STATE_FORMAT = "kdsam-distill-state"


@dataclass
class DistillConfig:
    """Hyper-parameters of phase 1 (defaults: the paper / METHOD.md)."""

    epochs: int = 100
    batch_size: int = 16  #: global batch (split over ranks under torchrun)
    lr: float = 1e-4
    weight_decay: float = 1e-3
    loss: str = "mse+perceptual"  #: "mse" or "mse+perceptual"
    perceptual_weight: float = 1.0  #: λ of eq. 1
    vgg_weights: str | None = None  #: local torchvision vgg16 state dict; None → fixed-seed random VGG
    pca_images: int = 64  #: training images whose teacher embeddings fit the PCA rendering
    early_stopping_patience: int = 10  #: epochs without validation improvement before stopping
    plateau_patience: int = 3  #: ReduceLROnPlateau patience (epochs)
    plateau_factor: float = 0.1
    min_lr: float = 1e-7
    seed: int = 0
    teacher_batch_size: int = 4
    num_workers: int = 0  #: DataLoader worker processes (image decoding + resizing)
    memory_cache_images: int = 64  #: keep this many resized images in RAM between epochs

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DistillResult:
    checkpoint: Path  #: the KD-SAM file (best epoch's student + teacher's decoder)
    history: list[dict[str, float]]
    best_epoch: int
    best_val_loss: float
    stopped_early: bool
    cache: dict[str, Any]
    loss: dict[str, Any]
    out_dir: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkpoint"] = str(self.checkpoint)
        data["out_dir"] = str(self.out_dir)
        return data


class _PairDataset(torch.utils.data.Dataset):
    """``(image (3, S, S) float32, teacher embedding (256, S/16, S/16) float32)`` of each prepared image."""

    def __init__(self, images: PreparedImages, cache: EmbeddingCache) -> None:
        self.images = images
        self.cache = cache

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.images.tensor(index), self.cache.load(self.images.hashes[index])


# --------------------------------------------------------------------------------------------------
# The run's pieces
# --------------------------------------------------------------------------------------------------


@dataclass
class _Run:
    """Where and how this process trains: its device, its rank, the run folder and the progress sink."""

    device: torch.device
    info: ddp.DistInfo
    out_dir: Path
    emit: CallbackList

    @property
    def state_path(self) -> Path:
        return self.out_dir / "last.pt"


@dataclass
class _Data:
    """The images of the run and their cached teacher embeddings."""

    train_samples: list[Sample]
    val_samples: list[Sample]
    train_set: _PairDataset
    val_set: _PairDataset
    teacher_id: str
    cache: EmbeddingCache
    cache_stats: CacheStats


@dataclass
class _Trainer:
    """The student being trained and what updates it."""

    student: nn.Module  #: the encoder whose weights are saved (BatchNorm rank-synchronised under DDP)
    wrapped: nn.Module  #: what the training forward goes through (``student`` wrapped in DDP under torchrun)
    optimizer: torch.optim.Optimizer
    scheduler: ReduceLROnPlateau
    loss_fn: DistillationLoss
    renderer_state: dict[str, torch.Tensor] | None  #: the PCA rendering of the perceptual loss (saved with the run)


@dataclass
class _Progress:
    """What ``last.pt`` records of the epochs done (early stopping and the result)."""

    history: list[dict[str, float]] = field(default_factory=list)
    best_val: float = math.inf
    best_epoch: int = 0
    bad_epochs: int = 0
    last_epoch: int = 0
    stopped_early: bool = False


@dataclass
class _Pace:
    """Images/s and the optimiser steps left in the run (the ETA of progress events)."""

    steps_per_epoch: int
    steps_left: int
    meter: Throughput = field(default_factory=Throughput)


def _start_run(
    out_dir: Path | str, device: str | torch.device, callback: Callable[[ProgressEvent], None] | None
) -> _Run:
    """Resolve the device, join the torchrun process group (if any) and create the run folder."""
    device = resolve_device(device) if isinstance(device, str) else device
    info = ddp.setup_distributed(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    out_dir = Path(out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    return _Run(device, info, out_dir, CallbackList(callback if info.is_main else None))


def _check_encoders(student: nn.Module, teacher_encoder: nn.Module) -> int:
    """The common input side ``S``; a teacher with another input size is an error."""
    img_size = encoder_img_size(student)
    if int(getattr(teacher_encoder, "img_size", img_size)) != img_size:
        raise ValueError(
            f"teacher input size {encoder_img_size(teacher_encoder)} differs from the student's {img_size}; "
            "build the student with the teacher's image size"
        )
    return img_size


def _prepare_data(
    teacher: nn.Module,
    train_samples: list[Sample],
    val_samples: list[Sample],
    img_size: int,
    cache_dir: Path,
    teacher_kind: str,
    config: DistillConfig,
    run: _Run,
) -> _Data:
    """Prepare the images and make sure every one has its teacher embedding ``(256, S/16, S/16)`` cached.

    Teacher embeddings are computed once per image: rank 0 fills the cache, the other ranks wait.
    """
    teacher_encoder = encoder_of(teacher)
    train_images = PreparedImages(train_samples, img_size, config.memory_cache_images)
    val_images = PreparedImages(val_samples, img_size, config.memory_cache_images)
    teacher_id = teacher_identity(teacher, teacher_kind)
    cache = EmbeddingCache(cache_dir, teacher_id, img_size, PREPROCESSING_VERSION)
    cache_stats = CacheStats()
    if run.info.is_main:
        teacher_encoder.to(run.device)
        for images, what in ((train_images, "teacher embeddings (train)"), (val_images, "teacher embeddings (val)")):
            stats = fill_cache(
                teacher_encoder, images, cache, run.device, config.teacher_batch_size, run.emit, what=what
            )
            cache_stats.hits += stats.hits
            cache_stats.misses += stats.misses
        teacher_encoder.to("cpu")
    ddp.barrier(run.info)
    if run.device.type == "cuda":
        torch.cuda.empty_cache()
    train_set, val_set = _PairDataset(train_images, cache), _PairDataset(val_images, cache)
    sample_shape = train_set[0][1].shape
    if tuple(sample_shape) != (256, img_size // 16, img_size // 16):
        raise ValueError(
            f"teacher embeddings have shape {tuple(sample_shape)}, expected (256, {img_size // 16}, {img_size // 16})"
        )
    return _Data(train_samples, val_samples, train_set, val_set, teacher_id, cache, cache_stats)


def _load_state(state_path: Path, config: DistillConfig) -> dict[str, Any]:
    """The interrupted run's ``last.pt``; settings that change the result must match ``config``."""
    if not state_path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint to resume from at {state_path}")
    state: dict[str, Any] = torch.load(state_path, map_location="cpu", weights_only=False)
    if state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{state_path} is not a distillation state file")
    for key in ("loss", "perceptual_weight", "batch_size", "seed", "lr", "weight_decay"):
        if state["config"].get(key) != getattr(config, key):
            raise ValueError(
                f"--resume with a different {key} ({getattr(config, key)!r}) than the interrupted "
                f"run ({state['config'].get(key)!r}); use the same settings or start a new run"
            )
    return state


def _build_loss(
    config: DistillConfig, train_set: _PairDataset, state: dict[str, Any] | None, run: _Run
) -> tuple[DistillationLoss, dict[str, torch.Tensor] | None]:
    """The loss and its PCA rendering's state (fitted once on teacher embeddings, stored as ``pca.pt``)."""
    perceptual = None
    renderer_state = None
    if config.loss == "mse+perceptual":
        if state is not None and state.get("renderer") is not None:
            renderer = EmbeddingRenderer.from_state(state["renderer"])
        else:
            count = min(config.pca_images, len(train_set))
            sample = torch.stack([train_set[i][1] for i in range(count)])
            renderer = EmbeddingRenderer.fit(sample, seed=config.seed)
        renderer_state = renderer.state()
        if run.info.is_main:
            torch.save(renderer_state, run.out_dir / "pca.pt")
        perceptual = PerceptualLoss(renderer, VGG16Features(config.vgg_weights)).to(run.device)
    return DistillationLoss(config.loss, config.perceptual_weight, perceptual).to(run.device), renderer_state


def _build_trainer(
    model: nn.Module,
    loss_fn: DistillationLoss,
    renderer_state: dict[str, torch.Tensor] | None,
    config: DistillConfig,
    state: dict[str, Any] | None,
    run: _Run,
) -> tuple[_Trainer, _Progress]:
    """Student on the device (rank-synchronised BatchNorm under DDP), Adam, ReduceLROnPlateau; restored
    from ``state`` when resuming."""
    student = encoder_of(model)
    student.to(run.device)
    if run.info.enabled:
        student = ddp.convert_sync_batchnorm(student, run.device)
        model.image_encoder = student  # keep the converted module reachable
    if run.device.type == "cuda":
        student.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr
    )
    progress = _Progress()
    if state is not None:
        student.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        progress = _Progress(
            history=state["history"],
            best_val=state["best_val"],
            best_epoch=state["best_epoch"],
            bad_epochs=state["bad_epochs"],
            last_epoch=state["epoch"],
            stopped_early=bool(state.get("stopped_early")),
        )
    wrapped: nn.Module = student
    if run.info.enabled:
        device_ids = [run.device.index] if run.device.type == "cuda" else None
        wrapped = nn.parallel.DistributedDataParallel(student, device_ids=device_ids)
    return _Trainer(student, wrapped, optimizer, scheduler, loss_fn, renderer_state), progress


# --------------------------------------------------------------------------------------------------
# Epochs
# --------------------------------------------------------------------------------------------------


def _evaluate(
    encoder: nn.Module,
    loss_fn: DistillationLoss,
    loader_batches: list[list[int]],
    dataset: _PairDataset,
    device: torch.device,
    info: ddp.DistInfo,
) -> dict[str, float]:
    """Mean of the loss terms over a set of images (each rank takes a strided share)."""
    encoder.eval()
    sums = torch.zeros(4, dtype=torch.float64)  # loss, mse, perceptual, count
    with torch.no_grad():
        for batch in loader_batches:
            mine = batch[info.rank :: info.world_size] if info.enabled else batch
            if not mine:
                continue
            images = torch.stack([dataset[i][0] for i in mine]).to(device)
            targets = torch.stack([dataset[i][1] for i in mine]).to(device)
            out = loss_fn(run_image_encoder(encoder, images, device), targets)
            n = len(mine)
            sums += torch.tensor(
                [
                    float(out.total) * n,
                    float(out.mse) * n,
                    float(out.perceptual if out.perceptual is not None else 0.0) * n,
                    n,
                ],
                dtype=torch.float64,
            )
    if info.enabled:
        import torch.distributed as dist

        sums = sums.to(device)  # NCCL reduces CUDA tensors only
        dist.all_reduce(sums, op=dist.ReduceOp.SUM)
        sums = sums.cpu()
    count = max(float(sums[3]), 1.0)
    result = {"loss": float(sums[0]) / count, "mse": float(sums[1]) / count}
    if loss_fn.perceptual is not None:
        result["perceptual"] = float(sums[2]) / count
    return result


def _epoch_plan(
    n_train: int, config: DistillConfig, epoch: int, info: ddp.DistInfo
) -> list[tuple[list[int], list[int]]]:
    """``(global batch, this rank's share)`` of each step of ``epoch``."""
    plan = []
    for batch in epoch_batches(n_train, config.batch_size, config.seed, epoch):
        if info.enabled and len(batch) < info.world_size:
            continue  # a tail batch too small to give every rank an image
        mine = np.array_split(np.array(batch), info.world_size)[info.rank].tolist() if info.enabled else batch
        plan.append((batch, mine))
    return plan


def _train_epoch(
    trainer: _Trainer, train_set: _PairDataset, config: DistillConfig, epoch: int, pace: _Pace, run: _Run
) -> dict[str, float]:
    """One pass over the training images; returns the epoch's mean losses as ``train_<term>``."""
    device, info = run.device, run.info
    trainer.wrapped.train()
    sums: dict[str, float] = {}
    seen = 0
    plan = _epoch_plan(len(train_set), config, epoch, info)
    loader = torch.utils.data.DataLoader(
        train_set,
        batch_sampler=[m for _, m in plan],
        num_workers=config.num_workers,
        pin_memory=device.type == "cuda",
    )
    for step, ((batch, mine), (images, targets)) in enumerate(zip(plan, loader), 1):
        images = images.to(device, non_blocking=True)
        targets = targets.to(device, non_blocking=True)
        # The serving encoder call (bf16 autocast + channels_last on CUDA); gradients flow through it.
        out = trainer.loss_fn(run_image_encoder(trainer.wrapped, images, device), targets)
        # DDP averages gradients over ranks: weight each rank's mean by its share of the batch.
        scale = len(mine) * info.world_size / len(batch) if info.enabled else 1.0
        trainer.optimizer.zero_grad(set_to_none=True)
        (out.total * scale).backward()
        trainer.optimizer.step()
        values = out.as_floats()
        if info.enabled:
            packed = torch.tensor(
                [values[k] * len(mine) for k in sorted(values)], dtype=torch.float64, device=device
            )  # NCCL reduces CUDA tensors only
            import torch.distributed as dist

            dist.all_reduce(packed, op=dist.ReduceOp.SUM)
            values = {k: float(v) / len(batch) for k, v in zip(sorted(values), packed)}
        for key, value in values.items():
            sums[key] = sums.get(key, 0.0) + value * len(batch)
        seen += len(batch)
        pace.meter.update(len(batch))
        pace.steps_left -= 1
        run.emit(
            ProgressEvent(
                kind="step",
                phase="distill",
                epoch=epoch,
                epochs=config.epochs,
                step=step,
                steps=pace.steps_per_epoch,
                losses=values,
                lr=trainer.optimizer.param_groups[0]["lr"],
                throughput=pace.meter.rate(),
                eta_s=pace.meter.eta(pace.steps_left),
            )
        )
    return {f"train_{k}": v / max(seen, 1) for k, v in sums.items()}


def _validate(
    trainer: _Trainer, val_set: _PairDataset, config: DistillConfig, epoch: int, run: _Run
) -> dict[str, float]:
    """The validation losses as ``val_<term>`` (empty without validation images)."""
    if not len(val_set):
        return {}
    val_batches = epoch_batches(len(val_set), config.batch_size, config.seed, epoch, shuffle=False)
    losses = _evaluate(trainer.student, trainer.loss_fn, val_batches, val_set, run.device, run.info)
    return {f"val_{k}": v for k, v in losses.items()}


def _end_epoch(
    trainer: _Trainer,
    progress: _Progress,
    epoch: int,
    metrics: dict[str, float],
    config: DistillConfig,
    run: _Run,
) -> dict[str, Any]:
    """LR schedule, best-epoch tracking (``best_encoder.pt``) and early stopping; returns the history record.

    The monitored value is ``val_loss``, or ``train_loss`` without validation images.
    """
    monitored = metrics.get("val_loss", metrics.get("train_loss", math.inf))
    trainer.scheduler.step(monitored)
    if monitored < progress.best_val:
        progress.best_val, progress.best_epoch, progress.bad_epochs = monitored, epoch, 0
        if run.info.is_main:
            torch.save(trainer.student.state_dict(), run.out_dir / "best_encoder.pt")
    else:
        progress.bad_epochs += 1
    record = {"epoch": epoch, "lr": trainer.optimizer.param_groups[0]["lr"], **metrics}
    progress.history.append(record)
    progress.last_epoch = epoch
    progress.stopped_early = progress.bad_epochs >= config.early_stopping_patience
    return record


def _save_state(trainer: _Trainer, progress: _Progress, teacher_id: str, config: DistillConfig, run: _Run) -> None:
    """Write ``last.pt`` atomically (rank 0): everything ``resume=True`` needs to continue the run."""
    if not run.info.is_main:
        return
    payload = {
        "format": STATE_FORMAT,
        "epoch": progress.last_epoch,
        "student": trainer.student.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict(),
        "history": progress.history,
        "best_val": progress.best_val,
        "best_epoch": progress.best_epoch,
        "bad_epochs": progress.bad_epochs,
        "stopped_early": progress.stopped_early,
        "config": config.to_dict(),
        "renderer": trainer.renderer_state,
        "teacher_id": teacher_id,
        "code_version": kdsam_core.__version__,
    }
    tmp = run.state_path.with_name("last.pt.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, run.state_path)


def _train(trainer: _Trainer, progress: _Progress, data: _Data, config: DistillConfig, run: _Run) -> None:
    """The epochs left after ``progress.last_epoch``, each ending with ``last.pt``; a callback raising
    :class:`StopTraining` ends the run after the current step."""
    n_train = len(data.train_set)
    start_epoch = progress.last_epoch + 1
    steps_per_epoch = len(epoch_batches(n_train, config.batch_size, config.seed, 1))
    pace = _Pace(steps_per_epoch, (config.epochs - start_epoch + 1) * steps_per_epoch)
    try:
        for epoch in range(start_epoch, config.epochs + 1):
            if progress.stopped_early:
                break
            metrics = _train_epoch(trainer, data.train_set, config, epoch, pace, run)
            metrics.update(_validate(trainer, data.val_set, config, epoch, run))
            record = _end_epoch(trainer, progress, epoch, metrics, config, run)
            _save_state(trainer, progress, data.teacher_id, config, run)
            run.emit(
                ProgressEvent(
                    kind="epoch",
                    phase="distill",
                    epoch=epoch,
                    epochs=config.epochs,
                    steps=steps_per_epoch,
                    step=steps_per_epoch,
                    losses={k: v for k, v in record.items() if k not in ("epoch", "lr")},
                    lr=record["lr"],
                    throughput=pace.meter.rate(),
                    eta_s=pace.meter.eta(pace.steps_left),
                    extra={"best_epoch": progress.best_epoch},
                )
            )
            ddp.barrier(run.info)
    except StopTraining:
        pass


# --------------------------------------------------------------------------------------------------
# Export
# --------------------------------------------------------------------------------------------------


def _restore_best_student(model: nn.Module, run: _Run) -> None:
    """Put the best epoch's weights into ``model.image_encoder`` on the CPU (a plain student again under DDP)."""
    best_path = run.out_dir / "best_encoder.pt"
    final_student = cast(nn.Module, model.image_encoder)
    if best_path.is_file():
        final_student.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    final_student.to("cpu")
    if run.info.enabled:
        from kdsam_core.modeling.student import StudentEncoder

        plain = StudentEncoder(cast(StudentEncoder, final_student).config)
        plain.load_state_dict(final_student.state_dict())
        model.image_encoder = plain
    model.to("cpu").eval()


def _export(
    model: nn.Module,
    trainer: _Trainer,
    progress: _Progress,
    data: _Data,
    teacher_kind: str,
    config: DistillConfig,
    metadata: dict[str, Any] | None,
    run: _Run,
) -> DistillResult:
    """The final KD-SAM file (best epoch's student + the model's (teacher's) decoder) and ``result.json``."""
    ddp.barrier(run.info)
    _restore_best_student(model, run)
    monitor = "val_loss" if len(data.val_set) else "train_loss"
    result = DistillResult(
        checkpoint=run.out_dir / "kdsam.pt",
        history=progress.history,
        best_epoch=progress.best_epoch,
        best_val_loss=progress.best_val,
        stopped_early=progress.stopped_early,
        cache={**data.cache_stats.as_dict(), "dir": str(data.cache.folder), "teacher_id": data.teacher_id},
        loss=trainer.loss_fn.describe(),
        out_dir=run.out_dir,
        extra={"monitor": monitor, "world_size": run.info.world_size, "device": str(run.device)},
    )
    if run.info.is_main:
        meta = {
            "teacher": {"kind": teacher_kind, "id": data.teacher_id},
            "data": {
                "train_images": len(data.train_samples),
                "val_images": len(data.val_samples),
                "preprocessing": PREPROCESSING_VERSION,
            },
            "metrics": {"best_epoch": progress.best_epoch, f"best_{monitor}": progress.best_val},
            "training": {
                "phase": "distill",
                "config": config.to_dict(),
                "loss": trainer.loss_fn.describe(),
                "world_size": run.info.world_size,
            },
            **(metadata or {}),
        }
        save_kdsam(model, result.checkpoint, meta)
        (run.out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
    ddp.barrier(run.info)
    return result


# --------------------------------------------------------------------------------------------------
# Phase 1
# --------------------------------------------------------------------------------------------------


def distill(
    model: nn.Module,
    teacher: nn.Module,
    train: Sequence[Any],
    val: Sequence[Any] = (),
    out_dir: Path | str = "runs/distill",
    config: DistillConfig | None = None,
    *,
    cache_dir: Path | str | None = None,
    teacher_kind: str = "unknown",
    device: str | torch.device = "auto",
    resume: bool = False,
    callback: Callable[[ProgressEvent], None] | None = None,
    metadata: dict[str, Any] | None = None,
) -> DistillResult:
    """Distil ``teacher``'s image encoder into ``model.image_encoder``; returns a :class:`DistillResult`.

    ``model`` is a KD-SAM model (its prompt encoder / mask decoder are saved along, untouched);
    ``train``/``val`` are samples (see :mod:`kdsam_core.training.data`; masks are not needed). With no
    validation images the training loss drives the LR schedule and early stopping (recorded).
    Both encoders map ``(B, 3, S, S)`` inputs to ``(B, 256, S/16, S/16)`` embeddings.
    Writes to ``out_dir``: ``last.pt`` (resumable state), ``best_encoder.pt``, ``pca.pt``,
    ``kdsam.pt`` (final KD-SAM checkpoint) and ``result.json``.
    """
    config = config or DistillConfig()
    run = _start_run(out_dir, device, callback)
    set_determinism(config.seed)
    train_samples, val_samples = as_samples(train), as_samples(val)
    if not train_samples:
        raise ValueError("distillation needs at least one training image")
    img_size = _check_encoders(encoder_of(model), encoder_of(teacher))
    cache_root = Path(cache_dir) if cache_dir is not None else run.out_dir / "cache"
    data = _prepare_data(teacher, train_samples, val_samples, img_size, cache_root, teacher_kind, config, run)
    state = _load_state(run.state_path, config) if resume else None
    loss_fn, renderer_state = _build_loss(config, data.train_set, state, run)
    trainer, progress = _build_trainer(model, loss_fn, renderer_state, config, state, run)
    _train(trainer, progress, data, config, run)
    return _export(model, trainer, progress, data, teacher_kind, config, metadata, run)
