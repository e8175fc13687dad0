"""The compact embedding encoding: ≤ 1 MB on the wire, masks equal to the float32 ones on real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from kdsam_core.embedding_codec import EmbeddingFormatError, decode_embedding, encode_embedding
from kdsam_core.transforms import apply_coords, load_rgb
from tests.conftest import LANDSCAPE_JPEG
from tests.web.test_images_api import upload

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
REAL_IMAGES = [
    SHARED / "kvasir_seg/Kvasir-SEG/images/cju0qx73cjw570799j4n5cjze.jpg",
    SHARED / "busi/Dataset_BUSI_with_GT/malignant/malignant (1).png",
    SHARED / "hc18/training_set/000_HC.png",
]
MB = 1_000_000


def test_quant8_round_trip_is_within_half_a_step_and_rejects_corruption():
    rng = np.random.default_rng(1)
    embedding = (rng.standard_normal((1, 256, 64, 64)) * rng.uniform(0.1, 3, (1, 256, 1, 1))).astype(np.float32)
    embedding[0, 5] = 0.25  # a constant channel
    for encoding in ("quant8", "quant8-zlib"):
        data = encode_embedding(embedding, encoding=encoding, image_size=[10, 20], input_size=[512, 1024])
        decoded, header = decode_embedding(data)
        assert header["encoding"] == encoding and header["dtype"] == "uint8" and header["image_size"] == [10, 20]
        step = (embedding.max(axis=(2, 3)) - embedding.min(axis=(2, 3))) / 255
        assert (np.abs(decoded - embedding) <= step[..., None, None] / 2 + 1e-5).all()
        assert np.array_equal(decoded[0, 5], embedding[0, 5])
    assert (
        len(encode_embedding(embedding, encoding="quant8")) == 8 + 72 + 8 * 256 + 256 * 64 * 64
    )  # header, scales, codes
    broken = encode_embedding(embedding, encoding="quant8-zlib")[:-100]
    with pytest.raises(EmbeddingFormatError, match="quant8-zlib"):
        decode_embedding(broken)
    # float16/raw keeps working
    assert decode_embedding(encode_embedding(embedding, "float16"))[1]["encoding"] == "raw"


@pytest.mark.django_db
def test_embedding_endpoint_serves_quant8_zlib_under_1_mb_on_request(api):
    image_id = upload(api, "polyp.jpg", LANDSCAPE_JPEG.read_bytes()).json()["id"]
    raw = api.get(f"/api/images/{image_id}/embedding/").getvalue()
    compact = api.get(f"/api/images/{image_id}/embedding/?encoding=quant8-zlib").getvalue()
    assert len(compact) <= MB < len(raw)
    full, raw_header = decode_embedding(raw)
    small, header = decode_embedding(compact)
    assert header["encoding"] == "quant8-zlib" and header["input_size"] == raw_header["input_size"]
    assert np.abs(small - full).max() < 0.05
    bad = api.get(f"/api/images/{image_id}/embedding/?encoding=bf8")
    assert bad.status_code == 400 and "quant8-zlib" in bad.json()["error"]["message"]


@pytest.mark.django_db
def test_masks_from_the_compact_embedding_equal_the_float32_ones_on_real_images():
    """IoU ≥ 0.995 for clicks and a box on real Kvasir-SEG, BUSI and HC18 images (≤ 1 MB each)."""
    from kdsam_core.inference import embed_image
    from webapp.registry import services as registry

    missing = [p for p in REAL_IMAGES if not p.exists()]
    if missing:
        pytest.skip(f"real images not available: {missing}")
    version = registry.ensure_active_model_version()
    model = registry.load_model(version)
    session = ort.InferenceSession(version.decoder_onnx.path, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    worst = 1.0
    for path in REAL_IMAGES:
        result = embed_image(model, load_rgb(path))
        exact = result.embedding.astype(np.float32)
        data = encode_embedding(exact, encoding="quant8-zlib", image_size=list(result.original_size))
        assert len(data) <= MB, f"{path.name}: {len(data)} bytes"
        compact, _ = decode_embedding(data)
        h, w = result.original_size
        prompts = [([[rng.uniform(0, w), rng.uniform(0, h)]], [1]) for _ in range(2)]
        prompts.append(([[w * 0.25, h * 0.25], [w * 0.75, h * 0.7]], [2, 3]))
        for points, labels in prompts:
            coords = apply_coords(np.array(points, np.float64), (h, w))
            if labels[-1] == 1:
                coords, labels = np.concatenate([coords, [[0.0, 0.0]]]), [*labels, -1]
            feeds = {
                "point_coords": coords[None].astype(np.float32),
                "point_labels": np.array([labels], np.float32),
                "mask_input": np.zeros((1, 1, 256, 256), np.float32),
                "has_mask_input": np.zeros(1, np.float32),
                "orig_im_size": np.array([h, w], np.float32),
            }
            a = session.run(None, {"image_embeddings": exact, **feeds})[0][0, 0] > 0
            b = session.run(None, {"image_embeddings": compact, **feeds})[0][0, 0] > 0
            union = (a | b).sum()
            if union:
                worst = min(worst, (a & b).sum() / union)
    assert worst >= 0.995, f"worst IoU {worst:.4f}"
