"""One encoder measurement in a fresh process (so peak memory and the allocator are its own).

    python -m bench._encoder_child --model kdsam --runs 5 [--flops] [--batch 1] [--device cpu]

Prints ``BENCH-JSON {...}``: parameters, FLOPs, per-run latencies, peak memory, page faults.
"""

from __future__ import annotations

import argparse
import resource
import time

from bench.common import (
    current_allocator,
    current_rss_mib,
    emit_child_json,
    minor_faults,
    peak_rss_mib,
    set_threads,
    summarize,
)


def matmul_peak(threads: int, n: int = 2048, runs: int = 5, device: str = "cpu") -> dict:
    """Single-precision matrix-multiply throughput (GFLOP/s): the practical compute ceiling."""
    import torch

    set_threads(threads)
    best = 0.0
    results = {}
    sizes = (n, 2 * n) if device == "cpu" else (8192,)
    for size in sizes:
        dtype = torch.float32
        a = torch.randn(size, size, device=device, dtype=dtype)
        b = torch.randn(size, size, device=device, dtype=dtype)
        c = torch.empty(size, size, device=device, dtype=dtype)
        sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
        torch.mm(a, b, out=c)
        sync()
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            sync()
            times.append(time.perf_counter() - t0)
        gflops = 2 * size**3 / min(times) / 1e9
        results[str(size)] = {
            "best_gflops": round(gflops, 2),
            "median_gflops": round(2 * size**3 / sorted(times)[len(times) // 2] / 1e9, 2),
        }
        best = max(best, gflops)
    return {"peak_gflops": round(best, 2), "sizes": results}


def main(argv=None) -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="kdsam")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--flops", action="store_true", help="count FLOPs during the (first) warm-up pass")
    p.add_argument("--matmul-peak", action="store_true", help="only measure the matmul peak")
    args = p.parse_args(argv)

    if args.matmul_peak:
        emit_child_json(matmul_peak(args.threads, device=args.device))
        return

    import torch

    from bench.models import build_encoder

    set_threads(args.threads)
    rss0 = current_rss_mib()
    t0 = time.perf_counter()
    encoder = build_encoder(args.model)
    build_s = time.perf_counter() - t0
    params = sum(p.numel() for p in encoder.parameters())
    device = torch.device(args.device)
    encoder.to(device)
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
    size = int(encoder.img_size)
    x = torch.randn(args.batch, 3, size, size, device=device)
    if args.channels_last:
        encoder = encoder.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    rss_model = current_rss_mib()
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def forward():
        with torch.inference_mode():
            if device.type == "cuda" and dtype == torch.bfloat16:
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    return encoder(x)
            return encoder(x)

    flops = None
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    warm = []
    for i in range(args.warmup):
        t = time.perf_counter()
        if args.flops and i == 0:
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                out = forward()
            flops = int(counter.get_total_flops())
        else:
            out = forward()
        sync()
        warm.append(time.perf_counter() - t)
    faults0 = minor_faults()
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    times = []
    for _ in range(args.runs):
        t = time.perf_counter()
        out = forward()
        sync()
        times.append(time.perf_counter() - t)
    faults = (minor_faults() - faults0) / max(1, args.runs)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu_per_run = (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) / max(1, args.runs)
    stats = summarize(times)
    result = {
        "model": args.model,
        "params": params,
        "flops": flops,
        "batch": args.batch,
        "img_size": size,
        "device": args.device,
        "dtype": args.dtype,
        "channels_last": args.channels_last,
        "threads": args.threads,
        "allocator": current_allocator(),
        "build_s": round(build_s, 2),
        "warmup_s": [round(w, 3) for w in warm],
        "times_s": [round(t, 4) for t in times],
        "latency": stats,
        "output_shape": list(out.shape),
        "minor_faults_per_run": int(faults),
        "cpu_s_per_run": round(cpu_per_run, 2),
        # CPU time / (wall time × threads): well below 1 means the cores were shared with other processes
        "cpu_utilisation": round(cpu_per_run / max(1e-9, stats["median_ms"] / 1000.0) / args.threads, 2),
        "rss_before_build_mib": round(rss0, 1),
        "rss_after_build_mib": round(rss_model, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
    if flops:
        result["gflops_per_s"] = round(flops / (stats["median_ms"] / 1000.0) / 1e9, 2)
    if device.type == "cuda":
        result["peak_cuda_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
        result["images_per_s"] = round(args.batch / (stats["median_ms"] / 1000.0), 2)
    emit_child_json(result)


if __name__ == "__main__":
    main()
