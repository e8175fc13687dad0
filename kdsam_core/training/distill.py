"""Phase 1: distil a teacher image encoder into the student (METHOD.md, "Phase 1").

:func:`distill` trains ``model.image_encoder`` (the student of a KD-SAM model) to reproduce the
teacher's embeddings with :class:`~kdsam_core.losses.DistillationLoss`. Teacher embeddings are
computed once per image and cached on disk (float16, :class:`~kdsam_core.training.caches.EmbeddingCache`),
so later epochs and later runs only cost the student. Every epoch ends with a checkpoint
(``last.pt``); ``resume=True`` continues from it and produces exactly the weights an uninterrupted
run would (the data order of each epoch is a pure function of ``seed`` and the epoch number).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import kdsam_core
from kdsam_core.config import PREPROCESSING_VERSION
from kdsam_core.inference import resolve_device
from kdsam_core.losses import DistillationLoss, EmbeddingRenderer, PerceptualLoss, VGG16Features
from kdsam_core.modeling.checkpoint import CheckpointError, save_kdsam
from kdsam_core.training import ddp
from kdsam_core.training.caches import CacheStats, EmbeddingCache, state_dict_digest
from kdsam_core.training.data import Sample, as_samples, image_hash
from kdsam_core.training.progress import CallbackList, ProgressEvent, StopTraining, Throughput
from kdsam_core.transforms import normalize_and_pad, resize_longest_side

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


# --------------------------------------------------------------------------------------------------
# Data
# --------------------------------------------------------------------------------------------------


class PreparedImages:
    """Loads, hashes and SAM-preprocesses images; keeps up to ``keep`` resized images in memory."""

    def __init__(self, samples: Sequence[Sample], img_size: int, keep: int = 64) -> None:
        self.samples = list(samples)
        self.img_size = img_size
        self.keep = keep
        self._resized: dict[int, np.ndarray] = {}
        self.hashes: list[str] = []
        for index, sample in enumerate(self.samples):
            image = sample.load_image()
            self.hashes.append(image_hash(image))
            if index < keep:
                self._resized[index] = resize_longest_side(image, img_size)

    def tensor(self, index: int) -> torch.Tensor:
        resized = self._resized.get(index)
        if resized is None:
            resized = resize_longest_side(self.samples[index].load_image(), self.img_size)
        return normalize_and_pad(np.array(resized), self.img_size)[0]

    def __len__(self) -> int:
        return len(self.samples)


class _PairDataset(torch.utils.data.Dataset):
    def __init__(self, images: PreparedImages, cache: EmbeddingCache) -> None:
        self.images = images
        self.cache = cache

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int):
        return self.images.tensor(index), self.cache.load(self.images.hashes[index])


def epoch_batches(n: int, batch_size: int, seed: int, epoch: int, shuffle: bool = True) -> list[list[int]]:
    """The batches of one epoch: a permutation that depends only on ``(seed, epoch)``."""
    if shuffle:
        generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
        order = torch.randperm(n, generator=generator).tolist()
    else:
        order = list(range(n))
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def encoder_of(model: nn.Module) -> nn.Module:
    return getattr(model, "image_encoder", model)


@torch.inference_mode()
def encode_batch(encoder: nn.Module, images: torch.Tensor, device: torch.device) -> torch.Tensor:
    images = images.to(device)
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            out = encoder(images.contiguous(memory_format=torch.channels_last))
    else:
        out = encoder(images)
    return out.float().cpu()


def fill_cache(
    encoder: nn.Module,
    images: PreparedImages,
    cache: EmbeddingCache,
    device: torch.device,
    batch_size: int = 4,
    callback: Callable[[ProgressEvent], None] | None = None,
    phase: str = "distill",
    what: str = "teacher embeddings",
) -> CacheStats:
    """Compute the missing embeddings of ``images`` with ``encoder`` and store them in ``cache``."""
    encoder.eval()

    def compute(indices: list[int]) -> torch.Tensor:
        return encode_batch(encoder, torch.stack([images.tensor(i) for i in indices]), device)

    holder: dict[str, int] = {}

    def progress(done: int, total: int) -> None:
        holder.setdefault("hits", done)  # the first report counts the entries already cached
        if callback:
            callback(
                ProgressEvent(
                    kind="cache", phase=phase, step=done, steps=total, extra={"what": what, "hits": holder["hits"]}
                )
            )

    return cache.ensure(images.hashes, compute, batch_size=batch_size, on_progress=progress)


def teacher_identity(teacher: nn.Module, teacher_kind: str) -> str:
    return f"{teacher_kind}:{state_dict_digest(encoder_of(teacher))}"


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _autocast(device: torch.device):
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def set_determinism(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)


def _evaluate(encoder: nn.Module, loss_fn: DistillationLoss, loader_batches, dataset, device, info) -> dict[str, float]:
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
            with _autocast(device):
                pred = encoder(
                    images.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else images
                )
            out = loss_fn(pred.float(), targets)
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
    Writes to ``out_dir``: ``last.pt`` (resumable state), ``best_encoder.pt``, ``pca.pt``,
    ``kdsam.pt`` (final KD-SAM checkpoint) and ``result.json``.
    """
    config = config or DistillConfig()
    device = resolve_device(device) if isinstance(device, str) else device
    info = ddp.setup_distributed(device)
    if info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    out_dir = Path(out_dir)
    if info.is_main:
        out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    emit = CallbackList(callback if info.is_main else None)
    set_determinism(config.seed)

    train_samples, val_samples = as_samples(train), as_samples(val)
    if not train_samples:
        raise ValueError("distillation needs at least one training image")
    student = encoder_of(model)
    teacher_encoder = encoder_of(teacher)
    img_size = int(student.img_size)
    if int(getattr(teacher_encoder, "img_size", img_size)) != img_size:
        raise ValueError(
            f"teacher input size {teacher_encoder.img_size} differs from the student's {img_size}; "
            "build the student with the teacher's image size"
        )

    # ---- teacher embeddings, computed once per image (rank 0 fills the cache) --------------------
    train_images = PreparedImages(train_samples, img_size, config.memory_cache_images)
    val_images = PreparedImages(val_samples, img_size, config.memory_cache_images)
    teacher_id = teacher_identity(teacher, teacher_kind)
    cache = EmbeddingCache(cache_dir, teacher_id, img_size, PREPROCESSING_VERSION)
    cache_stats = CacheStats()
    if info.is_main:
        teacher_encoder.to(device)
        for images, what in ((train_images, "teacher embeddings (train)"), (val_images, "teacher embeddings (val)")):
            stats = fill_cache(teacher_encoder, images, cache, device, config.teacher_batch_size, emit, what=what)
            cache_stats.hits += stats.hits
            cache_stats.misses += stats.misses
        teacher_encoder.to("cpu")
    ddp.barrier(info)
    if device.type == "cuda":
        torch.cuda.empty_cache()
    train_set, val_set = _PairDataset(train_images, cache), _PairDataset(val_images, cache)
    sample_shape = train_set[0][1].shape
    if tuple(sample_shape) != (256, img_size // 16, img_size // 16):
        raise ValueError(
            f"teacher embeddings have shape {tuple(sample_shape)}, expected (256, {img_size // 16}, {img_size // 16})"
        )

    # ---- loss (PCA rendering fitted once on teacher embeddings, stored with the run) -------------
    state_path = out_dir / "last.pt"
    state = None
    if resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint to resume from at {state_path}")
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        if state.get("format") != STATE_FORMAT:
            raise CheckpointError(f"{state_path} is not a distillation state file")
        for key in ("loss", "perceptual_weight", "batch_size", "seed", "lr", "weight_decay"):
            if state["config"].get(key) != getattr(config, key):
                raise ValueError(
                    f"--resume with a different {key} ({getattr(config, key)!r}) than the interrupted "
                    f"run ({state['config'].get(key)!r}); use the same settings or start a new run"
                )
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
        if info.is_main:
            torch.save(renderer_state, out_dir / "pca.pt")
        perceptual = PerceptualLoss(renderer, VGG16Features(config.vgg_weights)).to(device)
    loss_fn = DistillationLoss(config.loss, config.perceptual_weight, perceptual).to(device)

    # ---- model, optimiser, schedule -----------------------------------------------------------
    student.to(device)
    train_module: nn.Module = student
    if info.enabled:
        train_module = ddp.convert_sync_batchnorm(student, device)
        model.image_encoder = train_module  # keep the converted module reachable
        student = train_module
    if device.type == "cuda":
        student.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(student.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode="min", factor=config.plateau_factor, patience=config.plateau_patience, min_lr=config.min_lr
    )
    history: list[dict[str, float]] = []
    best_val, best_epoch, bad_epochs, start_epoch = math.inf, 0, 0, 1
    if state is not None:
        student.load_state_dict(state["student"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        history = state["history"]
        best_val, best_epoch, bad_epochs = state["best_val"], state["best_epoch"], state["bad_epochs"]
        start_epoch = state["epoch"] + 1
    if info.enabled:
        wrapped = nn.parallel.DistributedDataParallel(
            student, device_ids=[device.index] if device.type == "cuda" else None
        )
    else:
        wrapped = student

    n_train = len(train_set)
    steps_per_epoch = len(epoch_batches(n_train, config.batch_size, config.seed, 1))
    meter = Throughput()
    total_steps_left = (config.epochs - start_epoch + 1) * steps_per_epoch
    stopped_early = bool(state and state.get("stopped_early"))
    monitor = "val_loss" if len(val_set) else "train_loss"

    def save_state(epoch: int, stopped: bool) -> None:
        if not info.is_main:
            return
        payload = {
            "format": STATE_FORMAT,
            "epoch": epoch,
            "student": student.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "history": history,
            "best_val": best_val,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "stopped_early": stopped,
            "config": config.to_dict(),
            "renderer": renderer_state,
            "teacher_id": teacher_id,
            "code_version": kdsam_core.__version__,
        }
        tmp = state_path.with_name("last.pt.tmp")
        torch.save(payload, tmp)
        os.replace(tmp, state_path)

    try:
        for epoch in range(start_epoch, config.epochs + 1):
            if stopped_early:
                break
            wrapped.train()
            sums: dict[str, float] = {}
            seen = 0
            plan = []  # (global batch, this rank's share)
            for batch in epoch_batches(n_train, config.batch_size, config.seed, epoch):
                if info.enabled and len(batch) < info.world_size:
                    continue  # a tail batch too small to give every rank an image
                mine = np.array_split(np.array(batch), info.world_size)[info.rank].tolist() if info.enabled else batch
                plan.append((batch, mine))
            loader = torch.utils.data.DataLoader(
                train_set,
                batch_sampler=[m for _, m in plan],
                num_workers=config.num_workers,
                pin_memory=device.type == "cuda",
            )
            for step, ((batch, mine), (images, targets)) in enumerate(zip(plan, loader), 1):
                images = images.to(device, non_blocking=True)
                targets = targets.to(device, non_blocking=True)
                if device.type == "cuda":
                    images = images.contiguous(memory_format=torch.channels_last)
                with _autocast(device):
                    pred = wrapped(images)
                out = loss_fn(pred.float(), targets)
                # DDP averages gradients over ranks: weight each rank's mean by its share of the batch.
                scale = len(mine) * info.world_size / len(batch) if info.enabled else 1.0
                optimizer.zero_grad(set_to_none=True)
                (out.total * scale).backward()
                optimizer.step()
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
                meter.update(len(batch))
                total_steps_left -= 1
                emit(
                    ProgressEvent(
                        kind="step",
                        phase="distill",
                        epoch=epoch,
                        epochs=config.epochs,
                        step=step,
                        steps=steps_per_epoch,
                        losses=values,
                        lr=optimizer.param_groups[0]["lr"],
                        throughput=meter.rate(),
                        eta_s=meter.eta(total_steps_left),
                    )
                )
            train_metrics = {f"train_{k}": v / max(seen, 1) for k, v in sums.items()}
            val_metrics = {}
            if len(val_set):
                val_batches = epoch_batches(len(val_set), config.batch_size, config.seed, epoch, shuffle=False)
                val_metrics = {
                    f"val_{k}": v for k, v in _evaluate(student, loss_fn, val_batches, val_set, device, info).items()
                }
            monitored = val_metrics.get("val_loss", train_metrics.get("train_loss", math.inf))
            scheduler.step(monitored)
            if monitored < best_val:
                best_val, best_epoch, bad_epochs = monitored, epoch, 0
                if info.is_main:
                    torch.save(student.state_dict(), out_dir / "best_encoder.pt")
            else:
                bad_epochs += 1
            stop = bad_epochs >= config.early_stopping_patience
            record = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"], **train_metrics, **val_metrics}
            history.append(record)
            stopped_early = stop
            save_state(epoch, stop)
            emit(
                ProgressEvent(
                    kind="epoch",
                    phase="distill",
                    epoch=epoch,
                    epochs=config.epochs,
                    steps=steps_per_epoch,
                    step=steps_per_epoch,
                    losses={k: v for k, v in record.items() if k not in ("epoch", "lr")},
                    lr=record["lr"],
                    throughput=meter.rate(),
                    eta_s=meter.eta(total_steps_left),
                    extra={"best_epoch": best_epoch},
                )
            )
            ddp.barrier(info)
    except StopTraining:
        pass

    # ---- final KD-SAM file: best epoch's student + the model's (teacher's) decoder ----------------
    ddp.barrier(info)
    best_path = out_dir / "best_encoder.pt"
    final_student = model.image_encoder
    if best_path.is_file():
        final_student.load_state_dict(torch.load(best_path, map_location="cpu", weights_only=True))
    final_student.to("cpu")
    if info.enabled:
        from kdsam_core.modeling.student import StudentEncoder

        plain = StudentEncoder(final_student.config)
        plain.load_state_dict(final_student.state_dict())
        model.image_encoder = plain
    model.to("cpu").eval()
    result = DistillResult(
        checkpoint=out_dir / "kdsam.pt",
        history=history,
        best_epoch=best_epoch,
        best_val_loss=best_val,
        stopped_early=stopped_early,
        cache={**cache_stats.as_dict(), "dir": str(cache.folder), "teacher_id": teacher_id},
        loss=loss_fn.describe(),
        out_dir=out_dir,
        extra={"monitor": monitor, "world_size": info.world_size, "device": str(device)},
    )
    if info.is_main:
        meta = {
            "teacher": {"kind": teacher_kind, "id": teacher_id},
            "data": {
                "train_images": len(train_samples),
                "val_images": len(val_samples),
                "preprocessing": PREPROCESSING_VERSION,
            },
            "metrics": {"best_epoch": best_epoch, f"best_{monitor}": best_val},
            "training": {
                "phase": "distill",
                "config": config.to_dict(),
                "loss": loss_fn.describe(),
                "world_size": info.world_size,
            },
            **(metadata or {}),
        }
        save_kdsam(model, result.checkpoint, meta)
        (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
    ddp.barrier(info)
    return result
