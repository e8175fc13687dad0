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
        coords = [*apply_coords(pts, original_size, long_side).tolist(), [0.0, 0.0]]
        prompts.append({"coords": coords, "labels": [*labels, -1.0]})
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


#: The decoder graphs compared (all single-mask, same weights):
#: ``fp32_reference`` SAM's own graph order (``reassociate=False``) with the size-correct
#: post-processing in the graph; ``fp32`` the fast export (kdsam_core.export.fast_decoder), same
#: contract; ``fp32_lowres`` the fast export without post-processing, the mask upsampled to the
#: original size by the caller (the browser app's decoder); ``int8`` dynamic int8 of the reference
#: graph (int8 quantises weight × activation products, which only the reference order has).
VARIANT_LABELS = {
    "fp32_reference": "fp32, SAM reference graph",
    "fp32": "fp32, fast graph",
    "fp32_lowres": "fp32, fast graph, low-res + client upsampling (the app's)",
    "int8": "int8 (dynamic, reference graph)",
}


def setup(tiny: bool, out_dir: Path):
    """Model, decoder ONNX files (``VARIANT_LABELS``), one real image's embedding and its size."""
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
    reference = export_decoder_onnx(model, out_dir / "decoder_reference.onnx", reassociate=False)
    paths = {
        "fp32_reference": reference,
        "fp32": export_decoder_onnx(model, out_dir / "decoder.onnx"),
        "fp32_lowres": export_decoder_onnx(model, out_dir / "decoder_lowres.onnx", postprocess=False),
        "int8": quantize_dynamic_onnx(reference, out_dir / "decoder_int8.onnx"),
    }
    return model, paths, embedding, prep.original_size, name


def decoder_gflops(model, embedding: np.ndarray) -> dict[str, float]:
    """FLOPs of one click (1 point + padding) through SAM's reference decoder and the fast one."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from kdsam_core.export.fast_decoder import fast_decoder

    emb = torch.from_numpy(embedding)
    points, labels = torch.tensor([[[400.0, 300.0], [0.0, 0.0]]]), torch.tensor([[1, -1]])
    out = {}
    for key, m in (("reference", model), ("fast", fast_decoder(model))):
        with torch.inference_mode():
            sparse, dense = m.prompt_encoder(points=(points, labels), boxes=None, masks=None)
            with FlopCounterMode(display=False) as counter:
                m.mask_decoder.predict_masks(emb, m.prompt_encoder.get_dense_pe(), sparse, dense)
        out[key] = round(counter.get_total_flops() / 1e9, 3)
    return out


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=None)
    args = p.parse_args(argv)
    import onnxruntime as ort
    import torch

    from kdsam_core.export.decoder_onnx import DecoderOnnxModel

    set_threads(args.threads)
    n = args.prompts or (5 if args.tiny else (50 if args.quick else 200))
    res = Result(
        NAME,
        args,
        "Mask decoder, per prompt (Python: PyTorch and onnxruntime)",
        f"{n} random click prompts (1–3 points + padding point, official SAM decoder contract, "
        "single mask, logits upsampled to the original image size inside the model, or for the "
        "low-res graph by SAM's postprocess_masks in PyTorch after the run, timed with it) on one "
        f"real image's student embedding; 5 warm-up prompts; {args.threads} threads; median and p95. "
        "PyTorch runs SAM's reference modules.",
    )
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

    res["gflops"] = decoder_gflops(model, embedding)
    rows["pytorch_fp32"] = {"label": "PyTorch eager fp32 (SAM reference modules)", "latency": timed(run_torch)}
    from kdsam_core.transforms import preprocess_shape

    input_size = preprocess_shape(*size, long_side=model.image_encoder.img_size)
    for kind, path in onnx_paths.items():
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = args.threads
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        names = {i.name for i in session.get_inputs()}

        def run_ort(pr, session=session, names=names):
            feeds = {k: v for k, v in feeds_for(pr, embedding, size).items() if k in names}
            if "orig_im_size" in names:
                return session.run(["masks"], feeds)
            (low,) = session.run(["low_res_masks"], feeds)
            with torch.inference_mode():
                return model.postprocess_masks(torch.from_numpy(low), input_size, size)

        rows[f"ort_{kind}"] = {"label": f"onnxruntime Python {VARIANT_LABELS[kind]}", "latency": timed(run_ort)}
    base = rows["pytorch_fp32"]["latency"]["median_ms"]
    for row in rows.values():
        row["speedup_vs_pytorch"] = round(base / row["latency"]["median_ms"], 2)
    res["rows"] = rows
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
