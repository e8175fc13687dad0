"""Time from upload to first mask, and from reopen to first mask, through the real server
(``python -m webapp.run`` with the embedded defaults: SQLite, embedded Redis, Celery worker) and the
real UI in headless Chromium."""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from bench.common import Result, parser, summarize
from bench.decoder_browser import CHROMIUM, CHROMIUM_ARGS
from bench.studio import Studio, distinct_png

NAME = "server"


def _log_in(page, studio) -> None:
    page.goto(studio.url + "/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", studio.password)
    page.click("#login-submit")
    page.wait_for_selector("body[data-app-state=ready]", state="attached", timeout=60_000)


def _click_first_mask(page, count: str = "1") -> float:
    overlay = page.locator("canvas#mask-overlay")
    box = overlay.bounding_box()
    t = time.perf_counter()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    page.wait_for_selector(f"#viewer[data-decode-count='{count}']", state="attached", timeout=60_000)
    return time.perf_counter() - t


def main(argv=None) -> int:
    args = parser(__doc__.splitlines()[0]).parse_args(argv)
    res = Result(NAME, args, "Upload → first mask and reopen → first mask, through the real server and UI",
                 "Real stack on loopback (daphne + Celery worker, embedded SQLite/Redis, random weights, the "
                 "worker's serving allocator from webapp/run.py), Debian Chromium via Playwright. Upload: "
                 "set the file input, wait for the item to be ready (embedding), open it, wait for the "
                 "viewer (image + embedding + decoder session), click the centre, wait for the drawn mask "
                 "(#viewer data-decode-count). Reopen: in the running app (open another image, then click this "
                 "one in the list: embedding from the browser's Cache Storage, decoder session already "
                 "loaded), a fresh page in the same browser context (HTTP cache warm) and a fresh context "
                 "(cold cache, new login); open the ready image, click. Automation "
                 "clicks immediately, so these are system times without human think time.")
    if not Path(CHROMIUM).exists():
        res["status"] = "not measured: /usr/bin/chromium missing"
        res.save()
        return 0
    n = 1 if (args.tiny or args.quick) else 3
    from playwright.sync_api import sync_playwright

    uploads, reopen_in_app, reopen_warm, reopen_cold = [], [], [], []
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-server-"))
    with Studio(threads=args.threads) as studio, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        _log_in(page, studio)
        ids = []
        for i in range(n):
            path = tmp / f"upload-{i}.png"
            path.write_bytes(distinct_png(1000 + i))
            before = page.eval_on_selector_all("li.image-item", "els => els.map(e => e.dataset.imageId)")
            t0 = time.perf_counter()
            page.set_input_files("#upload-input", str(path))
            handle = page.wait_for_function(
                """(before) => [...document.querySelectorAll('li.image-item[data-status=ready]')]
                     .map(e => e.dataset.imageId).find(id => !before.includes(id)) || null""",
                arg=before, timeout=600_000, polling=50)
            t_ready = time.perf_counter()
            ids.append(handle.json_value())
            page.click(f"li.image-item[data-image-id='{ids[-1]}']")
            page.wait_for_selector(f"#viewer[data-state=ready][data-image-id='{ids[-1]}']", state="attached", timeout=120_000)
            t_viewer = time.perf_counter()
            click = _click_first_mask(page)
            uploads.append({"total_s": t_viewer - t0 + click, "upload_to_ready_s": t_ready - t0,
                            "open_to_viewer_ready_s": t_viewer - t_ready, "click_to_mask_s": click})
        # reopen inside the running app: open another image first, then come back to this one
        for i, image_id in enumerate(ids):
            other = ids[(i + 1) % len(ids)] if len(ids) > 1 else None
            if other is not None:
                page.click(f"li.image-item[data-image-id='{other}']")
                page.wait_for_selector(f"#viewer[data-state=ready][data-image-id='{other}']", state="attached", timeout=120_000)
            t0 = time.perf_counter()
            page.click(f"li.image-item[data-image-id='{image_id}']")
            page.wait_for_selector(f"#viewer[data-state=ready][data-image-id='{image_id}']", state="attached", timeout=120_000)
            t_viewer = time.perf_counter()
            click = _click_first_mask(page)
            reopen_in_app.append({"total_s": t_viewer - t0 + click, "open_to_viewer_ready_s": t_viewer - t0,
                                  "click_to_mask_s": click})
        for label, fresh_context in (("warm", False), ("cold", True)):
            for image_id in ids:
                ctx = browser.new_context(viewport={"width": 1280, "height": 900}) if fresh_context else context
                p2 = ctx.new_page()
                if fresh_context:
                    _log_in(p2, studio)
                    t0 = time.perf_counter()
                else:
                    t0 = time.perf_counter()
                    p2.goto(studio.url + "/")
                    p2.wait_for_selector("body[data-app-state=ready]", state="attached", timeout=60_000)
                p2.click(f"li.image-item[data-image-id='{image_id}']")
                p2.wait_for_selector(f"#viewer[data-state=ready][data-image-id='{image_id}']", state="attached", timeout=120_000)
                t_viewer = time.perf_counter()
                click = _click_first_mask(p2)
                row = {"total_s": t_viewer - t0 + click, "open_to_viewer_ready_s": t_viewer - t0, "click_to_mask_s": click}
                (reopen_warm if label == "warm" else reopen_cold).append(row)
                p2.close()
                if fresh_context:
                    ctx.close()
        browser.close()

    def agg(rows):
        keys = rows[0].keys() if rows else []
        return {k: summarize([r[k] for r in rows]) for k in keys}

    res["rows"] = {"upload_to_first_mask": {"label": "upload → first mask", "runs": n, **agg(uploads)},
                   "reopen_in_app_to_first_mask": {"label": "reopen in the running app (back from another image) → first mask", "runs": n, **agg(reopen_in_app)},
                   "reopen_warm_to_first_mask": {"label": "reopen (page reload, warm HTTP cache) → first mask", "runs": n, **agg(reopen_warm)},
                   "reopen_cold_to_first_mask": {"label": "reopen (new browser context, cold cache; after login) → first mask", "runs": n, **agg(reopen_cold)}}
    res["raw"] = {"upload": uploads, "reopen_in_app": reopen_in_app, "reopen_warm": reopen_warm, "reopen_cold": reopen_cold}
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
