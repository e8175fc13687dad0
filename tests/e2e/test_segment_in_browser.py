"""A clinician logs in, uploads an image, and the decoder running in the browser draws a mask."""

from __future__ import annotations

import base64
import json

import numpy as np
import onnxruntime as ort
import pytest

from kdsam_core.embedding_codec import decode_embedding
from kdsam_core.transforms import apply_coords
from tests.conftest import LANDSCAPE_JPEG
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

READ_MASK = """() => {
  const canvas = document.querySelector('canvas#mask-overlay');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const bits = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0; i < bits.length; i++) bits[i] = data[4 * i + 3] > 0 ? 1 : 0;
  let binary = '';
  for (let i = 0; i < bits.length; i += 8192) binary += String.fromCharCode(...bits.subarray(i, i + 8192));
  return {width: canvas.width, height: canvas.height, bits: btoa(binary)};
}"""


def python_mask(page, studio, image: dict, prompt: dict) -> np.ndarray:
    """The same click through onnxruntime in Python, with the files the browser used."""
    request = page.context.request
    model = request.get(studio.url + "/api/models/active/").json()
    decoder = request.get(studio.url + model["decoder_onnx_url"]).body()
    embedding, header = decode_embedding(request.get(studio.url + image["embedding_url"]).body())
    size = tuple(header["image_size"])
    points = np.array([[p[0], p[1]] for p in prompt["points"]], dtype=np.float64)
    labels = [p[2] for p in prompt["points"]]
    if prompt.get("box"):
        x0, y0, x1, y1 = prompt["box"]
        points = np.concatenate([points.reshape(-1, 2), [[x0, y0], [x1, y1]]])
        labels += [2, 3]
    else:
        points = np.concatenate([points, [[0.0, 0.0]]])
        labels += [-1]
    coords = apply_coords(points, size)
    coords[len(prompt["points"]) if not prompt.get("box") else -3 :][-1:] *= 1  # padding point stays (0, 0)
    if not prompt.get("box"):
        coords[-1] = 0.0
    session = ort.InferenceSession(decoder, providers=["CPUExecutionProvider"])
    masks, _, _ = session.run(
        None,
        {
            "image_embeddings": embedding,
            "point_coords": coords[None].astype(np.float32),
            "point_labels": np.array([labels], np.float32),
            "mask_input": np.zeros((1, 1, 256, 256), np.float32),
            "has_mask_input": np.zeros(1, np.float32),
            "orig_im_size": np.array(size, np.float32),
        },
    )
    return masks[0, 0] > 0.0


def test_upload_click_draws_the_same_mask_as_python_onnxruntime(page, studio):
    log_in(page, studio)
    with page.expect_response(lambda r: r.url.endswith("/api/images/") and r.request.method == "POST") as upload:
        page.set_input_files("#upload-input", str(LANDSCAPE_JPEG))
    image_id = upload.value.json()["id"]  # the shared studio also holds the admin's images of other tests
    page.wait_for_selector(f"li.image-item[data-image-id='{image_id}'][data-status=ready]", timeout=120_000).click()
    page.wait_for_selector(f"#viewer[data-image-id='{image_id}'][data-state=ready]", timeout=60_000)

    overlay = page.locator("canvas#mask-overlay")
    box = overlay.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    page.wait_for_selector("#viewer[data-decode-count='1']", timeout=30_000)

    shown = page.evaluate(READ_MASK)
    assert (shown["width"], shown["height"]) == (622, 529)
    browser_mask = np.frombuffer(base64.b64decode(shown["bits"]), np.uint8).reshape(529, 622).astype(bool)
    assert browser_mask.any(), "no mask overlay was drawn"

    prompt = json.loads(page.get_attribute("#viewer", "data-last-prompt"))
    assert len(prompt["points"]) == 1 and prompt["points"][0][2] == 1
    x, y = prompt["points"][0][:2]
    assert abs(x - 622 * 0.45) < 3 and abs(y - 529 * 0.55) < 3  # the click landed where we clicked

    image_id = int(page.get_attribute("#viewer", "data-image-id"))
    image = page.context.request.get(f"{studio.url}/api/images/{image_id}/").json()
    expected = python_mask(page, studio, image, prompt)
    iou = (browser_mask & expected).sum() / max(1, (browser_mask | expected).sum())
    assert iou >= 0.99, f"browser vs Python onnxruntime IoU {iou:.4f}"
    assert not [m for m in page.console_messages if m.startswith("pageerror")], page.console_messages


def test_uploading_a_non_image_shows_a_clear_message(page, studio, tmp_path):
    log_in(page, studio)
    bogus = tmp_path / "report.txt"
    bogus.write_text("not an image")
    page.set_input_files("#upload-input", str(bogus))
    message = page.wait_for_selector("#error-message:has-text('report.txt')", timeout=30_000)
    assert "PNG or JPEG" in message.inner_text()


def test_random_weights_banner_is_shown(page, studio):
    log_in(page, studio)
    banner = page.wait_for_selector("#weights-banner", state="visible", timeout=30_000)
    assert "randomly initialised" in banner.inner_text()
