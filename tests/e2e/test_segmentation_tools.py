"""The clinician's tools in the browser: negative points, boxes, mask candidates, refinement, undo/redo,
zoom, brush, hover preview, several saved objects, reload and exports.

One logged-in page is shared by the tests of this module (the image is opened once); each test starts
from a fresh object. Every mask the browser shows is checked against onnxruntime in Python run on the
same decoder file, embedding and prompt (with the previous low-res mask when refining).
"""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import onnxruntime as ort
import pytest
from PIL import Image as PILImage

from kdsam_core.embedding_codec import decode_embedding
from kdsam_core.masks_io import rle_decode
from kdsam_core.transforms import apply_coords, postprocess_masks
from tests.conftest import LANDSCAPE_JPEG
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

W, H = 622, 529

READ_CANVAS = """(selector) => {
  const canvas = document.querySelector(selector);
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  const bits = new Uint8Array(canvas.width * canvas.height);
  for (let i = 0; i < bits.length; i++) bits[i] = data[4 * i + 3] > 0 ? 1 : 0;
  let binary = '';
  for (let i = 0; i < bits.length; i += 8192) binary += String.fromCharCode(...bits.subarray(i, i + 8192));
  return {width: canvas.width, height: canvas.height, bits: btoa(binary)};
}"""


def shown_mask(page, selector: str = "canvas#mask-overlay") -> np.ndarray:
    shown = page.evaluate(READ_CANVAS, selector)
    assert (shown["width"], shown["height"]) == (W, H)
    return np.frombuffer(base64.b64decode(shown["bits"]), np.uint8).reshape(H, W).astype(bool)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


class Reference:
    """The browser's decoder, embedding and prompt rules replayed with onnxruntime in Python."""

    def __init__(self, page, studio, image: dict):
        request = page.context.request
        self.session = ort.InferenceSession(
            request.get(studio.url + image["decoder_url"]).body(), providers=["CPUExecutionProvider"]
        )
        # the same bytes the browser fetched: the compact wire encoding
        wire = request.get(studio.url + image["embedding_url"] + "?encoding=quant8-zlib").body()
        assert len(wire) <= 1_000_000
        self.embedding, header = decode_embedding(wire)
        self.size = tuple(header["image_size"])

    def run(self, prompt: dict, low_res: np.ndarray | None = None):
        points = [[p[0], p[1]] for p in prompt["points"]]
        labels = [p[2] for p in prompt["points"]]
        if prompt.get("box"):
            x0, y0, x1, y1 = prompt["box"]
            points += [[x0, y0], [x1, y1]]
            labels += [2, 3]
            coords = apply_coords(np.array(points, np.float64), self.size)
        else:
            coords = np.concatenate(
                [apply_coords(np.array(points, np.float64).reshape(-1, 2), self.size), [[0.0, 0.0]]]
            )
            labels += [-1]
        # the browser decoder stops at the low-res logits; SAM's post-processing gives the masks
        ious, low = self.session.run(
            ["iou_predictions", "low_res_masks"],
            {
                "image_embeddings": self.embedding,
                "point_coords": coords[None].astype(np.float32),
                "point_labels": np.array([labels], np.float32),
                "mask_input": (low_res if low_res is not None else np.zeros((256, 256), np.float32))[None, None].astype(
                    np.float32
                ),
                "has_mask_input": np.array([0.0 if low_res is None else 1.0], np.float32),
            },
        )
        masks = postprocess_masks(low, self.size).numpy()
        # SAM's rule (mask-select.ts): one click or one box -> best of candidates 1-3, else output 0
        chosen = 1 + int(np.argmax(ious[0, 1:])) if len(labels) <= 2 else 0
        return masks[0] > 0.0, ious[0], low[0], chosen


