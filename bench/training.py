"""Training throughput on CPU: decoder fine-tuning with cached vs recomputed student embeddings, and
distillation epoch times with the teacher-embedding cache (first epoch vs later epochs, cold vs warm).

Uses ``kdsam_core.training`` (``finetune``, ``distill``); records "not available" when it is absent.
"""

from __future__ import annotations

import itertools
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, parser, real_images, set_threads

NAME = "training"


def _samples(n: int, tiny: bool):
    import numpy as np

    from bench.common import load_mask_array
    from kdsam_core.training.data import Sample
    from kdsam_core.transforms import load_rgb

    out = []
    for name, path, mask in real_images(n * 3):
        if mask is not None and Path(mask).is_file():
            out.append(Sample(image=path, mask=mask, id=name))
        if len(out) == n:
            return out
    # without ../shared/data: the committed fixture images with a synthetic (elliptic) mask
    for name, path, _ in real_images(n):
        if len(out) < n:
            shape = load_rgb(path).shape[:2]
            out.append(Sample(image=path, mask=load_mask_array(None, shape).astype(np.uint8), id=name))
    return out


class _Clock:
    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.cache_done = None
        self.epochs: list[float] = []

    def __call__(self, event) -> None:
        now = time.perf_counter() - self.t0
        if event.kind == "cache":
            self.cache_done = now
        elif event.kind == "epoch":
            self.epochs.append(now)


def _epoch_durations(clock: _Clock) -> list[float]:
    marks = [0.0, *clock.epochs]
    return [round(b - a, 2) for a, b in itertools.pairwise(marks)]


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    res = Result(
        NAME,
        args,
        "Training throughput on CPU (embedding caches)",
        "Random weights, real images with masks from ../shared/data. Fine-tuning: `finetune()` for "
        "1 epoch with an empty student-embedding cache (recompute: images/s = images / (embedding time "
        "+ epoch time), what recomputing costs every epoch) and again with the cache filled (cached: "
        "images / epoch time, embeddings read from disk); times from the progress callback. "
        "Distillation: `distill()` (loss mse, SAM ViT-B as "
        "teacher to fit the time budget; ViT-H costs ~6× more per cached image) for several epochs, "
        "epoch times from the progress callback; first epoch includes filling the teacher cache; "
        "then a second run on the warm cache.",
    )
    try:
        import torch

        from kdsam_core.training.distill import DistillConfig, distill
        from kdsam_core.training.finetune import FinetuneConfig, finetune
    except Exception as error:
        res["status"] = f"not available: kdsam_core.training cannot be imported ({type(error).__name__}: {error})"
        res.save()
        return 0
    set_threads(args.threads)
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        res["status"] = "not measured: no CUDA device on this machine"
        res.save()
        return 0
    device = args.device
    from bench.models import STUDENT, build_sam_like
    from kdsam_core.modeling.registry import SAM_VIT_B, SAM_VIT_H, TINY
    from kdsam_core.modeling.tiny import build_tiny_teacher_sam, tiny_config

    n = 2 if args.tiny else (2 if args.quick else (32 if args.device == "cuda" else 4))
    samples = _samples(n, args.tiny)
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-training-"))
    res["images"] = [s.id for s in samples]
    try:
        # ---- fine-tuning: recompute (cold cache) vs cached -------------------------------------
        def student():
            if args.tiny:
                from kdsam_core.modeling import build_kdsam

                return build_kdsam(tiny_config(256), seed=0)
            return build_sam_like(STUDENT)

        ft = {}
        cfg = FinetuneConfig(epochs=1, batch_size=2, export_onnx=False, evaluate=False, early_stopping_patience=100)
        cache = tmp / "ft-cache"
        for label in ("recompute", "cached"):
            clock = _Clock()
            t0 = time.perf_counter()
            result = finetune(
                student(), samples, [], tmp / f"ft-{label}", cfg, cache_dir=cache, device=device, callback=clock
            )
            dt = time.perf_counter() - t0
            epoch = _epoch_durations(clock)[-1] if clock.epochs else dt
            embed = (clock.cache_done or 0.0) if label == "recompute" else 0.0
            # recompute: the embeddings are computed once per epoch; cached: read from disk
            per_epoch = epoch if label == "cached" else epoch + embed
            ft[label] = {
                "wall_s": round(dt, 2),
                "embedding_s": round(embed, 2),
                "epoch_s": round(epoch, 2),
                "images_per_s": round(len(samples) / per_epoch, 3),
                "cache": {k: v for k, v in result.cache.items() if k != "dir"},
            }
        ft["speedup_cached"] = round(ft["cached"]["images_per_s"] / ft["recompute"]["images_per_s"], 2)
        res["finetune"] = ft

        # ---- distillation: teacher cache ----------------------------------------------------------
        epochs = 2 if args.tiny else 3
        dcfg = DistillConfig(
            epochs=epochs, batch_size=2, loss="mse", early_stopping_patience=100, pca_images=2, teacher_batch_size=1
        )
        dcache = tmp / "distill-cache"
        teacher_spec = SAM_VIT_H if device == "cuda" else SAM_VIT_B
        teacher_kind = teacher_spec.kind
        runs = {}
        for label in ("cold_cache", "warm_cache"):
            if args.tiny:
                teacher, model = build_tiny_teacher_sam(256), build_kdsam_tiny()
            else:
                teacher, model = build_sam_like(teacher_spec.name), build_sam_like(STUDENT)
            clock = _Clock()
            t0 = time.perf_counter()
            cfg_run = dcfg if label == "cold_cache" else DistillConfig(**{**dcfg.to_dict(), "epochs": 2})
            result = distill(
                model,
                teacher,
                samples,
                [],
                tmp / f"distill-{label}",
                cfg_run,
                cache_dir=dcache,
                teacher_kind=TINY.kind if args.tiny else teacher_kind,
                device=device,
                callback=clock,
            )
            runs[label] = {
                "wall_s": round(time.perf_counter() - t0, 2),
                "epoch_s": _epoch_durations(clock),
                "teacher_cache_s": round(clock.cache_done, 2) if clock.cache_done else None,
                "cache": {k: v for k, v in result.cache.items() if k != "dir"},
            }
            del teacher, model
        cold = runs["cold_cache"]["epoch_s"]
        runs["first_over_later_epochs"] = (
            round(cold[0] / (sum(cold[1:]) / max(1, len(cold) - 1)), 2) if len(cold) > 1 else None
        )
        res["distill"] = {"teacher": TINY.label if args.tiny else f"SAM {teacher_kind}", "epochs": epochs, **runs}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    res.save()
    return 0


def build_kdsam_tiny():
    from kdsam_core.modeling import build_kdsam
    from kdsam_core.modeling.tiny import tiny_config

    return build_kdsam(tiny_config(256), seed=0)


if __name__ == "__main__":
    sys.exit(main())
