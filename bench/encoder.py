"""Encoder benchmark: parameters, FLOPs, latency, peak memory and achieved GFLOP/s vs a matmul peak.

SAM ViT-H/L/B, MobileSAM TinyViT and the KD-SAM student, random weights, 1024×1024, in one run.
Each model runs in its own process (peak RSS is that process's), under the serving allocator
configuration (``bench.common.SERVING_MALLOC``). ``--device cuda``: bf16 + channels_last
throughput at batch 1/16/64 for the student and ViT-H instead.
"""

from __future__ import annotations

import sys

from bench.common import SERVING_MALLOC, Result, allocator_env, parser, run_child
from bench.models import ENCODERS, FULL_SET, HEADLINE_TEACHER, STUDENT, TINY_SET, TINY_STUDENT, TINY_TEACHER

NAME = "encoder"


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help="subset of models")
    p.add_argument(
        "--add-untimed",
        nargs="*",
        metavar="MODEL",
        help="complete the existing result file with parameters/FLOPs (no timing) of these models",
    )
    args = p.parse_args(argv)
    if args.add_untimed:
        import json

        res = Result(NAME, args, "", "")
        previous = json.loads(res.path.read_text())
        res.data = previous
        add_untimed(
            res,
            args.add_untimed,
            allocator_env(SERVING_MALLOC),
            "not timed in this run (time budget); parameters and FLOPs from the meta device",
        )
        finalize(res, args.tiny)
        res.save(keep_duration=True)
        return 0
    res = Result(
        NAME,
        args,
        "Image encoders at 1024×1024: size, compute, latency, memory",
        "Random weights. Each model in a fresh process: 1 warm-up forward (counted with "
        "torch.utils.flop_counter.FlopCounterMode; FLOPs = 2×MACs), then N timed forwards "
        "under torch.inference_mode; median latency. Peak memory = the process's max RSS "
        "(weights + activations + Python/torch ≈ 0.5 GiB). Matmul peak: best of 5 float32 "
        "torch.mm at 2048² and 4096² in a separate process of the same run.",
    )
    # cheapest first, so a timeout loses the least
    models = args.models or (TINY_SET if args.tiny else FULL_SET[::-1])
    runs = 1 if args.tiny else (2 if args.quick else 5)
    env = allocator_env(SERVING_MALLOC)
    res["allocator"] = SERVING_MALLOC
    res["runs"] = runs
    if args.device == "cuda":
        return _gpu(args, res, models, env)

    res["matmul_peak"] = run_child(["-m", "bench._encoder_child", "--matmul-peak", "--threads", str(args.threads)], env)
    peak = res["matmul_peak"]["peak_gflops"]
    res["models"] = rows = []
    for name in models:
        print(f"bench.encoder: {name}", flush=True)
        try:
            row = run_child(
                [
                    "-m",
                    "bench._encoder_child",
                    "--model",
                    name,
                    "--runs",
                    str(runs),
                    "--flops",
                    "--threads",
                    str(args.threads),
                ],
                env,
            )
        except Exception as error:  # keep the other models
            rows.append({"model": name, "label": ENCODERS[name][0], "error": str(error)[-500:]})
            continue
        row["label"] = ENCODERS[name][0]
        row["fraction_of_matmul_peak"] = round(row.get("gflops_per_s", 0) / peak, 3) if peak else None
        rows.append(row)
        res.save()  # partial results survive a timeout
    rows.sort(key=lambda r: FULL_SET.index(r["model"]) if r["model"] in FULL_SET else 99)
    # the peak again at the end (the better of the two counts: other load only lowers it)
    again = run_child(["-m", "bench._encoder_child", "--matmul-peak", "--threads", str(args.threads)], env)
    res["matmul_peak_end"] = again
    if again["peak_gflops"] > peak:
        res["matmul_peak"], res["matmul_peak_start"] = again, res["matmul_peak"]
        peak = again["peak_gflops"]
        for r in rows:
            if r.get("gflops_per_s"):
                r["fraction_of_matmul_peak"] = round(r["gflops_per_s"] / peak, 3)
    finalize(res, args.tiny)
    res.save()
    return 0


def finalize(res: Result, tiny: bool = False) -> None:
    """Ratios to the student and the headline, from whatever rows are there (timed or not)."""
    rows = res["models"]
    rows.sort(key=lambda r: FULL_SET.index(r["model"]) if r["model"] in FULL_SET else 99)
    by = {r["model"]: r for r in rows if r.get("params")}
    student = by.get(TINY_STUDENT if tiny else STUDENT)
    teacher = by.get(TINY_TEACHER if tiny else HEADLINE_TEACHER)
    if not student:
        return
    for r in by.values():
        if "latency" in r and "latency" in student:
            r["latency_vs_student"] = round(r["latency"]["median_ms"] / student["latency"]["median_ms"], 2)
        if r.get("cpu_s_per_run") and student.get("cpu_s_per_run"):
            r["cpu_time_vs_student"] = round(r["cpu_s_per_run"] / student["cpu_s_per_run"], 2)
        r["flops_vs_student"] = (
            round(r["flops"] / student["flops"], 2) if r.get("flops") and student.get("flops") else None
        )
        r["params_vs_student"] = round(r["params"] / student["params"], 2)
    if teacher:
        res["headline"] = {
            "vit_h_over_kdsam_latency": teacher.get("latency_vs_student"),
            "vit_h_over_kdsam_cpu_time": teacher.get("cpu_time_vs_student"),
            "vit_h_over_kdsam_flops": teacher.get("flops_vs_student"),
            "vit_h_over_kdsam_params": teacher.get("params_vs_student"),
        }


def add_untimed(res: Result, names: list[str], env, reason: str) -> None:
    """Rows with parameters and FLOPs (meta device, seconds) for models whose timing did not run."""
    have = {r["model"] for r in res["models"] if "latency" in r}
    res["models"] = [r for r in res["models"] if r["model"] in have]
    for name in names:
        if name in have:
            continue
        row = run_child(["-m", "bench._meta_flops", name], env)
        row.update({"label": ENCODERS[name][0], "untimed": reason})
        res["models"].append(row)


def _gpu(args, res, models, env) -> int:
    import torch

    if not torch.cuda.is_available():
        res["status"] = "not measured: no CUDA device on this machine"
        res.note("Run `python -m bench.run_all --device cuda` on a GPU machine to fill this table.")
        res.save()
        return 0
    gpu_models = [m for m in models if m in (STUDENT, HEADLINE_TEACHER, TINY_STUDENT, TINY_TEACHER)]
    res["matmul_peak"] = run_child(["-m", "bench._encoder_child", "--matmul-peak", "--device", "cuda"], env)
    rows = []
    batches = (1, 2) if args.tiny else (1, 16, 64)
    for name in gpu_models:
        for batch in batches:
            try:
                row = run_child(
                    [
                        "-m",
                        "bench._encoder_child",
                        "--model",
                        name,
                        "--runs",
                        str(max(5, res["runs"])),
                        "--warmup",
                        "3",
                        "--batch",
                        str(batch),
                        "--device",
                        "cuda",
                        "--dtype",
                        "bfloat16",
                        "--channels-last",
                    ]
                    + (["--flops"] if batch == 1 else []),
                    env,
                )
                row["label"] = ENCODERS[name][0]
            except Exception as error:
                row = {"model": name, "batch": batch, "label": ENCODERS[name][0], "error": str(error)[-400:]}
            rows.append(row)
    res["gpu_throughput"] = rows
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
