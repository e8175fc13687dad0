"""Per-prompt decoder latency in headless Chromium with onnxruntime-web: WASM single- and
multi-thread, fp32 and int8, on a standalone harness page (isolated from the app).

Serves ``bench/web/`` + ``frontend/dist/ort/`` (the WASM the app ships) + onnxruntime-web's JS from
``frontend/node_modules`` with COOP/COEP headers (SharedArrayBuffer → WASM threads) from a small
Python HTTP server on loopback, and drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

import functools
import http.server
import json
import sys
import tempfile
import threading
from pathlib import Path

import numpy as np

from bench.common import REPO_ROOT, Result, parser, summarize
from bench.decoder import VARIANT_LABELS, decoder_prompts, setup

NAME = "decoder_browser"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
ORT_WASM_DIR = REPO_ROOT / "frontend" / "dist" / "ort"
ORT_JS_DIR = REPO_ROOT / "frontend" / "node_modules" / "onnxruntime-web" / "dist"


class _Handler(http.server.SimpleHTTPRequestHandler):
    routes: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        for prefix, folder in self.routes.items():
            if path.startswith(prefix):
                return str(folder / path[len(prefix):])
        return str(Path("/nonexistent"))

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


_Handler.extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, ".mjs": "text/javascript",
                           ".js": "text/javascript", ".wasm": "application/wasm"}


def serve(files_dir: Path):
    handler = type("Handler", (_Handler,), {"routes": {"/bench/": REPO_ROOT / "bench" / "web", "/ort/": ORT_WASM_DIR,
                                                       "/ortjs/": ORT_JS_DIR, "/files/": files_dir}})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def bundle_mask_upsample(out: Path) -> Path:
    """The app's frontend/src/mask-upsample.ts as one ES module, for the harness worker."""
    import subprocess

    esbuild = REPO_ROOT / "frontend" / "node_modules" / ".bin" / "esbuild"
    subprocess.run([str(esbuild), str(REPO_ROOT / "frontend" / "src" / "mask-upsample.ts"), "--bundle",
                    "--format=esm", f"--outfile={out}", "--log-level=warning"], check=True)
    return out


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=None)
    args = p.parse_args(argv)
    n = args.prompts or (5 if args.tiny else (50 if args.quick else 200))
    res = Result(NAME, args, "Mask decoder, per prompt, in the browser (onnxruntime-web in headless Chromium)",
                 f"Standalone harness page (bench/web/) with COOP/COEP, decoder in a module Web Worker like the "
                 f"app; {n} prompts (the same generator as the Python decoder benchmark) after 5 warm-up "
                 "prompts; time per prompt (performance.now) = await session.run() plus, for the low-res "
                 "graph, the app's own JS upsampling of the mask to the original size "
                 "(frontend/src/mask-upsample.ts, bundled with esbuild); median and p95. "
                 "Multi-thread = navigator.hardwareConcurrency WASM threads.")
    missing = [str(p) for p in (Path(CHROMIUM), ORT_WASM_DIR / "ort-wasm-simd-threaded.wasm", ORT_JS_DIR / "ort.wasm.min.mjs") if not p.exists()]
    if missing:
        res["status"] = "not measured: missing " + ", ".join(missing) + " (make bench builds the frontend; chromium: apt-get install chromium)"
        res["rows"] = {}
        res.save()
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-browser-"))
    model, onnx_paths, embedding, size, image_name = setup(args.tiny, tmp)
    embedding.astype("<f4").tofile(tmp / "embedding.bin")
    (tmp / "prompts.json").write_text(json.dumps({"dims": list(embedding.shape), "original_size": list(size),
                                                  "prompts": decoder_prompts(n, size, model.image_encoder.img_size)}))
    res["image"] = {"name": image_name, "size": list(size)}
    res["onnx_bytes"] = {k: v.stat().st_size for k, v in onnx_paths.items()}
    bundle_mask_upsample(tmp / "mask-upsample.js")
    server, base = serve(tmp)
    rows = {}
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            version = browser.version
            cores = None
            for threads_label in ("1", "mt"):
                for kind, path in onnx_paths.items():
                    page = browser.new_page()
                    if cores is None:
                        page.goto(base + "/bench/decoder_harness.html?n=0&model=none")
                        cores = page.evaluate("navigator.hardwareConcurrency")
                    threads = 1 if threads_label == "1" else max(2, int(cores or 2))
                    key = f"wasm_{'1t' if threads == 1 else f'{threads}t'}_{kind}"
                    print(f"bench.decoder_browser: {key}", flush=True)
                    page.goto(f"{base}/bench/decoder_harness.html?model={path.name}&threads={threads}&n={n}")
                    page.wait_for_function("window.benchResult !== undefined", timeout=600_000)
                    out = page.evaluate("window.benchResult")
                    page.close()
                    label = (f"onnxruntime-web WASM {'single-thread' if threads == 1 else f'{threads} threads'}, "
                             f"{VARIANT_LABELS[kind]}")
                    if "error" in out:
                        rows[key] = {"label": label, "error": out["error"][:600]}
                        continue
                    rows[key] = {"label": label, "latency": summarize([t / 1000.0 for t in out["times"]]),
                                 "run_only": summarize([t / 1000.0 for t in out["runTimes"]]),
                                 "session_create_ms": round(out["createMs"], 1), "threads": out["threads"],
                                 "cross_origin_isolated": out["crossOriginIsolated"]}
            browser.close()
    finally:
        server.shutdown()
    res["browser"] = {"chromium": version, "hardware_concurrency": cores}
    base_row = rows.get("wasm_1t_fp32_reference")
    for row in rows.values():
        if base_row and "latency" in row and "latency" in base_row:
            row["speedup_vs_1t_fp32"] = round(base_row["latency"]["median_ms"] / row["latency"]["median_ms"], 2)
    res["rows"] = rows
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
