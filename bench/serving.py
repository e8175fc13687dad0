"""Student serving paths on CPU: PyTorch eager / channels_last / bf16 / torch.compile, onnxruntime fp32
and int8 (dynamic and static QDQ), with their accuracy cost against eager fp32 on real images.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import (
    Result,
    cosine,
    load_mask_array,
    mask_iou,
    parser,
    real_images,
    set_threads,
    summarize,
    time_calls,
)
from kdsam_core.inference import cpu_has_native_bf16

NAME = "serving"
IOU_REQUIREMENT = 0.99


def prompt_for(mask: np.ndarray):
    """A box around the reference mask plus one positive point at its centroid (original pixels)."""
    ys, xs = np.nonzero(mask)
    box = np.array([xs.min(), ys.min(), xs.max(), ys.max()], dtype=np.float64)
    point = np.array([[xs.mean(), ys.mean()]])
    return point, box


def decode_mask(model, embedding: np.ndarray, original_size, point, box) -> np.ndarray:
    """PyTorch decoder (single mask) on an embedding; returns the boolean mask at the original size."""
    import torch

    from kdsam_core.transforms import apply_coords, preprocess_shape

    long_side = model.image_encoder.img_size
    coords = apply_coords(np.concatenate([point, box.reshape(2, 2)]), original_size, long_side)
    labels = np.array([1, 2, 3], dtype=np.float32)
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(
            points=(torch.as_tensor(coords, dtype=torch.float32)[None], torch.as_tensor(labels)[None]),
            boxes=None,
            masks=None,
        )
        low, _ = model.mask_decoder(
            image_embeddings=torch.as_tensor(embedding, dtype=torch.float32),
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        masks = model.postprocess_masks(low, preprocess_shape(*original_size, long_side), original_size)
    return (masks[0, 0] > model.mask_threshold).numpy()


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=None, help="real images for the accuracy check")
    args = p.parse_args(argv)
    import torch

    from bench.models import build_sam_like
    from kdsam_core.export.encoder_onnx import export_encoder_onnx
    from kdsam_core.transforms import load_rgb, prepare_image

    set_threads(args.threads)
    res = Result(
        NAME,
        args,
        "KD-SAM student serving paths on CPU (speed and accuracy cost)",
        "Random weights. Latency: 1 warm-up + N timed forwards of one real image (1024² input), "
        "median. Accuracy vs PyTorch eager fp32 on real images from ../shared/data: cosine "
        "similarity of the 256×64×64 embeddings, and IoU of the decoder's mask (same PyTorch "
        "decoder; prompt = ground-truth box + centroid point) on each. The default path is the "
        f"fastest whose minimum mask IoU is ≥ {IOU_REQUIREMENT}. onnxruntime uses {args.threads} "
        "intra-op threads, ORT_ENABLE_ALL.",
    )
    model_name = "kdsam_tiny" if args.tiny else "kdsam"
    model = build_sam_like(model_name).eval()
    encoder = model.image_encoder
    size = encoder.img_size
    runs = 1 if args.tiny else (2 if args.quick else 5)
    n_images = args.images or (1 if args.tiny else (2 if args.quick else 6))
    samples = real_images(n_images)
    prepared, refs = [], []
    for name, path, mask_path in samples:
        image = load_rgb(path)
        prep = prepare_image(image, size)
        prepared.append((name, prep, load_mask_array(mask_path, image.shape[:2])))
    res["images"] = [s[0] for s in samples]
    with torch.inference_mode():
        for _, prep, _ in prepared:
            refs.append(encoder(prep.tensor).numpy())
    x = prepared[0][1].tensor

    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-serving-"))
    paths: dict[str, dict] = {}

    def measure(name: str, label: str, fn, setup_s: float = 0.0, note: str = ""):
        print(f"bench.serving: {name}", flush=True)
        try:
            times = time_calls(lambda: fn(x), runs=runs, warmup=1)
            cos, ious = [], []
            for (_img_name, prep, gt), ref in zip(prepared, refs):
                out = np.asarray(fn(prep.tensor), dtype=np.float32)
                cos.append(cosine(out, ref))
                point, box = prompt_for(gt)
                a = decode_mask(model, ref, prep.original_size, point, box)
                b = decode_mask(model, out, prep.original_size, point, box)
                ious.append(mask_iou(a, b))
            paths[name] = {
                "label": label,
                "latency": summarize(times),
                "setup_s": round(setup_s, 1),
                "cosine_min": round(min(cos), 6),
                "cosine_mean": round(float(np.mean(cos)), 6),
                "mask_iou_min": round(min(ious), 4),
                "mask_iou_mean": round(float(np.mean(ious)), 4),
                "note": note,
            }
        except Exception as error:
            paths[name] = {"label": label, "error": f"{type(error).__name__}: {str(error)[:400]}"}

    def torch_fn(module, channels_last=False, bf16=False):
        def run(t):
            with torch.inference_mode():
                if channels_last:
                    t = t.contiguous(memory_format=torch.channels_last)
                if bf16:
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return module(t).float().numpy()
                return module(t).numpy()

        return run

    measure("eager_fp32", "PyTorch eager fp32 (NCHW)", torch_fn(encoder))
    cl = build_sam_like(model_name).image_encoder.eval().to(memory_format=torch.channels_last)
    measure("channels_last_fp32", "PyTorch eager fp32 channels_last", torch_fn(cl, channels_last=True))
    if cpu_has_native_bf16() or args.tiny:  # the check the worker's KDSAM_ENCODER_BACKEND=auto uses
        measure(
            "channels_last_bf16", "PyTorch channels_last bf16 autocast", torch_fn(cl, channels_last=True, bf16=True)
        )
    else:
        # emulated bf16 ran 7× slower than fp32 on an AVX2-only EPYC (19 s per forward): minutes of the
        # suite for a path that cannot be the default on such a CPU
        paths["channels_last_bf16"] = {
            "label": "PyTorch channels_last bf16 autocast",
            "skipped": "not measured: this CPU has no native bfloat16 (avx512_bf16/amx_bf16)",
        }
    del cl
    if args.tiny:
        paths["compile_fp32"] = {
            "label": "torch.compile fp32",
            "skipped": "not run with --tiny (compilation takes minutes)",
        }
    else:
        try:
            compiled = torch.compile(build_sam_like(model_name).image_encoder.eval())
            t0 = time.perf_counter()
            with torch.inference_mode():
                compiled(x)
            compile_s = time.perf_counter() - t0
            measure(
                "compile_fp32",
                "torch.compile fp32 (inductor)",
                torch_fn(compiled),
                compile_s,
                "setup_s = first call (compilation)",
            )
            del compiled
        except Exception as error:
            paths["compile_fp32"] = {
                "label": "torch.compile fp32 (inductor)",
                "error": f"{type(error).__name__}: {str(error)[:400]}",
            }

    import onnxruntime as ort

    def ort_fn(path: Path):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return lambda t: session.run(["image_embeddings"], {"image": t.numpy()})[0]

    t0 = time.perf_counter()
    fp32_path = export_encoder_onnx(model, tmp / "encoder.onnx")
    export_s = time.perf_counter() - t0
    res["onnx_bytes"] = {"fp32": fp32_path.stat().st_size}
    measure("ort_fp32", "onnxruntime CPU fp32", ort_fn(fp32_path), export_s, "setup_s = ONNX export")

    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic

        t0 = time.perf_counter()
        quantize_dynamic(
            str(fp32_path),
            str(tmp / "encoder_dyn.onnx"),
            weight_type=QuantType.QUInt8,
            op_types_to_quantize=["Conv", "MatMul"],
        )
        res["onnx_bytes"]["int8_dynamic"] = (tmp / "encoder_dyn.onnx").stat().st_size
        measure(
            "ort_int8_dynamic",
            "onnxruntime int8 dynamic (ConvInteger)",
            ort_fn(tmp / "encoder_dyn.onnx"),
            time.perf_counter() - t0,
            "weights uint8, activations quantised per run",
        )
    except Exception as error:
        paths["ort_int8_dynamic"] = {
            "label": "onnxruntime int8 dynamic",
            "error": f"{type(error).__name__}: {str(error)[:400]}",
        }

    try:
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

        calib_paths = real_images(n_images + (1 if args.tiny else 4), seed=1)[n_images:] or samples[:1]

        class Reader(CalibrationDataReader):
            def __init__(self):
                self.items = iter(
                    [{"image": prepare_image(load_rgb(pth), size).tensor.numpy()} for _, pth, _ in calib_paths]
                )

            def get_next(self):
                return next(self.items, None)

        t0 = time.perf_counter()
        quantize_static(
            str(fp32_path),
            str(tmp / "encoder_qdq.onnx"),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv", "MatMul"],
        )
        res["onnx_bytes"]["int8_static"] = (tmp / "encoder_qdq.onnx").stat().st_size
        measure(
            "ort_int8_static",
            "onnxruntime int8 static QDQ (per-channel)",
            ort_fn(tmp / "encoder_qdq.onnx"),
            time.perf_counter() - t0,
            f"calibrated on {len(calib_paths)} other real images (MinMax)",
        )
    except Exception as error:
        paths["ort_int8_static"] = {
            "label": "onnxruntime int8 static QDQ",
            "error": f"{type(error).__name__}: {str(error)[:400]}",
        }

    base = paths["eager_fp32"]["latency"]["median_ms"]
    for row in paths.values():
        if "latency" in row:
            row["speedup_vs_eager"] = round(base / row["latency"]["median_ms"], 2)
    ok = [(k, v) for k, v in paths.items() if "latency" in v and v["mask_iou_min"] >= IOU_REQUIREMENT]
    best = min(ok, key=lambda kv: kv[1]["latency"]["median_ms"]) if ok else ("eager_fp32", paths["eager_fp32"])
    res["paths"] = paths
    res["recommended_default"] = {
        "path": best[0],
        "label": best[1]["label"],
        "rule": f"fastest with min mask IoU ≥ {IOU_REQUIREMENT}",
    }
    res.note(
        "Random weights: the accuracy columns measure how much each path perturbs the embedding and the "
        "decoder's mask, not segmentation quality. Repeat with trained weights before switching paths."
    )
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