@pytest.fixture(scope="module")
def seg(browser, studio):
    """One logged-in page with the landscape image open and ready."""
    context = browser.new_context(viewport={"width": 1400, "height": 950})
    page = context.new_page()
    page.console_messages = []
    page.on("pageerror", lambda error: page.console_messages.append(f"pageerror: {error}"))
    log_in(page, studio)
    page.set_input_files("#upload-input", str(LANDSCAPE_JPEG))
    page.wait_for_selector("#viewer[data-state=ready]", timeout=120_000)
    image_id = int(page.get_attribute("#viewer", "data-image-id"))
    image = page.context.request.get(f"{studio.url}/api/images/{image_id}/").json()
    page.uncheck("#hover-input")  # previews are tested on their own; elsewhere they would only add decodes
    assert int(page.get_attribute("#viewer", "data-embedding-bytes")) <= 1_000_000
    # the model picker lists the published versions and preselects the active one (used for this upload)
    page.wait_for_selector("#model-picker option", state="attached")
    assert int(page.eval_on_selector("#model-picker", "s => s.value")) == image["model_version"]
    yield page, image, Reference(page, studio, image)
    context.close()
    assert not [m for m in page.console_messages if m.startswith("pageerror")], page.console_messages


def fresh_object(page) -> None:
    """Starts an empty object at fit zoom with the prompt tool."""
    page.keyboard.press("Escape")
    page.keyboard.press("0")
    page.keyboard.press("p")
    page.click("#new-object-button")


def decode_count(page) -> int:
    return int(page.get_attribute("#viewer", "data-decode-count"))


def click_image(page, x: float, y: float, *, button="left", modifiers=None) -> None:
    """Clicks image pixel (x, y) wherever the (possibly zoomed) overlay is on screen; waits for the decode."""
    before = decode_count(page)
    box = page.locator("canvas#mask-overlay").bounding_box()
    for key in modifiers or []:
        page.keyboard.down(key)
    page.mouse.click(box["x"] + x * box["width"] / W, box["y"] + y * box["height"] / H, button=button)
    for key in modifiers or []:
        page.keyboard.up(key)
    page.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.decodeCount) > {before}", timeout=30_000
    )


def last_prompt(page) -> dict:
    return json.loads(page.get_attribute("#viewer", "data-last-prompt"))


def test_negative_point_and_refinement_with_the_previous_low_res_mask_match_python(seg):
    page, _, ref = seg
    fresh_object(page)
    click_image(page, 280, 290)
    first = last_prompt(page)
    _, _, low, chosen = ref.run(first)
    click_image(page, 360, 250, modifiers=["Shift"])  # shift+click: negative
    click_image(page, 200, 200, button="right")  # right click: negative too
    prompt = last_prompt(page)
    assert [p[2] for p in prompt["points"]] == [1, 0, 0]
    # each later click is refined from the low-res logits of the mask shown before it
    _masks, _, low2, chosen2 = ref.run({"points": prompt["points"][:2], "box": None}, low[chosen])
    masks3, _, _, chosen3 = ref.run(prompt, low2[chosen2])
    assert chosen2 == chosen3 == 0  # several prompts: SAM's single-mask output
    assert iou(shown_mask(page), masks3[chosen3]) >= 0.995
    assert page.get_attribute("#candidates", "hidden") is not None  # no candidates after several clicks


def test_one_click_offers_three_candidates_with_python_ious_and_picking_one_shows_it(seg):
    page, _, ref = seg
    fresh_object(page)
    click_image(page, 300, 260)
    masks, ious, _, chosen = ref.run(last_prompt(page))
    buttons = page.locator("#candidates button.candidate")
    assert buttons.count() == 3
    shown_ious = [float(buttons.nth(i).get_attribute("data-iou")) for i in range(3)]
    assert np.allclose(shown_ious, ious[1:], atol=2e-3), (shown_ious, ious)
    assert int(page.get_attribute("#viewer", "data-chosen")) == chosen
    assert iou(shown_mask(page), masks[chosen]) >= 0.995
    other = next(i for i in (1, 2, 3) if i != chosen)
    page.keyboard.press(str(other))  # shortcut 1-3 picks a candidate
    page.wait_for_selector(f"#viewer[data-chosen='{other}']")
    assert iou(shown_mask(page), masks[other]) >= 0.995
    assert buttons.nth(other - 1).get_attribute("aria-pressed") == "true"


