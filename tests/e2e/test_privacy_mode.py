"""Privacy mode: the student encoder runs in the browser, the image is never uploaded."""

from __future__ import annotations

import base64
import json

import numpy as np
import onnxruntime as ort
import pytest

from kdsam_core.embedding_codec import decode_embedding
from kdsam_core.transforms import load_rgb, prepare_image
from tests.conftest import LANDSCAPE_JPEG
from tests.e2e.conftest import log_in
from tests.e2e.test_segment_in_browser import READ_MASK

pytestmark = pytest.mark.e2e

READ_BROWSER_EMBEDDING = """async () => {
  const names = (await caches.keys()).filter((n) => n.startsWith('kdsam-embeddings-'));  // the session's
  if (names.length !== 1) return {count: -names.length};
  const cache = await caches.open(names[0]);
  const keys = (await cache.keys()).filter((r) => r.url.includes('/browser-embeddings/'));
  if (keys.length !== 1) return {count: keys.length};
  const bytes = new Uint8Array(await (await cache.match(keys[0])).arrayBuffer());
  let binary = '';
  for (let i = 0; i < bytes.length; i += 8192) binary += String.fromCharCode(...bytes.subarray(i, i + 8192));
  return {count: 1, url: keys[0].url, b64: btoa(binary)};
}"""


def test_privacy_mode_embeds_in_the_browser_and_never_uploads_the_image(page, studio):
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url)))
    log_in(page, studio)
    assert page.inner_text("#privacy-badge").startswith("Server mode")
    page.check("#privacy-toggle")  # KDSAM_PRIVACY_MODE=optional (default): the user's choice
    assert page.inner_text("#privacy-badge") == "Privacy mode: the image stays on this device"
    assert page.evaluate("localStorage.getItem('kdsam.privacy-mode')") == "privacy"

    page.set_input_files("#upload-input", str(LANDSCAPE_JPEG))
    page.wait_for_selector("#viewer[data-state=ready]", timeout=240_000)
    assert page.get_attribute("#viewer", "data-embedding-source") == "browser"
    assert page.get_attribute("#viewer", "data-encoder-backend") == "wasm"  # headless, --disable-gpu
    assert not page.is_hidden("#privacy-exports")

    overlay = page.locator("canvas#mask-overlay")
    box = overlay.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.45, box["y"] + box["height"] * 0.55)
    page.wait_for_selector("#viewer[data-decode-count='1']", timeout=60_000)
    shown = page.evaluate(READ_MASK)
    assert (shown["width"], shown["height"]) == (622, 529)
    mask = np.frombuffer(base64.b64decode(shown["bits"]), np.uint8).reshape(529, 622)
    assert mask.any(), "no mask was drawn"

    # saving to the server is refused with a message; nothing about the image is posted
    page.click("#save-button")
    assert "Privacy mode" in page.inner_text("#error-message")
    uploads = [(m, u) for m, u in requests if m != "GET" and "/api/images" in u]
    assert uploads == [], f"privacy mode sent image requests to the server: {uploads}"
    assert not any("/api/images/-" in u for _, u in requests)

    # the browser's embedding equals the Python student embedding of the same image
    cached = page.evaluate(READ_BROWSER_EMBEDDING)
    assert cached["count"] == 1
    browser, header = decode_embedding(base64.b64decode(cached["b64"]))
    assert header["image_size"] == [529, 622] and header["input_size"] == [871, 1024]
    privacy = page.context.request.get(studio.url + "/api/privacy/").json()
    encoder_onnx = page.context.request.get(studio.url + privacy["encoder_url"]).body()
    prepared = prepare_image(load_rgb(LANDSCAPE_JPEG))
    session = ort.InferenceSession(encoder_onnx, providers=["CPUExecutionProvider"])
    (python,) = session.run(None, {"image": prepared.tensor.numpy()})
    a, b = browser.ravel().astype(np.float64), python.ravel().astype(np.float64)
    cosine = float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
    assert cosine >= 0.99, f"browser vs Python embedding cosine {cosine:.5f}"
    print(
        json.dumps(
            {
                "cosine": cosine,
                "encode_ms": page.get_attribute("#viewer", "data-last-encode-ms"),
                "threads": page.get_attribute("#viewer", "data-encoder-threads"),
            }
        )
    )
