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
from datetime import UTC

from bench.common import CPU_SUITE, DEFAULT_THREADS, REPO_ROOT, RESULTS_DIR, SERVING_MALLOC, allocator_env

GPU_SUITE = {"encoder": 5, "training": 5}


def _now() -> str:
    from datetime import datetime

    return datetime.now(UTC).isoformat(timespec="seconds")


def _record_suite(
    seconds: float, started: str, load_start: float, failed: list[str], durations: dict[str, float]
) -> None:
    """bench/results/suite.json: the full CPU suite's wall time (BENCHMARKS.md quotes it)."""
    import json

    (RESULTS_DIR / "suite.json").write_text(
        json.dumps(
            {
                "benchmark": "suite",
                "seconds": round(seconds, 1),
                "started": started,
                "finished": _now(),
                "load_average_1min": {"start": load_start, "end": round(os.getloadavg()[0], 2)},
                "benchmarks": list(CPU_SUITE),
                "failed": failed,
                "per_benchmark_s": durations,
            },
            indent=1,
        )
    )


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
    durations: dict[str, float] = {}
    t_suite = time.monotonic()
    started, load_start = _now(), round(os.getloadavg()[0], 2)
    for name in names:
        cmd = [
            sys.executable,
            "-m",
            f"bench.{name}",
            "--device",
            args.device,
            "--threads",
            str(args.threads),
            "--out",
            str(RESULTS_DIR),
        ] + (["--quick"] if args.quick else [])
        print(
            f"\n=== bench.{name} (about {suite[name]} min{' at full size' if not args.quick else ''}) ===", flush=True
        )
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
        durations[name] = round(time.monotonic() - t0, 1)
        print(
            f"=== bench.{name}: {'ok' if code == 0 else f'FAILED ({code})'} in {durations[name]:.0f} s ===", flush=True
        )
        if code != 0:
            failed.append(name)
    seconds = time.monotonic() - t_suite
    print(f"\nsuite: {seconds:.0f} s", flush=True)
    if args.device == "cpu" and not args.only and not args.quick:
        _record_suite(seconds, started, load_start, failed, durations)
    if not args.no_report:
        from bench import report

        report.main([])
    if failed:
        print(f"bench: failed: {', '.join(failed)} (their previous results, if any, are kept)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