def test_box_drag_and_box_plus_point_match_python(seg):
    page, _, ref = seg
    fresh_object(page)
    box = page.locator("canvas#mask-overlay").bounding_box()
    sx, sy = box["width"] / W, box["height"] / H
    before = decode_count(page)
    page.mouse.move(box["x"] + 150 * sx, box["y"] + 120 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + 300 * sx, box["y"] + 250 * sy, steps=5)
    page.mouse.move(box["x"] + 420 * sx, box["y"] + 380 * sy, steps=5)
    page.mouse.up()
    page.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.decodeCount) > {before}", timeout=30_000
    )
    prompt = last_prompt(page)
    assert prompt["points"] == [] and prompt["box"] is not None
    assert np.allclose(prompt["box"], [150, 120, 420, 380], atol=2)
    masks, _, low, chosen = ref.run(prompt)
    assert iou(shown_mask(page), masks[chosen]) >= 0.995
    click_image(page, 300, 300)  # box + point: combined prompt
    combined = last_prompt(page)
    assert len(combined["points"]) == 1 and combined["box"] == prompt["box"]
    masks2, _, _, chosen2 = ref.run(combined, low[chosen])
    assert iou(shown_mask(page), masks2[chosen2]) >= 0.995


def test_undo_redo_and_clear(seg):
    page, _, _ = seg
    fresh_object(page)
    click_image(page, 280, 290)
    after_one = shown_mask(page)
    click_image(page, 420, 300)
    after_two = shown_mask(page)
    page.keyboard.press("Control+z")
    assert len(last_prompt(page)["points"]) == 1
    assert np.array_equal(shown_mask(page), after_one)
    page.click("#redo-button")
    assert len(last_prompt(page)["points"]) == 2
    assert np.array_equal(shown_mask(page), after_two)
    page.click("#clear-button")
    assert last_prompt(page) == {"points": [], "box": None} and not shown_mask(page).any()
    page.keyboard.press("Control+z")  # clear is undoable too
    assert np.array_equal(shown_mask(page), after_two)


def test_zoom_then_click_lands_where_clicked(seg):
    page, _, ref = seg
    fresh_object(page)
    width_before = page.locator("canvas#mask-overlay").bounding_box()["width"]
    for _ in range(4):
        page.keyboard.press("+")
    viewport = page.locator("#viewport").bounding_box()
    page.mouse.move(viewport["x"] + viewport["width"] * 0.3, viewport["y"] + viewport["height"] * 0.6)
    page.mouse.wheel(0, -200)  # wheel zooms at the cursor
    page.wait_for_function(
        f"() => document.querySelector('#mask-overlay').getBoundingClientRect().width > {width_before * 2.5}"
    )
    page.keyboard.press("ArrowLeft")  # and pan
    target = (250.0, 300.0)
    click_image(page, *target)
    ((x, y, label),) = last_prompt(page)["points"]
    assert abs(x - target[0]) < 1.0 and abs(y - target[1]) < 1.0 and label == 1
    masks, _, _, chosen = ref.run(last_prompt(page))
    assert iou(shown_mask(page), masks[chosen]) >= 0.995
    page.keyboard.press("0")
    assert abs(page.locator("canvas#mask-overlay").bounding_box()["width"] - width_before) < 1


def test_brush_and_eraser_edit_the_mask_and_are_undoable(seg):
    page, _, _ = seg
    fresh_object(page)
    click_image(page, 280, 290)
    decoded = shown_mask(page)
    page.keyboard.press("b")
    box = page.locator("canvas#mask-overlay").bounding_box()
    sx, sy = box["width"] / W, box["height"] / H
    page.mouse.move(box["x"] + 20 * sx, box["y"] + 20 * sy)
    page.mouse.down()
    page.mouse.move(box["x"] + 120 * sx, box["y"] + 20 * sy, steps=8)
    page.mouse.up()
    painted = shown_mask(page)
    assert painted[20, 30:110].all() and (painted | decoded).sum() == painted.sum()
    page.keyboard.press("e")
    assert page.get_attribute("#viewer", "data-tool") == "eraser"
    page.mouse.move(box["x"] + 60 * sx, box["y"] + 20 * sy)
    page.mouse.down()
    page.mouse.up()
    erased = shown_mask(page)
    assert not erased[20, 58:62].any() and erased[20, 30:40].all()
    page.keyboard.press("Control+z")
    assert np.array_equal(shown_mask(page), painted)
    page.keyboard.press("Control+z")
    assert np.array_equal(shown_mask(page), decoded)
    page.keyboard.press("p")


