"""Regenerate BENCHMARKS.md and its plots from bench/results/*.json (no measurement here).

python -m bench.report [--results bench/results] [--output BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import sys
from pathlib import Path

from bench.common import REPO_ROOT, RESULTS_DIR, SERVING_MALLOC
from bench.models import HEADLINE_TEACHER, STUDENT

PLOTS = "plots"


def _load(results: Path, name: str) -> dict | None:
    path = results / f"{name}.json"
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None


def _ms(x) -> str:
    if x is None:
        return "—"
    return f"{x / 1000:.2f} s" if x >= 1000 else (f"{x:.1f} ms" if x >= 10 else f"{x:.2f} ms")


def _num(x, digits=2) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _meta(d: dict) -> str:
    m = d["meta"]
    mach = m["machine"]
    v = m["versions"]
    versions = ", ".join(f"{k} {v[k]}" for k in ("torch", "onnxruntime", "onnxruntime-web") if k in v)
    load = mach.get("load_average_at_start", ["?"])[0], mach.get("load_average_at_end", ["?"])[0]
    flags = (" · **--quick**" if m.get("quick") else "") + (" · **--tiny**" if m.get("tiny") else "")
    return (
        f"<sub>Measured {m['date']} · {mach['cpu']}, {mach['logical_cores']} logical cores, {mach['memory_gib']} GiB · "
        f"{mach['threads']} threads · {mach['device']} · allocator {mach['allocator']} · {versions} · git {m['git']} · "
        f"load average {load[0]} → {load[1]} · took {m.get('duration_s', '?')} s{flags} · "
        f"`{m['command']}`</sub>"
    )


def _section(title: str, d: dict | None, body, missing: str = "") -> str:
    out = [f"## {title}", ""]
    if d is None:
        out += [f"_Not measured yet: run `python -m bench.run_all`{missing}._", ""]
        return "\n".join(out)
    if d.get("status"):
        out += [f"_{d['status']}_", ""]
    else:
        out += [body(d), ""]
    out += [f"**How measured.** {d['method']}", ""]
    for note in d.get("notes", []):
        out.append(f"- {note}")
    if d.get("notes"):
        out.append("")
    out += [_meta(d), ""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------------ sections


def _encoder(d: dict) -> str:
    peak = d.get("matmul_peak", {}).get("peak_gflops")
    rows = []
    for r in d["models"]:
        if "error" in r:
            rows.append([r["label"], "error", "", "", "", "", "", "", "", ""])
            continue
        if "latency" not in r:
            rows.append(
                [
                    r["label"],
                    f"{r['params'] / 1e6:.1f} M",
                    f"{r['flops'] / 1e9:.0f}" if r.get("flops") else "—",
                    "**not timed**³",
                    "—",
                    "—",
                    "—",
                    "—",
                    "—",
                    "—",
                ]
            )
            continue
        rows.append(
            [
                r["label"],
                f"{r['params'] / 1e6:.1f} M",
                f"{r['flops'] / 1e9:.0f}" if r.get("flops") else "—",
                _ms(r["latency"]["median_ms"]),
                f"{r.get('latency_vs_student', '—')}×",
                f"{r['peak_rss_mib'] / 1024:.2f} GiB",
                _num(r.get("gflops_per_s"), 1),
                f"{100 * r['fraction_of_matmul_peak']:.0f} %" if r.get("fraction_of_matmul_peak") is not None else "—",
                _num(r.get("cpu_utilisation")),
                _ms(1000 * r["cpu_s_per_run"] / r["threads"]) if r.get("cpu_s_per_run") else "—",
            ]
        )
    h = d.get("headline") or {}
    text = []
    if h and h.get("vit_h_over_kdsam_latency"):
        text.append(
            f"**Headline: SAM ViT-H takes {h['vit_h_over_kdsam_latency']}× the KD-SAM student's time per image "
            f"({h['vit_h_over_kdsam_flops']}× the FLOPs, {h['vit_h_over_kdsam_params']}× the parameters), "
            "measured in the same run.**"
        )
        text.append("")
    elif h:
        text.append(
            f"**Headline: SAM ViT-H needs {h['vit_h_over_kdsam_flops']}× the KD-SAM student's FLOPs and has "
            f"{h['vit_h_over_kdsam_params']}× its parameters; its latency was not measured in this run** "
            "(see ³)."
        )
        text.append("")
    text.append(
        _table(
            [
                "encoder (1024×1024, batch 1)",
                "parameters",
                "GFLOPs",
                f"median latency ({d.get('runs')} runs)",
                "× student",
                "peak RSS",
                "achieved GFLOP/s",
                "of matmul peak",
                "CPU share¹",
                "CPU time / threads²",
            ],
            rows,
        )
    )
    text += [
        "",
        "¹ CPU time of the timed forwards / (wall time × threads): 1.00 means the process had its "
        "threads' cores to itself; lower means other processes took CPU time and the latency is inflated "
        "by that factor (the ratios between models are affected only if the share differed).",
        "² CPU time per forward divided by the thread count: what the latency would be with the cores "
        "to itself (an estimate; it includes any spin-waiting of the thread pool).",
    ]
    untimed = [r for r in d["models"] if "latency" not in r and "error" not in r]
    if untimed:
        text += [
            "",
            "³ " + "; ".join(f"{r['label']}: {r.get('untimed', 'not timed')}" for r in untimed) + ". "
            "Run `python -m bench.run_all --only encoder` to time it.",
        ]
    by = {r["model"]: r for r in d["models"] if r.get("cpu_s_per_run")}
    if HEADLINE_TEACHER in by and STUDENT in by:
        ratio = by[HEADLINE_TEACHER]["cpu_s_per_run"] / by[STUDENT]["cpu_s_per_run"]
        text += ["", f"By CPU time per forward (insensitive to other load), ViT-H / KD-SAM = **{ratio:.1f}×**."]
    if peak:
        sizes = ", ".join(f"{k}²: {v['best_gflops']}" for k, v in d["matmul_peak"]["sizes"].items())
        text += [
            "",
            f'Matmul peak (float32, same run): **{peak} GFLOP/s** ({sizes}). The "limit" column compares '
            "each encoder's achieved rate with it: close to 100 % means the encoder is compute-bound at the "
            "machine's dense-matmul speed; the rest is memory traffic, layout changes and small ops.",
        ]
    text += ["", f"![encoder latency and FLOPs]({PLOTS}/encoder.png)"]
    return "\n".join(text)


def _encoder_gpu(d: dict) -> str:
    rows = []
    for r in d.get("gpu_throughput", []):
        if "error" in r:
            rows.append([r["label"], r["batch"], "error: " + r["error"][:80], "", ""])
        else:
            rows.append(
                [
                    r["label"],
                    r["batch"],
                    _num(r.get("images_per_s"), 1),
                    _ms(r["latency"]["median_ms"]),
                    f"{r.get('peak_cuda_mib', 0) / 1024:.1f} GiB",
                ]
            )
    return _table(["encoder (bf16, channels_last)", "batch", "images/s", "median per batch", "peak CUDA memory"], rows)


def _allocator(d: dict) -> str:
    rows = []
    for r in d["rows"]:
        if "error" in r:
            rows.append([r["label"], r["allocator"], "error", "", "", "", "", ""])
            continue
        rows.append(
            [
                r["label"],
                r["allocator"] + (" (serving)" if r["allocator"] == SERVING_MALLOC else ""),
                _ms(r["latency"]["median_ms"]),
                f"{r.get('speedup_vs_default', '—')}×",
                f"{r['minor_faults_per_run']:,}",
                _ms(1000 * r["cpu_s_per_run"]) if r.get("cpu_s_per_run") else "—",
                f"{r['peak_rss_mib'] / 1024:.2f} GiB",
                _num(r.get("cpu_utilisation")),
            ]
        )
    cfg = "; ".join(
        f"**{k}**: " + (" ".join(f"`{a}={b}`" for a, b in v.items()) or "no variables") for k, v in d["configs"].items()
    )
    return "\n".join(
        [
            _table(
                [
                    "encoder",
                    "allocator",
                    "median latency",
                    "speed-up vs default",
                    "minor page faults / forward",
                    "CPU time / forward (both threads)",
                    "peak RSS",
                    "CPU share",
                ],
                rows,
            ),
            "",
            "Under load the latency columns mostly measure the other processes (see CPU share); page faults "
            "and CPU time per forward do not depend on them, and decide the serving choice.",
            "",
            "Configurations: " + cfg + ".",
            "",
            f"The Celery worker started by `python -m webapp.run` uses **{SERVING_MALLOC}**, "
            "the configuration with the fewest page faults and least CPU time per forward (set in "
            "`webapp/run.py`, environment variables only, nothing to install; also in `deploy/Dockerfile`). "
            "An explicitly set `MALLOC_*` variable or `LD_PRELOAD` in the environment wins.",
            "",
            f"![allocator]({PLOTS}/allocator.png)",
        ]
    )


def _serving(d: dict) -> str:
    rows = []
    for key, r in d["paths"].items():
        if "latency" not in r:
            rows.append([r["label"], r.get("skipped") or ("error: " + r.get("error", "")[:100]), "", "", "", ""])
            continue
        mark = " **(default)**" if key == d["recommended_default"]["path"] else ""
        rows.append(
            [
                r["label"] + mark,
                _ms(r["latency"]["median_ms"]),
                f"{r['speedup_vs_eager']}×",
                f"{r['cosine_min']:.5f}",
                f"{r['mask_iou_min']:.4f} / {r['mask_iou_mean']:.4f}",
                f"{r['setup_s']} s" if r.get("setup_s") else "—",
            ]
        )
    rec = d["recommended_default"]
    return "\n".join(
        [
            _table(
                [
                    "student serving path (CPU)",
                    "median latency",
                    "speed-up vs eager",
                    "embedding cosine (min)",
                    "mask IoU vs fp32 (min / mean)",
                    "one-off setup",
                ],
                rows,
            ),
            "",
            f"Images: {len(d.get('images', []))} real images ({', '.join(d.get('images', [])[:6])}). "
            f"**Recommended default CPU serving path: {rec['label']}** ({rec['rule']}). The worker "
            "applies the same rule at startup (`KDSAM_ENCODER_BACKEND=auto`, "
            "`webapp.registry.services.cpu_serving_backend`): bf16 + channels_last where the CPU "
            "has native bf16, onnxruntime fp32 elsewhere.",
        ]
    )


def _decoder(d: dict | None, b: dict | None, peak_gflops: float | None = None) -> str:
    rows = []
    for src in (d, b):
        if not src or src.get("status"):
            continue
        for r in src["rows"].values():
            if "latency" in r:
                run_only = _ms(r["run_only"]["median_ms"]) if "run_only" in r else "—"
                rows.append(
                    [
                        r["label"],
                        _ms(r["latency"]["median_ms"]),
                        _ms(r["latency"]["p95_ms"]),
                        run_only,
                        r["latency"]["n"],
                    ]
                )
            else:
                rows.append([r["label"], "error", r.get("error", "")[:80], "", ""])
    src = d or b
    text = [_table(["decoder (per prompt)", "median", "p95", "of which session.run (median)", "prompts"], rows)]
    if src:
        sizes = ", ".join(f"{k} {v / 2**20:.1f} MiB" for k, v in src["onnx_bytes"].items())
        text += [
            "",
            f"Image: {src['image']['name']} ({src['image']['size'][1]}×{src['image']['size'][0]}); "
            f"decoder ONNX: {sizes}.",
        ]
    if d and d.get("gflops"):
        g = d["gflops"]
        line = (
            f"FLOPs per click (1 point + padding, 4 masks): SAM reference decoder **{g['reference']} GFLOPs**, "
            f"fast decoder (kdsam_core/export/fast_decoder.py: reassociated cross-attention, channels-last "
            f"upscaling) **{g['fast']} GFLOPs**."
        )
        if peak_gflops:
            line += (
                f" At this machine's measured float32 matmul peak ({peak_gflops} GFLOP/s, encoder table) the fast "
                f"decoder cannot run in less than **{1000 * g['fast'] / peak_gflops:.0f} ms** per prompt with these "
                f"threads, whatever the runtime: a ≤ 20 ms fp32 target needs ≥ {g['fast'] / 0.020:.0f} GFLOP/s."
            )
        text += [line]
    wasm = (b or {}).get("wasm_matmul_peak") if b and not b.get("status") else None
    if wasm:
        parts = [
            f"{v['threads']} thread{'s' if v['threads'] > 1 else ''}: **{v['peak_gflops']} GFLOP/s**"
            for v in wasm.values()
            if v.get("peak_gflops")
        ]
        line = (
            "onnxruntime-web WASM float32 ceiling in the same browser (MatMul-only graphs, best run): "
            + ", ".join(parts)
            + "."
        )
        best = max((v["peak_gflops"] for v in wasm.values() if v.get("peak_gflops")), default=None)
        if best and d and d.get("gflops"):
            g = d["gflops"]
            line += (
                f" At that rate the fast graph's {g['fast']} GFLOPs take at least "
                f"**{1000 * g['fast'] / best:.0f} ms** in this browser, "
                f"the reference graph's {g['reference']} GFLOPs {1000 * g['reference'] / best:.0f} ms; "
                f"≤ 20 ms would need {g['fast'] / 0.020:.0f} GFLOP/s, {g['fast'] / 0.020 / best:.1f}× this ceiling."
            )
        text += [line]
    if b and not b.get("status"):
        text += [
            f"Browser: Chromium {b['browser']['chromium']}, navigator.hardwareConcurrency = "
            f"{b['browser']['hardware_concurrency']}; session creation "
            + ", ".join(f"{k} {v.get('session_create_ms', '?')} ms" for k, v in b["rows"].items())
            + "."
        ]
    text += ["", f"![decoder latency]({PLOTS}/decoder.png)"]
    return "\n".join(text)


def _payload(d: dict) -> str:
    rows = [
        [
            k,
            r["description"],
            f"{r['bytes_mean'] / 1024:.0f} KiB",
            f"{r['ratio_vs_float32']:.3f}",
            f"{r['iou_min']:.4f} / {r['iou_mean']:.4f}",
            _num(r["max_abs_err"], 4),
        ]
        for k, r in d["rows"].items()
    ]
    return "\n".join(
        [
            _table(
                [
                    "encoding",
                    "what",
                    "bytes / image",
                    "vs float32",
                    "mask IoU vs float32 (min / mean)",
                    "max abs error",
                ],
                rows,
            ),
            "",
            f"The served KDEM file (float16) is {d['kdem_float16_total_bytes']:,} bytes including its header.",
        ]
    )


def _server(d: dict) -> str:
    rows = []
    for r in d["rows"].values():
        phases = {k: v for k, v in r.items() if isinstance(v, dict) and k != "total_s"}
        parts = [
            f"{k.removesuffix('_s').replace('_', ' ')} {_ms(v['median_ms'])}"
            for k, v in phases.items()
            if not k.startswith("automation_")
        ]
        wall = phases.get("automation_wall_s")
        rows.append(
            [
                r["label"],
                _ms(r["total_s"]["median_ms"]),
                _ms(r["total_s"]["max_ms"]),
                r["runs"],
                "; ".join(parts),
                _ms(wall["median_ms"]) if wall else "—",
            ]
        )
    return _table(
        [
            "path",
            "median time to first mask (in page)",
            "max",
            "runs",
            "phases (medians)",
            "automation wall time (median)",
        ],
        rows,
    )


API_ENDPOINTS = (
    ("image_detail", "GET /api/images/{id}/"),
    ("image_file", "GET /api/images/{id}/file/"),
    ("embedding", "GET /api/images/{id}/embedding/?encoding=quant8-zlib"),
    ("save_mask", "POST /api/images/{id}/masks/"),
)


def _pcts(e: dict | None) -> str:
    if not e or not e.get("n"):
        return "—"
    return f"{_ms(e['median_ms'])} / {_ms(e['p95_ms'])} / {_ms(e['p99_ms'])}"


def _pct(fraction) -> str:
    return "—" if fraction is None else f"{100 * fraction:.0f} %"


def _mb(x) -> str:
    return "—" if x is None else f"{x / 2**20:.1f} MiB/s"


def _api_backend(b: dict) -> list[str]:
    """One storage backend: levels (rate, errors, CPU), latency per endpoint, nginx anchor, saturation."""
    rows, lat = [], []
    for lv in b["levels"]:
        ws = lv.get("websocket") or {}
        errs = lv["error_count"]
        detail = {**lv["errors"], **{f"ws {k}": v for k, v in (ws.get("errors") or {}).items()}}
        sched, cpu = lv["schedule"], lv["cpu"]
        rows.append(
            [
                lv["clinicians"],
                f"{lv['offered_requests_per_s']} → {lv['requests_per_s']}",
                errs if not detail else f"{errs} ({', '.join(f'{k}×{v}' for k, v in detail.items())})",
                f"{ws.get('open_at_end', '—')} / {lv['clinicians']}",
                _ms(cpu.get("server_cpu_ms_per_request")),
                _pct(cpu.get("machine_busy_fraction")),
                f"{sched['late_starts']} ({_ms(sched['lateness'].get('p99_ms'))})",
                _pct(cpu.get("load_generator_cpu_fraction")),
            ]
        )
        nginx = (lv.get("nginx_embedding") or {}).get("endpoints", {}).get("embedding")
        lat.append(
            [lv["clinicians"]]
            + [_pcts(lv["endpoints"].get(name)) for name, _ in API_ENDPOINTS]
            + [_pcts(nginx), _ms(lv.get("worst_p99_ms"))]
        )
    text = [
        _table(
            [
                "clinicians",
                "requests/s offered → measured",
                "errors",
                "websockets open",
                "web-tier CPU per request",
                "machine CPU busy",
                "late starts (p99 lateness)",
                "load generator CPU",
            ],
            rows,
        ),
        "",
        _table(
            ["clinicians"]
            + [f"{label} p50 / p95 / p99" for _, label in API_ENDPOINTS]
            + ["nginx, same file, same rate: p50 / p95 / p99", "worst p99"],
            lat,
        ),
    ]
    sat = b.get("saturation") or {}
    if sat:
        prod = sat["product"]["endpoints"].get("embedding", {})
        ngx = (sat.get("nginx") or {}).get("endpoints", {}).get("embedding", {})
        gen = [
            x["cpu"].get("load_generator_cpu_fraction")
            for x in (sat["product"], sat.get("nginx") or {})
            if x.get("cpu")
        ]
        text += [
            "",
            f"Embedding delivery at saturation ({sat['connections']} closed-loop connections, "
            f"{sat.get('load_processes', 1)} load processes, {sat['duration_s']:.0f} s each): product "
            f"{_mb(prod.get('bytes_per_s'))} (p50 {_ms(prod.get('median_ms'))}), nginx "
            + (
                f"{_mb(ngx.get('bytes_per_s'))} (p50 {_ms(ngx.get('median_ms'))})"
                if ngx
                else (sat.get("nginx") or {}).get("status", "—")
            )
            + f" → **ratio {_num(sat.get('ratio'))}**"
            + (f"; load generator CPU {' / '.join(_pct(g) for g in gen)} of one core" if gen else "")
            + ".",
        ]
    proxied = b.get("behind_nginx") or {}
    if proxied.get("product"):
        prod = proxied["product"]["endpoints"].get("embedding", {})
        ngx = proxied["nginx"]["endpoints"].get("embedding", {})
        text += [
            "",
            f"As deployed, behind nginx with `KDSAM_FILE_DELIVERY=x-accel-redirect` (the studio checks the session "
            f"and the team, nginx sends the file; a fresh stack, {proxied['connections']} connections, "
            f"{proxied['duration_s']:.0f} s each): product through nginx {_mb(prod.get('bytes_per_s'))} "
            f"(p50 {_ms(prod.get('median_ms'))}), the same nginx serving the file directly "
            f"{_mb(ngx.get('bytes_per_s'))} (p50 {_ms(ngx.get('median_ms'))}) "
            f"→ **ratio {_num(proxied.get('ratio'))}**.",
        ]
    elif proxied.get("status"):
        text += ["", f"As deployed, behind nginx: _{proxied['status']}._"]
    return text


def _api_load(d: dict) -> str:
    if "backends" not in d:  # a result of the closed-loop benchmark this one replaced
        return "_This result predates the open-loop benchmark: run `python -m bench.run_all --only api_load`._"
    h = d.get("headline") or {}
    t = d.get("targets") or {}
    text = []
    if h.get("p99_ms_200_clinicians") is not None:
        text += [
            f"**Headline (local storage, 200 clinicians): worst endpoint p99 {_ms(h['p99_ms_200_clinicians'])} "
            f"(target ≤ {t.get('p99_ms_200_clinicians', 300)} ms), {h['errors_200_clinicians']} errors "
            f"(target {t.get('errors_200_clinicians', 0)}); embedding delivery behind nginx "
            f"{_num(h.get('embedding_vs_nginx'))} of nginx's own (target ≥ {t.get('embedding_vs_nginx', 0.5)}), "
            f"{_num(h.get('embedding_vs_nginx_without_proxy'))} without a proxy in front.**",
            "",
        ]
    for name, b in d["backends"].items():
        text.append(f"**Storage: {name}.**" + (f" _{b['status']}._" if b.get("status") else ""))
        text.append("")
        if b.get("levels"):
            text += [*_api_backend(b), ""]
    b = d.get("upload_burst", {})
    if b:
        text += [
            f"Upload burst: {b['uploads']} concurrent uploads of new images → {b['accepted']} accepted (201), "
            f"{len(b['failed'])} failed; queue positions reported: {b['queue_positions_seen']}; states right after "
            f"upload: {', '.join(b['states'])}; upload p50 {_ms(b['upload_latency']['median_ms'])}.",
            "",
        ]
    text += [f"![API load]({PLOTS}/api_load.png)"]
    return "\n".join(text)


def _training(d: dict) -> str:
    ft, ds = d["finetune"], d["distill"]
    rows = [
        ["fine-tuning, embeddings recomputed every epoch", _num(ft["recompute"]["images_per_s"], 3), "1.00×"],
        ["fine-tuning, embeddings cached on disk", _num(ft["cached"]["images_per_s"], 3), f"{ft['speedup_cached']}×"],
    ]
    text = [_table(["decoder fine-tuning (CPU)", "images/s", "vs recompute"], rows), ""]
    drows = [
        [
            label.replace("_", " "),
            r["wall_s"],
            r.get("teacher_cache_s"),
            ", ".join(f"{e:.1f}" for e in r["epoch_s"]),
            f"{r['cache']['hits']}/{r['cache']['hits'] + r['cache']['misses']}",
        ]
        for label, r in ds.items()
        if isinstance(r, dict)
    ]
    text += [
        _table(
            [
                f"distillation, teacher {ds['teacher']}, {len(d.get('images', []))} images",
                "run wall time (s)",
                "teacher embeddings done at (s)",
                "epoch times (s; first includes the teacher pass)",
                "cache hits",
            ],
            drows,
        ),
        "",
        f"First epoch / later epochs (cold cache): **{ds.get('first_over_later_epochs')}×**.",
    ]
    return "\n".join(text)


# ------------------------------------------------------------------------------------------------ plots


def _privacy(d: dict) -> str:
    """Privacy mode: the student encoder in the browser (bench/privacy.py)."""
    rows = []
    for r in d.get("rows", {}).values():
        if "error" in r:
            rows.append([r["label"], "error: " + r["error"][:80], "", "", "", ""])
            continue
        rows.append(
            [
                r["label"],
                _ms(r["preprocess"]["median_ms"]),
                _ms(r["run"]["median_ms"]),
                _ms(r["total"]["median_ms"]),
                _ms(r["session_create_ms"]),
                str(r.get("cross_origin_isolated")),
            ]
        )
    model = d.get("model", {})
    size = f"ONNX {model.get('onnx_bytes', 0) / 1e6:.1f} MB ({model.get('name', '')}, input {model.get('input', '')}²)"
    return (
        size
        + "\n\n"
        + _table(["backend", "preprocess (TS)", "session.run", "total per image", "session creation", "isolated"], rows)
    )


def plots(results: Path) -> list[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return ["matplotlib not installed: no plots"]
    out_dir = results / PLOTS
    out_dir.mkdir(parents=True, exist_ok=True)
    made = []
    enc = _load(results, "encoder")
    if enc and enc.get("models"):
        ok = [r for r in enc["models"] if "latency" in r]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
        labels = [r["label"].split(" (")[0] for r in ok]
        a1.barh(labels, [r["latency"]["median_ms"] / 1000 for r in ok], color="#4c72b0")
        a1.set_xscale("log")
        a1.set_xlabel(f"median latency, s (log; {enc['meta']['machine']['threads']} threads)")
        a2.barh(labels, [r.get("gflops_per_s", 0) for r in ok], color="#55a868")
        peak = enc.get("matmul_peak", {}).get("peak_gflops")
        if peak:
            a2.axvline(peak, color="#c44e52", linestyle="--", label=f"fp32 matmul peak {peak:.0f}")
            a2.legend(loc="lower right")
        a2.set_xlabel("achieved GFLOP/s")
        a2.set_yticklabels([])
        fig.suptitle("Image encoders at 1024×1024, CPU, random weights")
        fig.tight_layout()
        fig.savefig(out_dir / "encoder.png", dpi=110)
        plt.close(fig)
        made.append("encoder.png")
    al = _load(results, "allocator")
    if al and al.get("rows"):
        ok = [r for r in al["rows"] if "latency" in r]
        models = list(dict.fromkeys(r["label"].split(" (")[0] for r in ok))
        allocs = list(dict.fromkeys(r["allocator"] for r in ok))
        fig, ax = plt.subplots(figsize=(9, 3.6))
        width = 0.8 / max(1, len(allocs))
        for i, name in enumerate(allocs):
            xs, ys = [], []
            for j, m in enumerate(models):
                r = next((r for r in ok if r["allocator"] == name and r["label"].split(" (")[0] == m), None)
                if r:
                    xs.append(j + i * width)
                    ys.append(r.get("speedup_vs_default") or 0)
            ax.bar(xs, ys, width, label=name)
        ax.set_xticks([j + width * (len(allocs) - 1) / 2 for j in range(len(models))], models)
        ax.axhline(1, color="grey", linewidth=0.8)
        ax.set_ylabel("speed-up vs glibc default")
        ax.legend(fontsize=8)
        ax.set_title("Encoder forward: memory allocator")
        fig.tight_layout()
        fig.savefig(out_dir / "allocator.png", dpi=110)
        plt.close(fig)
        made.append("allocator.png")
    rows = []
    for name in ("decoder", "decoder_browser"):
        d = _load(results, name)
        if d and not d.get("status"):
            rows += [
                (r["label"], r["latency"]["median_ms"], r["latency"]["p95_ms"])
                for r in d["rows"].values()
                if "latency" in r
            ]
    if rows:
        fig, ax = plt.subplots(figsize=(9, 0.45 * len(rows) + 1.2))
        labels = [r[0] for r in rows]
        ax.barh(labels, [r[2] for r in rows], color="#dd8452", label="p95")
        ax.barh(labels, [r[1] for r in rows], color="#4c72b0", label="median")
        ax.set_xlabel("ms per prompt")
        ax.legend()
        ax.set_title("Mask decoder per prompt")
        fig.tight_layout()
        fig.savefig(out_dir / "decoder.png", dpi=110)
        plt.close(fig)
        made.append("decoder.png")
    api = _load(results, "api_load")
    local = ((api or {}).get("backends") or {}).get("local") or {}
    if local.get("levels"):
        lv = local["levels"]
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.4))
        users = [x["clinicians"] for x in lv]
        a1.plot(users, [x["offered_requests_per_s"] for x in lv], "k:", label="offered")
        a1.plot(users, [x["requests_per_s"] for x in lv], "o-", label="measured")
        a1.set_xlabel("clinicians")
        a1.set_ylabel("requests/s")
        a1.legend()
        for name, _ in API_ENDPOINTS:
            a2.plot(users, [x["endpoints"].get(name, {}).get("p99_ms") for x in lv], "o-", label=name)
        a2.axhline(300, color="#c44e52", linestyle="--", linewidth=0.8, label="target 300 ms")
        a2.set_yscale("log")
        a2.set_xlabel("clinicians")
        a2.set_ylabel("p99, ms (log)")
        a2.legend(fontsize=7)
        fig.suptitle("API under load, open loop (loopback, local storage)")
        fig.tight_layout()
        fig.savefig(out_dir / "api_load.png", dpi=110)
        plt.close(fig)
        made.append("api_load.png")
    return made


# ------------------------------------------------------------------------------------------------ document

INTRO = """# KD-SAM Studio benchmarks

