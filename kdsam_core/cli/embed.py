"""``kdsam embed``: embed a folder of images into an on-disk embedding cache (float16)."""

from __future__ import annotations

import argparse
import json

from kdsam_core.cli._training_args import (
    add_device,
    add_progress,
    device_of,
    existing_dir,
    load_model_spec,
    model_spec_forms,
    progress_callback,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "embed",
        help="embed a folder of images into an embedding cache",
        description="Compute image embeddings with a model and store them in the cache that kdsam "
        "distill (teachers) and kdsam finetune (KD-SAM students) read: keyed by image "
        "content hash + model weights + preprocessing version. Reports the cache hit rate.",
    )
    *others, last = model_spec_forms(test=True)
    p.add_argument("--model", required=True, metavar="NAME=CHECKPOINT", help=f"{', '.join(others)} or {last}")
    p.add_argument("--images", required=True, help="folder of images (searched recursively)")
    p.add_argument("--cache", required=True, help="cache folder")
    p.add_argument("--batch-size", type=int, default=4)
    add_device(p)
    add_progress(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kdsam_core.config import PREPROCESSING_VERSION
    from kdsam_core.modeling.teachers import MODEL_NAMES
    from kdsam_core.training.caches import EmbeddingCache, fill_cache, teacher_identity
    from kdsam_core.training.common import PreparedImages
    from kdsam_core.training.data import Sample, images_in_folder
    from kdsam_core.training.finetune import student_cache

    existing_dir(args.images, "image folder")
    device = device_of(args)
    label, model, _info = load_model_spec(args.model)
    name = args.model.split("=", 1)[0].split(":")[-1]
    kind = MODEL_NAMES.get(name)
    if kind is None:
        cache = student_cache(model, args.cache)
    else:
        cache = EmbeddingCache(
            args.cache, teacher_identity(model, kind), int(model.image_encoder.img_size), PREPROCESSING_VERSION
        )
    samples = [Sample(image=p, id=p.name) for p in images_in_folder(args.images)]
    images = PreparedImages(samples, int(model.image_encoder.img_size), keep=0)
    encoder = model.image_encoder.to(device)
    stats = fill_cache(
        encoder,
        images,
        cache,
        device,
        args.batch_size,
        progress_callback(args),
        phase="embed",
        what=f"{label} embeddings",
    )
    print(
        json.dumps(
            {"images": len(samples), **stats.as_dict(), "cache": str(cache.folder), "model_id": cache.model_id},
            indent=1,
        )
    )
    return 0