def test_display_options_outline_and_opacity_and_hover_preview(seg):
    page, _, _ = seg
    fresh_object(page)
    page.check("#hover-input")
    box = page.locator("canvas#mask-overlay").bounding_box()
    decodes = decode_count(page)
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.mouse.move(box["x"] + box["width"] * 0.52, box["y"] + box["height"] * 0.5)
    page.wait_for_function("() => Number(document.querySelector('#viewer').dataset.hoverCount) > 0", timeout=30_000)
    assert decode_count(page) == decodes and last_prompt(page)["points"] == []  # a preview is not a prompt
    page.uncheck("#hover-input")
    click_image(page, 280, 290)
    filled = shown_mask(page)
    page.keyboard.press("o")
    outline = shown_mask(page)
    assert outline.sum() < filled.sum() and not (outline & ~filled).any()
    page.keyboard.press("o")
    alpha = """() => { const c = document.querySelector('#mask-overlay');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let m = 0; for (let i = 3; i < d.length; i += 4) m = Math.max(m, d[i]); return m; }"""
    before = page.evaluate(alpha)
    page.keyboard.press("]")
    assert page.evaluate(alpha) > before


def test_a_click_on_the_hovered_pixel_takes_the_hover_decode_and_matches_python(seg):
    page, _, ref = seg
    fresh_object(page)
    page.check("#hover-input")
    box = page.locator("canvas#mask-overlay").bounding_box()
    x, y = box["x"] + 300 * box["width"] / W, box["y"] + 260 * box["height"] / H
    hovers, decodes = int(page.get_attribute("#viewer", "data-hover-count")), decode_count(page)
    page.mouse.move(x, y)
    page.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.hoverCount) > {hovers}", timeout=30_000
    )
    page.mouse.down()
    page.mouse.up()
    page.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.decodeCount) > {decodes}", timeout=30_000
    )
    assert page.get_attribute("#viewer", "data-last-decode-source") == "hover"
    masks, _ious, _, chosen = ref.run(last_prompt(page))
    assert int(page.get_attribute("#viewer", "data-chosen")) == chosen  # candidates as for any click
    assert iou(shown_mask(page), masks[chosen]) >= 0.995
    # the next click refines the mask: a real decode with the previous low-res mask
    page.uncheck("#hover-input")
    click_image(page, 200, 200, button="right")
    assert page.get_attribute("#viewer", "data-last-decode-source") == "decoder"


def test_help_panel_lists_the_shortcuts(seg):
    page, _, _ = seg
    page.keyboard.press("?")
    panel = page.wait_for_selector("#help-panel", state="visible")
    text = panel.inner_text()
    for words in ("Ctrl+Z", "Undo", "Esc", "Pick mask candidate", "Brush", "Zoom in"):
        assert words in text
    page.keyboard.press("Escape")
    page.wait_for_selector("#help-panel", state="hidden")


def test_save_several_objects_reload_shows_them_and_exports_match(seg, studio):
    page, image, _ = seg
    fresh_object(page)
    click_image(page, 280, 290)
    page.fill("#object-label", "lesion A")
    page.keyboard.press("Tab")
    mask_a = shown_mask(page)
    page.click("#save-button")
    page.wait_for_selector("#viewer[data-saved-count='1']", timeout=30_000)
    page.keyboard.press("n")
    click_image(page, 500, 100)
    mask_b = shown_mask(page)
    page.keyboard.press("s")
    page.wait_for_selector("#viewer[data-saved-count='2']", timeout=30_000)
    page.wait_for_selector(f"li.image-item[data-image-id='{image['id']}'][data-mask-count='2']", timeout=30_000)

    saved = page.context.request.get(f"{studio.url}/api/images/{image['id']}/masks/").json()
    assert [m["label"] for m in saved] == ["lesion A", "lesion B"]
    assert saved[0]["author"] == "admin" and saved[0]["model_version"] == image["model_version"]
    ((x, y, label),) = saved[0]["prompts"]["points"]
    assert abs(x - 280) < 1 and abs(y - 290) < 1 and label == 1 and saved[0]["prompts"]["box"] is None
    assert np.array_equal(rle_decode(saved[0]["rle"]), mask_a)
    assert np.array_equal(rle_decode(saved[1]["rle"]), mask_b)
    png = page.context.request.get(studio.url + saved[0]["export_urls"]["png"]).body()
    assert np.array_equal(np.array(PILImage.open(io.BytesIO(png))) > 0, mask_a)

    page.reload()
    page.wait_for_selector("body[data-app-state=ready]", state="attached", timeout=30_000)
    page.click(f"li.image-item[data-image-id='{image['id']}']")
    page.wait_for_selector("#viewer[data-state=ready][data-masks-loaded='2']", timeout=60_000)
    assert page.get_attribute("#viewer", "data-embedding-source") == "cache"  # Cache Storage: no download
    both = shown_mask(page, "canvas#objects-canvas")
    assert np.array_equal(both, mask_a | mask_b)
    page.click("li.object-item[data-saved='true'] >> nth=0")
    assert np.array_equal(shown_mask(page), mask_a)
    page.uncheck("#hover-input")