Speed, size and cost of KD-SAM against SAM (ViT-H/L/B), MobileSAM and the machine's own limits,
measured side by side in one run. **Everything below is generated** by `python -m bench.report`
from `bench/results/*.json`; edit `bench/report.py`, not this file. Each table says how it was
measured, on which machine, with which versions and threads, and when.

Reproduce: `make bench` (installs, builds the frontend, runs `python -m bench.run_all`: the CPU suite,
then regenerates this file; SUITE_TIME). `python -m bench.run_all --only encoder`
runs one benchmark; `--quick` gives rough numbers fast (marked in the tables); `--device cuda` runs the
GPU suite. See [docs/benchmarking.md](docs/benchmarking.md).

Caveats that apply to every table:
- **Random weights** everywhere (no checkpoints are downloaded). Speed does not depend on the weights;
  the accuracy columns (cosine, mask IoU) measure how much a serving path or an encoding perturbs
  the model's output, not segmentation quality.
- Ratios (× student, speed-ups) compare figures from **the same run**; compare absolute figures
  across runs only on the same machine. The load average at start/end is recorded: a figure taken
  while other processes used the cores is slower than the machine can do.
"""


def _suite_time(results: Path) -> str:
    """How long the last full CPU suite took, from bench/results/suite.json (written by run_all)."""
    d = _load(results, "suite")
    if not d:
        return "its end-to-end time is recorded in bench/results/suite.json by a full run"
    load = d.get("load_average_1min", {})
    return (
        f"the last full CPU suite took **{d['seconds'] / 60:.1f} minutes** end to end on this machine, "
        f"{d['finished'][:16].replace('T', ' ')} UTC, load average {load.get('start', '?')} → {load.get('end', '?')}"
        + ("" if not d.get("failed") else f"; failed: {', '.join(d['failed'])}")
        + (
            ""
            if not d.get("per_benchmark_s")
            else " — " + ", ".join(f"{k} {v / 60:.1f}" for k, v in d["per_benchmark_s"].items()) + " min"
        )
    )


def _status(results: Path) -> str:
    from bench.common import CPU_SUITE

    rows = []
    for name in CPU_SUITE:
        d = _load(results, name)
        if d is None:
            rows.append([f"`{name}`", "not measured", "", "", ""])
            continue
        m = d["meta"]
        load = m["machine"].get("load_average_at_start", [None])[0], m["machine"].get("load_average_at_end", [None])[0]
        flags = ", ".join(f for f, on in (("--quick", m.get("quick")), ("--tiny", m.get("tiny"))) if on) or "full"
        rows.append([f"`{name}`", m["date"], f"{m.get('duration_s', '?')} s", f"{load[0]} → {load[1]}", flags])
    return "\n".join(
        [
            "## This run",
            "",
            _table(["benchmark", "measured (UTC)", "took", "load average (1 min)", "size"], rows),
            "",
            f"Load average above {_load_cores(results)} (the core count) means other processes competed "
            "for the cores: absolute latencies are then inflated, and ratios are trustworthy only where "
            "the CPU share columns are similar.",
            "",
        ]
    )


def _load_cores(results: Path) -> int:
    for name in ("encoder", "decoder", "serving"):
        d = _load(results, name)
        if d:
            return d["meta"]["machine"]["logical_cores"]
    return 0


def render(results: Path) -> str:
    made = plots(results)
    enc, enc_gpu = _load(results, "encoder"), _load(results, "encoder_cuda")
    parts = [INTRO.replace("SUITE_TIME", _suite_time(results)), _status(results)]
    parts.append(_section("Encoder: SAM vs MobileSAM vs KD-SAM (CPU)", enc, _encoder))
    parts.append(_section("Memory allocator", _load(results, "allocator"), _allocator, " --only allocator"))
    parts.append(_section("Student serving paths (CPU)", _load(results, "serving"), _serving, " --only serving"))
    dec, brow = _load(results, "decoder"), _load(results, "decoder_browser")
    if dec or brow:
        merged = dict(dec or brow)
        merged["method"] = " ".join(x["method"] for x in (dec, brow) if x)
        merged["notes"] = functools.reduce(operator.iadd, (x.get("notes", []) for x in (dec, brow) if x), [])
        if brow and brow.get("status"):
            merged["notes"] = merged["notes"] + [f"Browser: {brow['status']}"]
        merged.pop("status", None)
        enc = _load(results, "encoder")
        peak = (enc or {}).get("matmul_peak", {}).get("peak_gflops")
        body = _section("Mask decoder per prompt: Python and browser", merged, lambda _: _decoder(dec, brow, peak))
        if dec and brow:
            body += _meta(brow) + "\n"
        parts.append(body)
    else:
        parts.append(_section("Mask decoder per prompt: Python and browser", None, None))
    parts.append(_section("Embedding payload per image", _load(results, "payload"), _payload, " --only payload"))
    parts.append(
        _section(
            "Upload → first mask, reopen → first mask (real server + UI)",
            _load(results, "server"),
            _server,
            " --only server",
        )
    )
    parts.append(_section("API under load", _load(results, "api_load"), _api_load, " --only api_load"))
    parts.append(_section("Training throughput (CPU)", _load(results, "training"), _training, " --only training"))
    parts.append(
        _section("Privacy mode: student encoder in the browser", _load(results, "privacy"), _privacy, " --only privacy")
    )
    parts.append(_section("GPU suite", enc_gpu, _encoder_gpu, " --device cuda on a GPU machine"))
    tr_gpu = _load(results, "training_cuda")
    if tr_gpu:
        parts.append(_section("GPU training step rates", tr_gpu, _training))
    if made:
        parts.append(f"<sub>Plots: {', '.join(made)} in `bench/results/{PLOTS}/`.</sub>\n")
    return "\n".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--results", type=Path, default=RESULTS_DIR)
    p.add_argument("--output", type=Path, default=REPO_ROOT / "BENCHMARKS.md")
    args = p.parse_args(argv)
    text = render(args.results)
    # image links are relative to BENCHMARKS.md
    rel = Path("bench/results") if args.results.resolve() == RESULTS_DIR.resolve() else args.results
    text = text.replace(f"]({PLOTS}/", f"]({rel.as_posix()}/{PLOTS}/")
    args.output.write_text(text)
    print(f"bench: wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
