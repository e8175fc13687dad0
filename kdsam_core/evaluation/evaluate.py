"""Run models on image/mask samples with simulated prompts; compare several models on the same data.

Every model sees exactly the same prompts (simulated once per image from the ground truth with a
fixed seed), so differences come from the models alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from segment_anything.modeling import Sam

from kdsam_core.evaluation.metrics import dice_score, iou_score, summarize
from kdsam_core.inference import decode, resolve_device, run_image_encoder, upscale_to_original
from kdsam_core.training.data import Sample, as_samples
from kdsam_core.training.progress import ProgressEvent
from kdsam_core.training.prompts import EVAL_PROTOCOL, Prompt, PromptConfig, describe_protocol, simulate_prompt
from kdsam_core.transforms import prepare_image


def ground_truth(sample: Sample) -> np.ndarray:
    """The ``(H, W)`` uint8 0/1 mask of ``sample``; evaluation needs one for every image."""
    mask = sample.load_mask()
    if mask is None:
        raise ValueError(f"evaluation needs a mask for every image; {sample.id} has none")
    return mask


def simulate_prompts(samples: Sequence[Sample], protocol: PromptConfig, seed: int = 0) -> list[Prompt]:
    """One prompt per sample, simulated from its ground truth with one generator seeded ``seed``."""
    rng = np.random.default_rng(seed)
    return [simulate_prompt(ground_truth(s), protocol, rng) for s in samples]


@torch.inference_mode()
def predict(model: Sam, image: np.ndarray, prompt: Prompt, device: torch.device) -> np.ndarray:
    """Binary ``(H, W)`` bool mask at the original size for one ``(H, W, 3)`` uint8 RGB image and one
    prompt (single-mask output)."""
    prepared = prepare_image(image, model.image_encoder.img_size)
    embedding = run_image_encoder(model.image_encoder, prepared.tensor, device)
    low_res, _ = decode(model, embedding, prompt, prepared.original_size)
    logits = upscale_to_original(model, low_res, prepared.original_size)
    return (logits[0, 0] > model.mask_threshold).cpu().numpy()


def evaluate_model(
    model: Sam,
    samples: Sequence[Any],
    *,
    prompts: Sequence[Prompt] | None = None,
    protocol: PromptConfig = EVAL_PROTOCOL,
    device: str | torch.device = "cpu",
    seed: int = 0,
    keep_masks: bool = False,
    callback: Callable[[ProgressEvent], None] | None = None,
) -> list[dict[str, Any]]:
    """Per-image ``{"id", "dice", "iou", "prompt", "seconds"}`` records (+ ``"pred"`` with keep_masks)."""
    device = resolve_device(device) if isinstance(device, str) else device
    samples = as_samples(samples)
    prompts = list(prompts) if prompts is not None else simulate_prompts(samples, protocol, seed)
    model = model.to(device).eval()
    records = []
    for index, (sample, prompt) in enumerate(zip(samples, prompts), 1):
        image, gt = sample.load_image(), ground_truth(sample)
        started = time.perf_counter()
        pred = predict(model, image, prompt, device)
        record: dict[str, Any] = {
            "id": sample.id,
            "dice": dice_score(pred, gt),
            "iou": iou_score(pred, gt),
            "prompt": prompt.to_dict(),
            "seconds": time.perf_counter() - started,
        }
        if keep_masks:
            record["pred"] = pred
        records.append(record)
        if callback:
            callback(
                ProgressEvent(
                    kind="step", phase="evaluate", step=index, steps=len(samples), losses={"dice": record["dice"]}
                )
            )
    return records


@dataclass
class Comparison:
    """Results of :func:`compare_models`: ``records[dataset][model]`` is a list of per-image records."""

    protocol: PromptConfig
    records: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  #: name → info (weights, params)
    seed: int = 0
    samples: dict[str, list[Sample]] = field(default_factory=dict)  #: dataset → samples (for figures)
    prompts: dict[str, list[Prompt]] = field(default_factory=dict)  #: dataset → the prompts used

    def summary(self) -> dict[str, dict[str, dict[str, Any]]]:
        out: dict[str, dict[str, dict[str, Any]]] = {}
        for dataset, by_model in self.records.items():
            out[dataset] = {}
            for model, records in by_model.items():
                out[dataset][model] = {
                    "dice": summarize([r["dice"] for r in records], seed=self.seed),
                    "iou": summarize([r["iou"] for r in records], seed=self.seed),
                }
        return out

    def to_dict(self, include_records: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "protocol": {**self.protocol.to_dict(), "description": describe_protocol(self.protocol), "seed": self.seed},
            "models": self.models,
            "summary": self.summary(),
        }
        if include_records:
            data["per_image"] = {
                dataset: {
                    model: [{k: v for k, v in r.items() if k != "pred"} for r in records]
                    for model, records in by_model.items()
                }
                for dataset, by_model in self.records.items()
            }
        return data


def compare_models(
    models: Mapping[str, Sam],
    datasets: Mapping[str, Sequence[Any]],
    *,
    protocol: PromptConfig = EVAL_PROTOCOL,
    device: str | torch.device = "cpu",
    seed: int = 0,
    model_info: Mapping[str, dict[str, Any]] | None = None,
    keep_masks: bool = False,
    callback: Callable[[ProgressEvent], None] | None = None,
) -> Comparison:
    """Evaluate every model on every dataset with identical prompts."""
    from kdsam_core.modeling.build import count_parameters

    comparison = Comparison(protocol=protocol, seed=seed)
    for name, model in models.items():
        comparison.models[name] = {"parameters": count_parameters(model), **dict((model_info or {}).get(name, {}))}
    for dataset, samples in datasets.items():
        samples = as_samples(samples)
        prompts = simulate_prompts(samples, protocol, seed)
        comparison.samples[dataset] = samples
        comparison.prompts[dataset] = prompts
        comparison.records[dataset] = {}
        for name, model in models.items():
            comparison.records[dataset][name] = evaluate_model(
                model, samples, prompts=prompts, device=device, keep_masks=keep_masks, callback=callback
            )
            model.to("cpu")
    return comparison