def test_a_corrupted_image_shows_a_clear_message(seg, tmp_path):
    page, _, _ = seg
    broken = tmp_path / "scan.png"
    broken.write_bytes(LANDSCAPE_JPEG.read_bytes()[:3000])  # a truncated file
    page.set_input_files("#upload-input", str(broken))
    message = page.wait_for_selector("#error-message:has-text('scan.png')", timeout=30_000)
    text = message.inner_text()
    assert "truncated" in text or "damaged" in text


def test_dicom_opens_with_window_presets_and_drag_adjustment_and_segments(seg, tmp_path):
    from tests.web.test_segmentation_formats import ct_dicom

    page, _, _ = seg
    content, hu = ct_dicom()
    path = tmp_path / "slice.dcm"
    path.write_bytes(content)
    page.set_input_files("#upload-input", str(path))
    page.wait_for_selector("#viewer[data-state=ready] >> xpath=self::*[@data-window]", timeout=120_000)
    read_grey = """() => { const c = document.querySelector('#image-canvas');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        return Array.from(d.filter((_, i) => i % 4 === 0)); }"""

    def expected(center, width):
        return np.clip(np.floor(((hu - (center - 0.5)) / (width - 1) + 0.5) * 255 + 0.5), 0, 255).astype(int)

    assert json.loads(page.get_attribute("#viewer", "data-window")) == {"center": 40, "width": 400}
    assert np.array_equal(np.array(page.evaluate(read_grey)).reshape(48, 64), expected(40, 400))
    page.select_option("#window-preset", label="Lung")
    assert json.loads(page.get_attribute("#viewer", "data-window")) == {"center": -600, "width": 1500}
    assert np.array_equal(np.array(page.evaluate(read_grey)).reshape(48, 64), expected(-600, 1500))
    page.keyboard.press("w")
    box = page.locator("canvas#mask-overlay").bounding_box()
    page.mouse.move(box["x"] + 20, box["y"] + 20)
    page.mouse.down()
    page.mouse.move(box["x"] + 80, box["y"] + 60, steps=4)
    page.mouse.up()
    window = json.loads(page.get_attribute("#viewer", "data-window"))
    assert window["width"] > 1500 and window["center"] > -600
    assert decode_count(page) == 0  # a window drag is not a prompt
    page.keyboard.press("p")
    before = decode_count(page)
    box = page.locator("canvas#mask-overlay").bounding_box()
    page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_function(
        f"() => Number(document.querySelector('#viewer').dataset.decodeCount) > {before}", timeout=30_000
    )


def test_going_back_to_an_image_uses_the_embedding_the_decoder_worker_kept(seg):
    page, image, ref = seg  # the DICOM slice (previous test) is open now
    page.click(f"li.image-item[data-image-id='{image['id']}']")
    page.wait_for_selector(f"#viewer[data-state=ready][data-image-id='{image['id']}']", timeout=60_000)
    assert page.get_attribute("#viewer", "data-embedding-source") == "memory"  # no Cache Storage, no decoding
    page.keyboard.press("n")
    click_image(page, 300, 260)
    masks, _, _, chosen = ref.run(last_prompt(page))
    assert iou(shown_mask(page), masks[chosen]) >= 0.995
