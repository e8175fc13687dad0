"""KD-SAM Studio benchmarks: ``python -m bench.run_all [--quick] [--device cpu|cuda] [--only NAME]``.

One module per benchmark; each writes ``bench/results/<name>.json`` (machine, versions, threads,
date) and ``bench.report`` regenerates ``BENCHMARKS.md`` and its plots from those files.
See ``docs/benchmarking.md``.
"""
