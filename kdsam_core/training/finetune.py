"""Phase 2: fine-tune the prompt encoder + mask decoder on a frozen encoder (METHOD.md, "Phase 2").

Student embeddings are computed once per image and cached on disk (keyed by the encoder weights'
digest, so a different encoder never reuses them). Prompts are simulated from the ground truth
(:mod:`kdsam_core.training.prompts`). The loss is Dice (eq. 4), optionally + BCE, computed on the
decoder's low-resolution logits (``4G × 4G``, 256×256 at 1024 input) against the ground-truth mask
resized and padded like the image, then area-downsampled and binarised at 0.5.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from segment_anything.modeling import Sam

import kdsam_core
from kdsam_core.config import PREPROCESSING_VERSION
from kdsam_core.inference import prompt_tensors, resolve_device, upscale_to_original
from kdsam_core.losses import segmentation_loss
from kdsam_core.modeling.checkpoint import save_kdsam
from kdsam_core.training.caches import EmbeddingCache, fill_cache, state_dict_digest
from kdsam_core.training.common import PreparedImages, epoch_batches, set_determinism
from kdsam_core.training.data import ImageLike, Sample, as_samples, load_mask
from kdsam_core.training.progress import CallbackList, ProgressEvent, StopTraining, Throughput
from kdsam_core.training.prompts import Prompt, PromptConfig, correction_click, simulate_prompt
from kdsam_core.transforms import preprocess_shape


@dataclass
class FinetuneConfig:
    epochs: int = 20
    batch_size: int = 8  #: images per optimiser step
    lr: float = 1e-4
    weight_decay: float = 1e-3
    loss: str = "dice"  #: "dice" or "dice+bce"
    bce_weight: float = 1.0
    prompts: PromptConfig = field(default_factory=PromptConfig)
    early_stopping_patience: int = 5
    seed: int = 0
    encoder_batch_size: int = 4
    memory_cache_images: int = 64
    export_onnx: bool = True
    evaluate: bool = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FinetuneResult:
    checkpoint: Path
    history: list[dict[str, float]]
    best_epoch: int
    onnx: dict[str, str]
    evaluation: dict[str, Any] | None
    cache: dict[str, Any]
    out_dir: Path

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["checkpoint"] = str(self.checkpoint)
        data["out_dir"] = str(self.out_dir)
        return data


# --------------------------------------------------------------------------------------------------
# Targets and batched decoding
# --------------------------------------------------------------------------------------------------


def lowres_target(mask: np.ndarray, long_side: int, grid: int) -> torch.Tensor:
    """Ground truth on the decoder's ``grid × grid`` low-res frame: resize + pad like the image,
    area-downsample, threshold 0.5. Returns ``(1, 1, grid, grid)`` float 0/1."""
    h, w = mask.shape
    new_h, new_w = preprocess_shape(h, w, long_side)
    image = Image.fromarray(mask.astype(np.uint8) * 255)
    resized = np.asarray(image.resize((new_w, new_h), Image.Resampling.BILINEAR)) > 127
    padded = np.zeros((long_side, long_side), dtype=np.float32)
    padded[:new_h, :new_w] = resized
    tensor = torch.from_numpy(padded)[None, None]
    small = (
        F.adaptive_avg_pool2d(tensor, grid)
        if long_side % grid == 0
        else F.interpolate(tensor, size=(grid, grid), mode="area")
    )
    return (small >= 0.5).float()


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


class _MaskStore:
    """Ground-truth masks by sample index: ``(mask (H, W) uint8 0/1, target (1, 1, grid, grid))``,
    the first ``keep`` kept in memory."""

    def __init__(self, samples: Sequence[Sample], long_side: int, grid: int, keep: int) -> None:
        self.long_side, self.grid, self.keep = long_side, grid, keep
        self._cache: dict[int, tuple[np.ndarray, torch.Tensor]] = {}
        self._masks: list[ImageLike] = []
        for sample in samples:
            if sample.mask is None:
                raise ValueError(f"fine-tuning needs a mask for every image; {sample.id} has none")
            self._masks.append(sample.mask)

    def get(self, index: int) -> tuple[np.ndarray, torch.Tensor]:
        if index in self._cache:
            return self._cache[index]
        mask = load_mask(self._masks[index])
        item = (mask, lowres_target(mask, self.long_side, self.grid))
        if len(self._cache) < self.keep:
            self._cache[index] = item
        return item


def batched_decode(model: Sam, embeddings: torch.Tensor, sparse: torch.Tensor, dense: torch.Tensor) -> torch.Tensor:
    """``MaskDecoder.predict_masks`` for B images with one prompt each (SAM's own code repeats every
    image embedding per prompt, i.e. one image at a time): ``embeddings`` ``(B, 256, G, G)``,
    ``sparse`` ``(B, T, 256)``, ``dense`` ``(B, 256, G, G)``. Returns single-mask low-res logits
    ``(B, 1, 4G, 4G)``; identical to calling the decoder image by image."""
    decoder = model.mask_decoder
    output_tokens = torch.cat([decoder.iou_token.weight, decoder.mask_tokens.weight], dim=0)
    output_tokens = output_tokens.unsqueeze(0).expand(sparse.size(0), -1, -1)
    tokens = torch.cat((output_tokens, sparse), dim=1)
    src = embeddings + dense
    pos_src = model.prompt_encoder.get_dense_pe().expand(src.shape[0], -1, -1, -1)
    b, c, h, w = src.shape
    hs, src = decoder.transformer(src, pos_src, tokens)
    mask_token = hs[:, 1, :]  # single-mask output = mask token 0
    src = src.transpose(1, 2).reshape(b, c, h, w)
    upscaled = decoder.output_upscaling(src)
    hyper = decoder.output_hypernetworks_mlps[0](mask_token)[:, None, :]
    b, c, h, w = upscaled.shape
    return (hyper @ upscaled.view(b, c, h * w)).view(b, 1, h, w)


def _decode_many(
    model: Sam,
    embeddings: Sequence[torch.Tensor],
    prompts: Sequence[Prompt],
    originals: Sequence[tuple[int, int]],
    masks_in: Sequence[torch.Tensor] | None = None,
) -> list[torch.Tensor]:
    """Low-res logits ``(1, 1, 4G, 4G)`` per image from embeddings ``(1, 256, G, G)``, original sizes
    ``(H, W)`` and optional previous masks ``(1, 1, 4G, 4G)``, batching images whose prompts have
    the same token count."""
    device = embeddings[0].device
    encoded = []
    for i, prompt in enumerate(prompts):
        points, boxes = prompt_tensors(prompt, originals[i], model.image_encoder.img_size, device)
        mask_in = None if masks_in is None else masks_in[i]
        encoded.append(model.prompt_encoder(points=points, boxes=boxes, masks=mask_in))
    out: dict[int, torch.Tensor] = {}
    groups: dict[int, list[int]] = {}
    for i, (sparse, _) in enumerate(encoded):
        groups.setdefault(int(sparse.shape[1]), []).append(i)
    for indices in groups.values():
        logits = batched_decode(
            model,
            torch.cat([embeddings[i] for i in indices]),
            torch.cat([encoded[i][0] for i in indices]),
            torch.cat([encoded[i][1] for i in indices]),
        )
        for k, i in enumerate(indices):
            out[i] = logits[k : k + 1]
    return [out[i] for i in range(len(prompts))]


def _batch_loss(
    model: Sam,
    embeddings: Sequence[torch.Tensor],
    masks: Sequence[np.ndarray],
    targets: Sequence[torch.Tensor],
    config: FinetuneConfig,
    rng: np.random.Generator,
    originals: Sequence[tuple[int, int]],
) -> torch.Tensor:
    """Mean loss over a batch of images: first prompt + optional correction clicks (SAM-style
    iterative training: each click lands in the largest error region of the previous prediction,
    which is also fed back as the mask input). ``embeddings`` ``(1, 256, G, G)``, ``masks``
    ``(H, W)``, ``targets`` ``(1, 1, 4G, 4G)``, one per image."""
    prompts = [simulate_prompt(mask, config.prompts, rng) for mask in masks]
    low_res = _decode_many(model, embeddings, prompts, originals)
    losses = [segmentation_loss(logits, t, config.loss, config.bce_weight) for logits, t in zip(low_res, targets)]
    rounds = 1
    for _ in range(config.prompts.iterative_clicks):
        with torch.no_grad():
            for i, mask in enumerate(masks):
                pred = upscale_to_original(model, low_res[i].detach(), originals[i])[0, 0].cpu().numpy() > 0
                click = correction_click(pred, mask)
                if click is not None:
                    prompts[i] = prompts[i].add_point(*click)
        low_res = _decode_many(model, embeddings, prompts, originals, masks_in=[logits.detach() for logits in low_res])
        losses += [segmentation_loss(logits, t, config.loss, config.bce_weight) for logits, t in zip(low_res, targets)]
        rounds += 1
    return torch.stack(losses).sum() / (rounds * len(masks))


def student_cache(model: Sam, cache_dir: Path) -> EmbeddingCache:
    """The embedding cache of ``model``'s image encoder (keyed by its weights' digest)."""
    encoder = model.image_encoder
    model_id = f"kdsam-student:{state_dict_digest(encoder)}"
    return EmbeddingCache(cache_dir, model_id, int(encoder.img_size), PREPROCESSING_VERSION)


def finetune(
    model: Sam,
    train: Sequence[Any],
    val: Sequence[Any] = (),
    out_dir: Path | str = "runs/finetune",
    config: FinetuneConfig | None = None,
    *,
    cache_dir: Path | str | None = None,
    device: str | torch.device = "auto",
    resume: bool = False,
    callback: Callable[[ProgressEvent], None] | None = None,
    metadata: dict[str, Any] | None = None,
) -> FinetuneResult:
    """Fine-tune ``model``'s prompt encoder + mask decoder (encoder frozen) on image/mask samples.

    Writes ``out_dir/kdsam.pt`` (the new decoder version with the frozen encoder; best validation
    epoch), ``decoder.onnx`` + ``decoder_multimask.onnx`` (official contract), ``evaluation.json``
    (Dice/IoU on ``val``) and ``result.json``; ``last.pt`` holds the resumable state.
    """
    config = config or FinetuneConfig()
    device = resolve_device(device) if isinstance(device, str) else device
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(cache_dir) if cache_dir is not None else out_dir / "cache"
    emit = CallbackList(callback)
    set_determinism(config.seed)
    train_samples, val_samples = as_samples(train), as_samples(val)
    if not train_samples:
        raise ValueError("fine-tuning needs at least one training image with a mask")

    img_size = int(model.image_encoder.img_size)
    grid = 4 * model.prompt_encoder.image_embedding_size[0]
    model.to(device)
    model.image_encoder.requires_grad_(False)
    model.image_encoder.eval()
    cache = student_cache(model, cache_dir)
    stats_total = {"hits": 0, "misses": 0}
    sets = {}
    for name, samples in (("train", train_samples), ("val", val_samples)):
        images = PreparedImages(samples, img_size, config.memory_cache_images)
        stats = fill_cache(
            model.image_encoder,
            images,
            cache,
            device,
            config.encoder_batch_size,
            emit,
            phase="finetune",
            what=f"student embeddings ({name})",
        )
        stats_total["hits"] += stats.hits
        stats_total["misses"] += stats.misses
        sets[name] = (images, _MaskStore(samples, img_size, grid, config.memory_cache_images))
    total = stats_total["hits"] + stats_total["misses"]
    cache_info = {**stats_total, "hit_rate": stats_total["hits"] / total if total else 0.0, "dir": str(cache.folder)}

    params = list(model.prompt_encoder.parameters()) + list(model.mask_decoder.parameters())
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    state_path = out_dir / "last.pt"
    history: list[dict[str, float]] = []
    best, best_epoch, bad, start = math.inf, 0, 0, 1
    if resume:
        if not state_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint to resume from at {state_path}")
        state = torch.load(state_path, map_location="cpu", weights_only=False)
        model.prompt_encoder.load_state_dict(state["prompt_encoder"])
        model.mask_decoder.load_state_dict(state["mask_decoder"])
        optimizer.load_state_dict(state["optimizer"])
        history, best, best_epoch, bad, start = (
            state["history"],
            state["best"],
            state["best_epoch"],
            state["bad"],
            state["epoch"] + 1,
        )

    def embedding(images: PreparedImages, index: int) -> torch.Tensor:
        return cache.load(images.hashes[index])[None].to(device)

    def run_epoch(name: str, epoch: int, train_mode: bool) -> dict[str, float]:
        images, masks = sets[name]
        n = len(images)
        if n == 0:
            return {}
        rng = np.random.default_rng([config.seed, epoch, 0 if train_mode else 1])
        batches = epoch_batches(
            n, config.batch_size if train_mode else max(config.batch_size, 1), config.seed, epoch, shuffle=train_mode
        )
        sums, count = 0.0, 0
        model.prompt_encoder.train(train_mode)
        model.mask_decoder.train(train_mode)
        eval_prompts = PromptConfig(
            mode=config.prompts.mode,
            box_jitter=0,
            positive_points=config.prompts.positive_points,
            negative_points=config.prompts.negative_points,
        )
        for step, batch in enumerate(batches, 1):
            with torch.set_grad_enabled(train_mode):
                items = [masks.get(index) for index in batch]
                embeddings = [embedding(images, index) for index in batch]
                originals = [(mask.shape[0], mask.shape[1]) for mask, _ in items]
                targets = [target.to(device) for _, target in items]
                if train_mode:
                    batch_loss = _batch_loss(model, embeddings, [m for m, _ in items], targets, config, rng, originals)
                else:
                    prompts = [simulate_prompt(mask, eval_prompts, rng) for mask, _ in items]
                    low_res = _decode_many(model, embeddings, prompts, originals)
                    batch_loss = torch.stack(
                        [
                            segmentation_loss(logits, t, config.loss, config.bce_weight)
                            for logits, t in zip(low_res, targets)
                        ]
                    ).mean()
                if train_mode:
                    optimizer.zero_grad(set_to_none=True)
                    batch_loss.backward()
                    optimizer.step()
            batch_loss = batch_loss.detach()
            sums += float(batch_loss) * len(batch)
            count += len(batch)
            if train_mode:
                meter.update(len(batch))
                nonlocal_steps[0] -= 1
                emit(
                    ProgressEvent(
                        kind="step",
                        phase="finetune",
                        epoch=epoch,
                        epochs=config.epochs,
                        step=step,
                        steps=len(batches),
                        losses={"loss": float(batch_loss)},
                        lr=optimizer.param_groups[0]["lr"],
                        throughput=meter.rate(),
                        eta_s=meter.eta(nonlocal_steps[0]),
                    )
                )
        return {f"{name}_loss": sums / max(count, 1)}

    steps_per_epoch = len(epoch_batches(len(train_samples), config.batch_size, config.seed, 1))
    nonlocal_steps = [(config.epochs - start + 1) * steps_per_epoch]
    meter = Throughput()
    monitor = "val_loss" if val_samples else "train_loss"
    try:
        for epoch in range(start, config.epochs + 1):
            if bad >= config.early_stopping_patience:
                break
            record = {"epoch": epoch, **run_epoch("train", epoch, True)}
            record.update(run_epoch("val", epoch, False))
            value = record.get(monitor, math.inf)
            if value < best:
                best, best_epoch, bad = value, epoch, 0
                torch.save(
                    {
                        "prompt_encoder": model.prompt_encoder.state_dict(),
                        "mask_decoder": model.mask_decoder.state_dict(),
                    },
                    out_dir / "best_decoder.pt",
                )
            else:
                bad += 1
            history.append(record)
            payload = {
                "epoch": epoch,
                "prompt_encoder": model.prompt_encoder.state_dict(),
                "mask_decoder": model.mask_decoder.state_dict(),
                "optimizer": optimizer.state_dict(),
                "history": history,
                "best": best,
                "best_epoch": best_epoch,
                "bad": bad,
                "config": config.to_dict(),
                "code_version": kdsam_core.__version__,
            }
            torch.save(payload, state_path.with_name("last.pt.tmp"))
            os.replace(state_path.with_name("last.pt.tmp"), state_path)
            emit(
                ProgressEvent(
                    kind="epoch",
                    phase="finetune",
                    epoch=epoch,
                    epochs=config.epochs,
                    losses={k: v for k, v in record.items() if k != "epoch"},
                    lr=optimizer.param_groups[0]["lr"],
                    extra={"best_epoch": best_epoch},
                )
            )
    except StopTraining:
        pass

    best_path = out_dir / "best_decoder.pt"
    if best_path.is_file():
        best_state = torch.load(best_path, map_location="cpu", weights_only=True)
        model.prompt_encoder.load_state_dict(best_state["prompt_encoder"])
        model.mask_decoder.load_state_dict(best_state["mask_decoder"])
    model.to("cpu").eval()
    model.image_encoder.requires_grad_(True)

    evaluation: dict[str, Any] | None = None
    if config.evaluate and val_samples:
        from kdsam_core.evaluation.evaluate import evaluate_model

        emit(
            ProgressEvent(
                kind="stage", phase="finetune", extra={"stage": "evaluating the best epoch on the validation split"}
            )
        )
        records = evaluate_model(model, val_samples, device="cpu" if device.type == "cpu" else device, callback=emit)
        from kdsam_core.evaluation.metrics import summarize

        evaluation = {
            "split": "val",
            "protocol": "one box = ground-truth bounding box, no jitter",
            "dice": summarize([r["dice"] for r in records]),
            "iou": summarize([r["iou"] for r in records]),
            "per_image": records,
        }
        (out_dir / "evaluation.json").write_text(json.dumps(evaluation, indent=1))
        model.to("cpu").eval()

    meta = {
        "data": {
            "train_images": len(train_samples),
            "val_images": len(val_samples),
            "preprocessing": PREPROCESSING_VERSION,
        },
        "metrics": {
            "best_epoch": best_epoch,
            f"best_{monitor}": best,
            **(
                {"val_dice_mean": evaluation["dice"]["mean"], "val_iou_mean": evaluation["iou"]["mean"]}
                if evaluation
                else {}
            ),
        },
        "training": {"phase": "finetune", "config": config.to_dict()},
        **(metadata or {}),
    }
    checkpoint = save_kdsam(model, out_dir / "kdsam.pt", meta)
    onnx: dict[str, str] = {}
    if config.export_onnx:
        from kdsam_core.export.decoder_onnx import export_decoder_onnx

        emit(ProgressEvent(kind="stage", phase="finetune", extra={"stage": "exporting the decoder to ONNX"}))
        onnx["single"] = str(export_decoder_onnx(model, out_dir / "decoder.onnx", multimask=False))
        onnx["multimask"] = str(export_decoder_onnx(model, out_dir / "decoder_multimask.onnx", multimask=True))
    result = FinetuneResult(
        checkpoint=checkpoint,
        history=history,
        best_epoch=best_epoch,
        onnx=onnx,
        evaluation=None if evaluation is None else {k: v for k, v in evaluation.items() if k != "per_image"},
        cache=cache_info,
        out_dir=out_dir,
    )
    (out_dir / "result.json").write_text(json.dumps(result.to_dict(), indent=1, default=str))
    return result
