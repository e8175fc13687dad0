"""Privacy mode: the student image encoder in the browser (onnxruntime-web WASM in headless Chromium).

Drives the app's own built encoder worker (``frontend/dist/assets/encoder.worker-*.js``: SAM
preprocessing in TypeScript + ``session.run``) from a small harness page served with COOP/COEP
(SharedArrayBuffer → WASM threads) on loopback, with the full-size KD-SAM student at random weights.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from bench.common import REPO_ROOT, Result, parser, summarize
from bench.decoder_browser import CHROMIUM, CHROMIUM_ARGS, ORT_WASM_DIR, _Handler

NAME = "privacy"
DIST_ASSETS = REPO_ROOT / "frontend" / "dist" / "assets"
IMAGE_SIZE = (529, 622)  # the Kvasir fixture's size: a typical upscale to 871×1024

HARNESS = """<!doctype html><meta charset="utf-8"><title>encoder bench</title><script type="module">
const q = new URLSearchParams(location.search);
const n = +q.get('n'), warm = +q.get('warm'), W = +q.get('w'), H = +q.get('h');
const worker = new Worker('/assets/' + q.get('worker'), {type: 'module'});
let id = 0; const pending = new Map();
worker.onmessage = (e) => { const m = e.data; if (m.type !== 'progress') pending.get(m.requestId)(m); };
const call = (msg, transfer = []) => new Promise((r) => {
  const i = ++id; pending.set(i, r); worker.postMessage({...msg, requestId: i}, transfer);
});
const pixels = () => { const px = new Uint8ClampedArray(W * H * 4); let s = 12345;
  for (let i = 0; i < px.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0; px[i] = (i & 3) === 3 ? 255 : s >>> 24;
  }
  return px; };
(async () => {
  try {
    const ready = await call({
      type: 'init', modelUrl: '/files/encoder.onnx', wasmPaths: '/ort/',
      numThreads: +q.get('threads'), preferWebGpu: false,
    });
    if (ready.type === 'error') throw new Error(ready.message);
    const runs = [];
    for (let i = 0; i < warm + n; i++) {
      const px = pixels(); const t = performance.now();
      const m = await call({type: 'embed', pixels: px, width: W, height: H}, [px.buffer]);
      const total = performance.now() - t;
      if (m.type === 'error') throw new Error(m.message);
      if (i >= warm) runs.push({total, pre: m.preprocessMs, run: m.runMs});
    }
    window.benchResult = {info: ready.info, runs, crossOriginIsolated: self.crossOriginIsolated};
  } catch (e) { window.benchResult = {error: String(e && e.stack || e)}; }
})();
</script>"""


def _encoder_worker() -> Path | None:
    found = sorted(DIST_ASSETS.glob("encoder.worker-*.js")) if DIST_ASSETS.is_dir() else []
    return found[0] if found else None


def main(argv=None) -> int:
    import http.server
    import threading

    p = parser(__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=None)
    args = p.parse_args(argv)
    n = args.runs or (2 if args.tiny else 3 if args.quick else 5)
    thread_counts = [2] if (args.tiny or args.quick) else [2, 1]
    res = Result(
        NAME,
        args,
        "Privacy mode: student encoder in the browser (onnxruntime-web WASM, headless Chromium)",
        f"The app's built encoder worker (TypeScript SAM preprocessing + session.run) on a harness page with "
        f"COOP/COEP; a synthetic {IMAGE_SIZE[1]}×{IMAGE_SIZE[0]} RGBA image; 1 warm-up embed, then {n} timed; "
        "median of preprocess, session.run and total (message round trip included); session creation time "
        "after the download. WebGPU is not measured (headless Chromium with --disable-gpu).",
    )
    worker = _encoder_worker()
    missing = [str(x) for x in (Path(CHROMIUM), ORT_WASM_DIR / "ort-wasm-simd-threaded.wasm") if not x.exists()]
    if worker is None:
        missing.append(str(DIST_ASSETS / "encoder.worker-*.js"))
    if missing:
        res["status"] = (
            "not measured: missing "
            + ", ".join(missing)
            + " (make bench builds the frontend; chromium: apt-get install chromium)"
        )
        res["rows"] = {}
        res.save()
        return 0
    from bench.models import build_sam_like
    from kdsam_core.export import export_encoder_onnx

    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-privacy-"))
    model = build_sam_like("kdsam_tiny" if args.tiny else "kdsam").eval()
    onnx = export_encoder_onnx(model, tmp / "encoder.onnx")
    (tmp / "harness.html").write_text(HARNESS)
    res["model"] = {
        "name": "kdsam_tiny" if args.tiny else "kdsam (full-size student, random weights)",
        "input": int(model.image_encoder.img_size),
        "onnx_bytes": onnx.stat().st_size,
    }
    res["image"] = {"size": list(IMAGE_SIZE)}
    handler = type(
        "Handler",
        (_Handler,),
        {"routes": {"/assets/": DIST_ASSETS, "/ort/": ORT_WASM_DIR, "/files/": tmp, "/bench/": tmp}},
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    rows = {}
    from playwright.sync_api import sync_playwright

    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            version = browser.version
            for threads in thread_counts:
                key = f"wasm_{threads}t_fp32"
                print(f"bench.privacy: {key}", flush=True)
                page = browser.new_page()
                page.goto(
                    f"{base}/bench/harness.html?worker={worker.name}&threads={threads}&n={n}&warm=1"
                    f"&w={IMAGE_SIZE[1]}&h={IMAGE_SIZE[0]}"
                )
                page.wait_for_function("window.benchResult !== undefined", timeout=600_000)
                out = page.evaluate("window.benchResult")
                page.close()
                label = f"onnxruntime-web WASM {threads} thread{'s' if threads > 1 else ''} fp32"
                if "error" in out:
                    rows[key] = {"label": label, "error": out["error"][:600]}
                    continue
                rows[key] = {
                    "label": label,
                    "threads": out["info"]["numThreads"],
                    "backend": out["info"]["backend"],
                    "cross_origin_isolated": out["crossOriginIsolated"],
                    "session_create_ms": round(out["info"]["sessionMs"], 1),
                    "preprocess": summarize([r["pre"] / 1000.0 for r in out["runs"]]),
                    "run": summarize([r["run"] / 1000.0 for r in out["runs"]]),
                    "total": summarize([r["total"] / 1000.0 for r in out["runs"]]),
                }
            browser.close()
    finally:
        server.shutdown()
    res["browser"] = {"chromium": version}
    res["rows"] = rows
    res.save()
    print(json.dumps(rows, indent=1)[:3000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
