"""Per-prompt mask-decoder latency in Python: PyTorch, onnxruntime fp32 and int8 (dynamic).

The browser (onnxruntime-web) counterpart is ``bench.decoder_browser``; both decode the same
prompts (``decoder_prompts``) on the same real image's student embedding.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.common import Result, parser, real_images, set_threads, summarize

NAME = "decoder"


def decoder_prompts(n: int, original_size: tuple[int, int], long_side: int, seed: int = 0) -> list[dict]:
    """``n`` click prompts as official decoder feeds: 1–3 points (positive/negative) + the padding point."""
    from kdsam_core.transforms import apply_coords

    rng = np.random.default_rng(seed)
    h, w = original_size
    prompts = []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        pts = np.stack([rng.uniform(0, w, k), rng.uniform(0, h, k)], axis=1)
        labels = [1.0] + [float(v) for v in rng.integers(0, 2, k - 1)]
        coords = apply_coords(pts, original_size, long_side).tolist() + [[0.0, 0.0]]
        prompts.append({"coords": coords, "labels": labels + [-1.0]})
    return prompts


def feeds_for(prompt: dict, embedding: np.ndarray, original_size) -> dict[str, np.ndarray]:
    grid = embedding.shape[-1]
    return {
        "image_embeddings": embedding,
        "point_coords": np.asarray(prompt["coords"], np.float32)[None],
        "point_labels": np.asarray(prompt["labels"], np.float32)[None],
        "mask_input": np.zeros((1, 1, 4 * grid, 4 * grid), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.asarray(original_size, np.float32),
    }


def setup(tiny: bool, out_dir: Path):
    """Model, decoder ONNX files (fp32, int8), one real image's embedding and its size."""
    import torch

    from bench.models import build_sam_like
    from kdsam_core.export import export_decoder_onnx, quantize_dynamic_onnx
    from kdsam_core.transforms import load_rgb, prepare_image

    model = build_sam_like("kdsam_tiny" if tiny else "kdsam").eval()
    name, path, _ = real_images(1)[0]
    image = load_rgb(path)
    prep = prepare_image(image, model.image_encoder.img_size)
    with torch.inference_mode():
        embedding = model.image_encoder(prep.tensor).numpy().astype(np.float32)
    fp32 = export_decoder_onnx(model, out_dir / "decoder.onnx")
    int8 = quantize_dynamic_onnx(fp32, out_dir / "decoder_int8.onnx")
    return model, {"fp32": fp32, "int8": int8}, embedding, prep.original_size, name


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=None)
    args = p.parse_args(argv)
    import onnxruntime as ort
    import torch

    from kdsam_core.export.decoder_onnx import DecoderOnnxModel

    set_threads(args.threads)
    n = args.prompts or (5 if args.tiny else (50 if args.quick else 200))
    res = Result(NAME, args, "Mask decoder, per prompt (Python: PyTorch and onnxruntime)",
                 f"{n} random click prompts (1–3 points + padding point, official SAM decoder contract, "
                 "single mask, logits upsampled to the original image size inside the model) on one real "
                 f"image's student embedding; 5 warm-up prompts; {args.threads} threads; median and p95.")
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-decoder-"))
    model, onnx_paths, embedding, size, image_name = setup(args.tiny, tmp)
    prompts = decoder_prompts(n, size, model.image_encoder.img_size)
    res["image"] = {"name": image_name, "size": list(size)}
    res["onnx_bytes"] = {k: v.stat().st_size for k, v in onnx_paths.items()}
    rows = {}

    torch_model = DecoderOnnxModel(model, return_single_mask=True).eval()

    def run_torch(prompt):
        feeds = feeds_for(prompt, embedding, size)
        with torch.inference_mode():
            return torch_model(*[torch.from_numpy(v) for v in feeds.values()])

    def timed(fn):
        for prompt in prompts[:5]:
            fn(prompt)
        times = []
        for prompt in prompts:
            t0 = time.perf_counter()
            fn(prompt)
            times.append(time.perf_counter() - t0)
        return summarize(times)

    rows["pytorch_fp32"] = {"label": "PyTorch eager fp32", "latency": timed(run_torch)}
    for kind, path in onnx_paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        rows[f"ort_{kind}"] = {"label": f"onnxruntime Python {kind}",
                               "latency": timed(lambda pr: session.run(["masks"], feeds_for(pr, embedding, size)))}
    base = rows["pytorch_fp32"]["latency"]["median_ms"]
    for row in rows.values():
        row["speedup_vs_pytorch"] = round(base / row["latency"]["median_ms"], 2)
    res["rows"] = rows
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
