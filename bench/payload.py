"""Embedding payload per encoding (bytes sent to the browser per image) and its mask IoU vs float32."""

from __future__ import annotations

import sys
import zlib

import numpy as np

from bench.common import Result, load_mask_array, mask_iou, parser, real_images, set_threads
from bench.serving import decode_mask, prompt_for

NAME = "payload"


def _int8_per_channel(x: np.ndarray):
    lo = x.min(axis=(0, 2, 3), keepdims=True)
    hi = x.max(axis=(0, 2, 3), keepdims=True)
    scale = np.maximum(hi - lo, 1e-12) / 255.0
    q = np.clip(np.round((x - lo) / scale), 0, 255).astype(np.uint8)
    return q, (q.astype(np.float32) * scale + lo).astype(np.float32), 2 * 4 * x.shape[1]


def variants(x: np.ndarray) -> dict[str, tuple[int, np.ndarray, str]]:
    """encoding → (payload bytes, decoded float32 embedding, description)."""
    f16 = x.astype("<f2")
    bf16_bits = (x.astype("<f4").view("<u4") + 0x7FFF + ((x.view("<u4") >> 16) & 1)) >> 16
    bf16 = (bf16_bits.astype("<u4") << 16).view("<f4")
    q, deq, side = _int8_per_channel(x)
    return {
        "float32": (x.nbytes, x, "raw float32 (SAM's own)"),
        "float16": (f16.nbytes, f16.astype(np.float32), "raw float16 (current KDEM default)"),
        "float16+deflate": (
            len(zlib.compress(f16.tobytes(), 6)),
            f16.astype(np.float32),
            "float16, deflate level 6 (e.g. Content-Encoding: gzip)",
        ),
        "bfloat16": (bf16_bits.astype("<u2").nbytes, bf16, "raw bfloat16 (round to nearest even)"),
        "int8-per-channel": (q.nbytes + side, deq, "uint8 affine per channel (min/max, 256 scales+offsets)"),
        "int8-per-channel+deflate": (
            len(zlib.compress(q.tobytes(), 6)) + side,
            deq,
            "the int8 payload, deflate level 6",
        ),
    }


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=None)
    args = p.parse_args(argv)
    import torch

    from bench.models import build_sam_like
    from kdsam_core.embedding_codec import encode_embedding
    from kdsam_core.transforms import load_rgb, prepare_image

    set_threads(args.threads)
    n = args.images or (1 if args.tiny else (3 if args.quick else 8))
    res = Result(
        NAME,
        args,
        "Embedding payload per image and its effect on masks",
        f"Student embeddings (random weights) of {n} real images from ../shared/data; each encoding "
        "is decoded back to float32 and fed to the same PyTorch mask decoder with two prompts per "
        "image (ground-truth box + centroid point; a single centroid click); IoU of the thresholded "
        "mask vs the float32 embedding's mask. Bytes exclude the ~200-byte KDEM header.",
    )
    model = build_sam_like("kdsam_tiny" if args.tiny else "kdsam").eval()
    per: dict[str, dict] = {}
    for _name, path, mask_path in real_images(n):
        image = load_rgb(path)
        prep = prepare_image(image, model.image_encoder.img_size)
        with torch.inference_mode():
            x = model.image_encoder(prep.tensor).numpy().astype(np.float32)
        gt = load_mask_array(mask_path, image.shape[:2])
        point, box = prompt_for(gt)
        ref_box = decode_mask(model, x, prep.original_size, point, box)
        ref_click = _click(model, x, prep.original_size, point)
        for key, (nbytes, decoded, desc) in variants(x).items():
            row = per.setdefault(
                key, {"description": desc, "bytes": [], "iou_box": [], "iou_click": [], "max_abs_err": []}
            )
            row["bytes"].append(nbytes)
            row["iou_box"].append(mask_iou(ref_box, decode_mask(model, decoded, prep.original_size, point, box)))
            row["iou_click"].append(mask_iou(ref_click, _click(model, decoded, prep.original_size, point)))
            row["max_abs_err"].append(float(np.abs(decoded - x).max()))
    kdem = len(
        encode_embedding(
            x, "float16", image_size=list(prep.original_size), input_size=list(prep.input_size), model_version=1
        )
    )
    rows = {}
    f32 = float(np.mean(per["float32"]["bytes"]))
    for key, row in per.items():
        rows[key] = {
            "description": row["description"],
            "bytes_mean": int(np.mean(row["bytes"])),
            "ratio_vs_float32": round(float(np.mean(row["bytes"])) / f32, 3),
            "iou_min": round(min(row["iou_box"] + row["iou_click"]), 4),
            "iou_mean": round(float(np.mean(row["iou_box"] + row["iou_click"])), 4),
            "max_abs_err": round(max(row["max_abs_err"]), 5),
        }
    res["rows"] = rows
    res["kdem_float16_total_bytes"] = kdem
    res["images"] = n
    res.note(
        "Random weights: embeddings of an untrained student have different statistics from trained ones; "
        "repeat with trained weights before changing the served encoding."
    )
    res.save()
    return 0


def _click(model, x, original_size, point):
    import torch

    from kdsam_core.transforms import apply_coords, preprocess_shape

    long_side = model.image_encoder.img_size
    coords = apply_coords(np.concatenate([point, [[0.0, 0.0]]]), original_size, long_side)
    labels = np.array([1, -1], np.float32)
    with torch.inference_mode():
        sparse, dense = model.prompt_encoder(
            points=(torch.as_tensor(coords, dtype=torch.float32)[None], torch.as_tensor(labels)[None]),
            boxes=None,
            masks=None,
        )
        low, _ = model.mask_decoder(
            image_embeddings=torch.as_tensor(x),
            image_pe=model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        masks = model.postprocess_masks(low, preprocess_shape(*original_size, long_side), original_size)
    return (masks[0, 0] > model.mask_threshold).numpy()


if __name__ == "__main__":
    sys.exit(main())
