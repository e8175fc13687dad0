"""Memory-allocator benchmark: encoder latency and page faults under glibc's default malloc vs tuned
glibc settings (environment variables only) vs jemalloc/tcmalloc when their libraries are installed.
"""

from __future__ import annotations

import sys

from bench.common import (
    JEMALLOC_CANDIDATES,
    MALLOC_CONFIGS,
    SERVING_MALLOC,
    TCMALLOC_CANDIDATES,
    Result,
    allocator_env,
    first_existing,
    parser,
    run_child,
)
from bench.models import ENCODERS, STUDENT, TINY_STUDENT
from kdsam_core.modeling.registry import MOBILESAM, SAM_VIT_B

NAME = "allocator"


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--models", nargs="*", help=f"subset of {STUDENT}, {MOBILESAM.name}, {SAM_VIT_B.name}")
    args = p.parse_args(argv)
    res = Result(
        NAME,
        args,
        "Memory allocator: the same encoder forward under different malloc configurations",
        "Each (model, allocator) pair in a fresh process (environment variables set at process "
        "start; jemalloc/tcmalloc via LD_PRELOAD). 1 warm-up + N timed forwards, median latency; "
        "minor page faults per forward from getrusage (a load-independent sign of buffers being "
        "returned to the kernel and re-faulted).",
    )
    configs = list(MALLOC_CONFIGS)
    if first_existing(JEMALLOC_CANDIDATES):
        configs.append("jemalloc")
    else:
        res.note("jemalloc not installed (Debian: apt-get install libjemalloc2); not measured")
    if first_existing(TCMALLOC_CANDIDATES):
        configs.append("tcmalloc")
    else:
        res.note("tcmalloc not installed (Debian: apt-get install libtcmalloc-minimal4); not measured")
    if args.tiny:
        plan = [(TINY_STUDENT, ["glibc-default", SERVING_MALLOC])]
        runs = 1
    else:
        plan = [(STUDENT, configs), (MOBILESAM.name, configs), (SAM_VIT_B.name, ["glibc-default", SERVING_MALLOC])]
        if args.models:
            plan = [item for item in plan if item[0] in args.models]
        runs = 2 if args.quick else 5
    res["configs"] = {
        name: (
            MALLOC_CONFIGS.get(name)
            or ({"LD_PRELOAD": allocator_env(name).get("LD_PRELOAD")} if name in ("jemalloc", "tcmalloc") else {})
        )
        for name in configs
    }
    res["serving_allocator"] = SERVING_MALLOC
    rows = []
    for model, names in plan:
        for name in names:
            print(f"bench.allocator: {model} / {name}", flush=True)
            try:
                row = run_child(
                    [
                        "-m",
                        "bench._encoder_child",
                        "--model",
                        model,
                        "--runs",
                        str(runs),
                        "--threads",
                        str(args.threads),
                    ],
                    allocator_env(name),
                )
                row["allocator"] = name
            except Exception as error:
                row = {"model": model, "allocator": name, "error": str(error)[-400:]}
            row["label"] = ENCODERS[model][0]
            rows.append(row)
            res["rows"] = rows
            _speedups(rows)
            res.save()  # partial results survive a timeout
    _speedups(rows)
    res["rows"] = rows
    res.save()
    return 0


def _speedups(rows: list[dict]) -> None:
    for model in {r["model"] for r in rows}:
        base = next(
            (r for r in rows if r["model"] == model and r["allocator"] == "glibc-default" and "latency" in r), None
        )
        for r in rows:
            if r["model"] == model and base and "latency" in r:
                r["speedup_vs_default"] = round(base["latency"]["median_ms"] / r["latency"]["median_ms"], 2)


if __name__ == "__main__":
    sys.exit(main())
