"""Per-prompt decoder latency in headless Chromium with onnxruntime-web: WASM single- and
multi-thread, fp32 and int8, on a standalone harness page (isolated from the app).

Serves ``bench/web/`` + ``frontend/dist/ort/`` (the WASM the app ships) + onnxruntime-web's JS from
``frontend/node_modules`` with COOP/COEP headers (SharedArrayBuffer → WASM threads) from a small
Python HTTP server on loopback, and drives Debian's Chromium with Playwright.
"""

from __future__ import annotations

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
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ORT_WASM_DIR = REPO_ROOT / "frontend" / "dist" / "ort"
ORT_JS_DIR = REPO_ROOT / "frontend" / "node_modules" / "onnxruntime-web" / "dist"


class _Handler(http.server.SimpleHTTPRequestHandler):
    routes: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        path = path.split("?", 1)[0]
        for prefix, folder in self.routes.items():
            if path.startswith(prefix):
                return str(folder / path[len(prefix) :])
        return str(Path("/nonexistent"))

    def end_headers(self) -> None:
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def log_message(self, *args) -> None:
        pass


_Handler.extensions_map = {
    **http.server.SimpleHTTPRequestHandler.extensions_map,
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".wasm": "application/wasm",
}


def serve(files_dir: Path):
    handler = type(
        "Handler",
        (_Handler,),
        {
            "routes": {
                "/bench/": REPO_ROOT / "bench" / "web",
                "/ort/": ORT_WASM_DIR,
                "/ortjs/": ORT_JS_DIR,
                "/files/": files_dir,
            }
        },
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def bundle_mask_upsample(out: Path) -> Path:
    """The app's frontend/src/mask-upsample.ts as one ES module, for the harness worker."""
    import subprocess

    esbuild = REPO_ROOT / "frontend" / "node_modules" / ".bin" / "esbuild"
    subprocess.run(
        [
            str(esbuild),
            str(REPO_ROOT / "frontend" / "src" / "mask-upsample.ts"),
            "--bundle",
            "--format=esm",
            f"--outfile={out}",
            "--log-level=warning",
        ],
        check=True,
    )
    return out


#: the decoder graphs timed in the browser (bench.decoder.VARIANT_LABELS keys)
BROWSER_VARIANTS = ("fp32_reference", "fp32_lowres", "int8")

#: MatMul-only graphs for the WASM float32 ceiling: (name, rows, inner/cols, number of chained MatMuls)
MATMUL_CEILING_GRAPHS = (("4096x256x256", 4096, 256, 4), ("1024x1024x1024", 1024, 1024, 2))


def matmul_graph(out: Path, rows: int, cols: int, chain: int) -> tuple[Path, float]:
    """An ONNX graph ``x (rows×cols) → x·W1·W2…`` of ``chain`` float32 MatMuls; returns (path, FLOPs)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weights = [
        numpy_helper.from_array((rng.standard_normal((cols, cols)) / np.sqrt(cols)).astype(np.float32), f"w{i}")
        for i in range(chain)
    ]
    nodes = [
        helper.make_node("MatMul", ["x" if i == 0 else f"y{i - 1}", f"w{i}"], [f"y{i}" if i < chain - 1 else "y"])
        for i in range(chain)
    ]
    graph = helper.make_graph(
        nodes,
        "matmul_ceiling",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, cols])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, cols])],
        weights,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(out))
    return out, 2.0 * rows * cols * cols * chain


def wasm_matmul_ceiling(page_factory, base: str, tmp: Path, threads: int, runs: int) -> dict:
    """Best GFLOP/s of onnxruntime-web WASM MatMul with ``threads`` threads, over ``MATMUL_CEILING_GRAPHS``."""
    shapes = {}
    for name, rows, cols, chain in MATMUL_CEILING_GRAPHS:
        path, flops = matmul_graph(tmp / f"matmul_{name}.onnx", rows, cols, chain)
        page = page_factory()
        page.goto(
            f"{base}/bench/decoder_harness.html?worker=matmul&model={path.name}&threads={threads}&n={runs}"
            f"&rows={rows}&cols={cols}"
        )
        page.wait_for_function("window.benchResult !== undefined", timeout=600_000)
        out = page.evaluate("window.benchResult")
        page.close()
        if "error" in out:
            shapes[name] = {"error": out["error"][:400]}
            continue
        times = sorted(out["runTimes"])
        shapes[name] = {
            "gflop": round(flops / 1e9, 3),
            "best_gflops": round(flops / times[0] / 1e6, 2),
            "median_gflops": round(flops / times[len(times) // 2] / 1e6, 2),
            "runs": len(times),
        }
    best = max((s["best_gflops"] for s in shapes.values() if "best_gflops" in s), default=None)
    return {"threads": threads, "peak_gflops": best, "shapes": shapes}


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--prompts", type=int, default=None)
    args = p.parse_args(argv)
    n = args.prompts or (5 if args.tiny else (50 if args.quick else 200))
    res = Result(
        NAME,
        args,
        "Mask decoder, per prompt, in the browser (onnxruntime-web in headless Chromium)",
        f"Standalone harness page (bench/web/) with COOP/COEP, decoder in a module Web Worker like the "
        f"app; {n} prompts (the same generator as the Python decoder benchmark) after 5 warm-up "
        "prompts; time per prompt (performance.now) = await session.run() plus, for the low-res "
        "graph, the app's own JS upsampling of the mask to the original size "
        "(frontend/src/mask-upsample.ts, bundled with esbuild); median and p95. "
        "Multi-thread = navigator.hardwareConcurrency WASM threads. WASM float32 ceiling: MatMul-only "
        "graphs (4096×256·256×256 ×4 chained, 1024³ ×2) in the same browser and runtime, best of "
        "20 runs after 3 warm-ups, per thread count.",
    )
    missing = [
        str(p)
        for p in (Path(CHROMIUM), ORT_WASM_DIR / "ort-wasm-simd-threaded.wasm", ORT_JS_DIR / "ort.wasm.min.mjs")
        if not p.exists()
    ]
    if missing:
        res["status"] = (
            "not measured: missing "
            + ", ".join(missing)
            + " (make bench builds the frontend; chromium: apt-get install chromium)"
        )
        res["rows"] = {}
        res.save()
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="kdsam-bench-browser-"))
    model, onnx_paths, embedding, size, image_name = setup(args.tiny, tmp)
    # the fast graph with the upsampling inside is measured in Python (bench.decoder); the browser rows
    # are SAM's reference graph, the int8 one and the graph the app ships (low-res + JS upsampling)
    onnx_paths = {k: v for k, v in onnx_paths.items() if k in BROWSER_VARIANTS}
    embedding.astype("<f4").tofile(tmp / "embedding.bin")
    (tmp / "prompts.json").write_text(
        json.dumps(
            {
                "dims": list(embedding.shape),
                "original_size": list(size),
                "prompts": decoder_prompts(n, size, model.image_encoder.img_size),
            }
        )
    )
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
                    label = (
                        f"onnxruntime-web WASM {'single-thread' if threads == 1 else f'{threads} threads'}, "
                        f"{VARIANT_LABELS[kind]}"
                    )
                    if "error" in out:
                        rows[key] = {"label": label, "error": out["error"][:600]}
                        continue
                    rows[key] = {
                        "label": label,
                        "latency": summarize([t / 1000.0 for t in out["times"]]),
                        "run_only": summarize([t / 1000.0 for t in out["runTimes"]]),
                        "session_create_ms": round(out["createMs"], 1),
                        "threads": out["threads"],
                        "cross_origin_isolated": out["crossOriginIsolated"],
                    }
            # the float32 ceiling of the same runtime in the same browser: what no decoder graph can beat
            ceiling_runs = 2 if args.tiny else (5 if args.quick else 20)
            res["wasm_matmul_peak"] = {
                label: wasm_matmul_ceiling(browser.new_page, base, tmp, threads, ceiling_runs)
                for label, threads in (("1t", 1), ("mt", max(2, int(cores or 2))))
            }
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
