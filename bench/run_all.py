"""Run the benchmark suite and regenerate BENCHMARKS.md.

    python -m bench.run_all [--quick] [--device cpu|cuda] [--only NAME ...] [--no-report]

CPU suite (``make bench``): every benchmark below, each in its own process under the serving
allocator configuration, results in ``bench/results/<name>.json``, then ``bench.report``.
``--device cuda`` runs the GPU suite (encoder throughput in bf16, training step rates) into
``bench/results/<name>_cuda.json``; without a GPU those files say "not measured".
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from bench.common import DEFAULT_THREADS, REPO_ROOT, RESULTS_DIR, SERVING_MALLOC, allocator_env

#: name → rough duration on 2 CPU cores (minutes), in running order
CPU_SUITE = {
    "encoder": 9, "allocator": 5, "serving": 5, "decoder": 1, "decoder_browser": 2, "payload": 1,
    "server": 2, "api_load": 3, "training": 3,
    "privacy": 3,
}
GPU_SUITE = {"encoder": 5, "training": 5}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repetitions (development; not for BENCHMARKS.md)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--only", nargs="*", metavar="NAME", help=f"benchmarks to run: {', '.join(CPU_SUITE)}")
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS)
    p.add_argument("--no-report", action="store_true", help="don't regenerate BENCHMARKS.md")
    p.add_argument("--timeout", type=int, default=1500, help="seconds per benchmark")
    args = p.parse_args(argv)
    suite = GPU_SUITE if args.device == "cuda" else CPU_SUITE
    names = args.only or list(suite)
    unknown = [n for n in names if n not in suite]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {list(suite)}")
    env = allocator_env(SERVING_MALLOC)
    failed = []
    t_suite = time.monotonic()
    for name in names:
        cmd = [sys.executable, "-m", f"bench.{name}", "--device", args.device, "--threads", str(args.threads),
               "--out", str(RESULTS_DIR)] + (["--quick"] if args.quick else [])
        print(f"\n=== bench.{name} (about {suite[name]} min{' at full size' if not args.quick else ''}) ===", flush=True)
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=REPO_ROOT, env=env, start_new_session=True)
        try:
            code = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)  # the benchmark and the model processes it started
            proc.wait()
            code = "timeout"
        except KeyboardInterrupt:
            os.killpg(proc.pid, signal.SIGTERM)
            raise
        print(f"=== bench.{name}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.monotonic() - t0:.0f} s ===", flush=True)
        if code != 0:
            failed.append(name)
    print(f"\nsuite: {time.monotonic() - t_suite:.0f} s", flush=True)
    if not args.no_report:
        from bench import report

        report.main([])
    if failed:
        print(f"bench: failed: {', '.join(failed)} (their previous results, if any, are kept)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
