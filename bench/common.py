"""Shared helpers: command line, metadata, timing statistics, result files, real images, allocators."""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "bench" / "results"
SHARED_DATA = Path(os.environ.get("KDSAM_BENCH_DATA", REPO_ROOT.parent / "shared" / "data"))
FIXTURE_IMAGES = REPO_ROOT / "tests" / "fixtures" / "images"
DEFAULT_THREADS = 2

#: The CPU suite that ``bench.run_all`` runs and ``bench.report`` reports: name → rough duration on
#: an idle 2-core AVX-512 EPYC (minutes; about twice that on an AVX2-only one), in running order
CPU_SUITE = {
    "encoder": 8,
    "allocator": 5,
    "serving": 3,
    "decoder": 1,
    "decoder_browser": 4,
    "payload": 1,
    "server": 1,
    "api_load": 2,
    "training": 3,
    "privacy": 2,
}

#: glibc malloc configurations compared by the allocator benchmark (environment variables read by
#: glibc at process start; nothing to install). ``SERVING_MALLOC`` ("glibc-no-mmap") is what
#: ``webapp/run.py`` gives the Celery worker: every buffer comes from the heap and freed activation
#: buffers stay there for the next forward pass instead of being unmapped and re-faulted
#: ("glibc-tuned" raises the mmap threshold, but only up to glibc's 32 MiB cap, so larger buffers
#: such as ViT attention maps are still re-faulted).
MALLOC_CONFIGS: dict[str, dict[str, str]] = {
    "glibc-default": {},
    "glibc-tuned": {
        "MALLOC_MMAP_THRESHOLD_": "33554432",
        "MALLOC_TRIM_THRESHOLD_": "17179869184",
        "MALLOC_TOP_PAD_": "268435456",
    },
    "glibc-no-mmap": {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": "17179869184"},
}
JEMALLOC_CANDIDATES = (
    "/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2",
    "/lib/aarch64-linux-gnu/libjemalloc.so.2",
)
TCMALLOC_CANDIDATES = (
    "/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
    "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4",
)
SERVING_MALLOC = "glibc-no-mmap"
MALLOC_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_MAX_", "LD_PRELOAD")


def first_existing(paths) -> str | None:
    return next((p for p in paths if Path(p).exists()), None)


def allocator_env(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process using allocator configuration ``name``."""
    env = {k: v for k, v in (base or os.environ).items() if k not in MALLOC_VARS}
    if name in MALLOC_CONFIGS:
        env.update(MALLOC_CONFIGS[name])
    elif name == "jemalloc":
        env["LD_PRELOAD"] = first_existing(JEMALLOC_CANDIDATES) or ""
    elif name == "tcmalloc":
        env["LD_PRELOAD"] = first_existing(TCMALLOC_CANDIDATES) or ""
    else:
        raise ValueError(f"unknown allocator configuration {name!r}")
    return env


def current_allocator() -> str:
    for name, variables in MALLOC_CONFIGS.items():
        if variables and all(os.environ.get(k) == v for k, v in variables.items()):
            return name
    preload = os.environ.get("LD_PRELOAD", "")
    if "jemalloc" in preload:
        return "jemalloc"
    if "tcmalloc" in preload:
        return "tcmalloc"
    return "glibc-default" if not any(k in os.environ for k in MALLOC_VARS) else "custom"


# ------------------------------------------------------------------------------------------------
# Command line and metadata
# ------------------------------------------------------------------------------------------------


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="fewer repetitions/inputs (development)")
    p.add_argument("--tiny", action="store_true", help="tiny models and inputs: checks the script runs (smoke tests)")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="torch / onnxruntime intra-op threads")
    p.add_argument("--out", type=Path, default=RESULTS_DIR, help="results folder")
    return p


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for module in ("torch", "torchvision", "onnxruntime", "onnx", "numpy", "segment_anything", "timm"):
        try:
            mod = __import__(module)
            out[module] = getattr(mod, "__version__", "installed")
        except Exception:
            out[module] = "not installed"
    try:
        import importlib.metadata as md

        out["mobilesam"] = md.version("mobilesam-mirror")
    except Exception:
        out["mobilesam"] = "not installed"
    try:
        import glob

        pkg = sorted(glob.glob(str(REPO_ROOT / "frontend" / "node_modules" / "onnxruntime-web" / "package.json")))
        if pkg:
            out["onnxruntime-web"] = json.loads(Path(pkg[0]).read_text())["version"]
    except Exception:
        pass
    return out


def git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5
        ).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except Exception:
        return "unknown"


def machine(device: str = "cpu", threads: int = DEFAULT_THREADS) -> dict[str, Any]:
    info = {
        "hostname_hash": __import__("hashlib").sha256(platform.node().encode()).hexdigest()[:8],
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "os": platform.platform(),
        "threads": threads,
        "device": device,
        "allocator": current_allocator(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }
    if device == "cuda":
        try:
            import torch

            info["gpu"] = torch.cuda.get_device_name(0)
        except Exception as error:
            info["gpu"] = f"unavailable ({error})"
    return info


def set_threads(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)
    with contextlib.suppress(RuntimeError):
        torch.set_num_interop_threads(1)


class Result:
    """A result file being built: ``meta`` + free-form sections; :meth:`save` writes it atomically."""

    def __init__(self, name: str, args: argparse.Namespace, description: str, method: str) -> None:
        self.module = name
        if args.device == "cuda":
            name += "_cuda"
        self.name = name
        self.path = Path(args.out) / f"{name}.json"
        self.started = time.time()
        self.data: dict[str, Any] = {
            "benchmark": name,
            "description": description,
            "method": method,
            "meta": {
                "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
                "git": git_revision(),
                "quick": bool(args.quick),
                "tiny": bool(args.tiny),
                "machine": machine(args.device, args.threads),
                "versions": versions(),
                "command": " ".join(
                    ["python", "-m", f"bench.{self.module}"]
                    + (sys.argv[1:] if Path(sys.argv[0]).stem == self.module else ["(called in-process)"])
                ),
            },
            "notes": [],
        }

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def note(self, text: str) -> None:
        self.data["notes"].append(text)

    def save(self, keep_duration: bool = False) -> Path:
        if not keep_duration:
            self.data["meta"]["duration_s"] = round(time.time() - self.started, 1)
        self.data["meta"]["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.data, indent=1, default=_json_default) + "\n")
        tmp.replace(self.path)
        print(f"bench: wrote {self.path}", flush=True)
        return self.path


def _json_default(value):
    try:
        import numpy as np

        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, np.ndarray):
            return value.tolist()
    except ImportError:
        pass
    if isinstance(value, Path):
        return str(value)
    return str(value)


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------


def summarize(times_s: list[float]) -> dict[str, Any]:
    """Median, p95, min, mean of a list of durations (seconds), reported in milliseconds."""
    ms = sorted(t * 1000.0 for t in times_s)
    if not ms:
        return {"n": 0}

    def pct(q: float) -> float:
        if len(ms) == 1:
            return ms[0]
        k = (len(ms) - 1) * q
        lo = int(k)
        hi = min(lo + 1, len(ms) - 1)
        return ms[lo] + (ms[hi] - ms[lo]) * (k - lo)

    return {
        "n": len(ms),
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(pct(0.95), 3),
        "p99_ms": round(pct(0.99), 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def time_calls(
    fn: Callable[[], Any], runs: int, warmup: int = 1, sync: Callable[[], None] | None = None
) -> list[float]:
    for _ in range(warmup):
        fn()
        if sync:
            sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        if sync:
            sync()
        times.append(time.perf_counter() - t0)
    return times


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def current_rss_mib() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


# ------------------------------------------------------------------------------------------------
# Real images (../shared/data; the committed fixtures when it is absent)
# ------------------------------------------------------------------------------------------------


def real_images(n: int, seed: int = 0) -> list[tuple[str, Path, Path | None]]:
    """Up to ``n`` (name, image path, mask path or None) pairs spread over the four datasets."""
    groups: list[list[tuple[str, Path, Path | None]]] = []
    kv = SHARED_DATA / "kvasir_seg" / "Kvasir-SEG"
    if (kv / "images").is_dir():
        groups.append([(f"kvasir/{p.stem}", p, kv / "masks" / p.name) for p in sorted((kv / "images").glob("*.jpg"))])
    busi = SHARED_DATA / "busi" / "Dataset_BUSI_with_GT"
    if busi.is_dir():
        groups.append([(f"busi/{p.stem}", p, p.with_name(p.stem + "_mask.png")) for p in sorted(busi.glob("*/*).png"))])
    hc = SHARED_DATA / "hc18" / "training_set"
    if hc.is_dir():
        groups.append([(f"hc18/{p.stem}", p, None) for p in sorted(hc.glob("*_HC.png"))])
    isic = SHARED_DATA / "isic2017"
    if isic.is_dir():
        gt = isic / "ISIC-2017_Training_Part1_GroundTruth"
        groups.append(
            [
                (f"isic/{p.stem}", p, gt / f"{p.stem}_segmentation.png")
                for p in sorted((isic / "ISIC-2017_Training_Data").glob("*.jpg"))
            ]
        )
    if not groups and FIXTURE_IMAGES.is_dir():
        groups.append(
            [
                (f"fixture/{p.stem}", p, None)
                for p in sorted(FIXTURE_IMAGES.glob("*"))
                if p.suffix.lower() in (".png", ".jpg", ".jpeg")
            ]
        )
    import random

    rng = random.Random(seed)
    for g in groups:
        rng.shuffle(g)
    out: list[tuple[str, Path, Path | None]] = []
    i = 0
    while len(out) < n and any(i < len(g) for g in groups):
        for g in groups:
            if i < len(g) and len(out) < n:
                out.append(g[i])
        i += 1
    return out


def load_mask_array(path: Path | None, shape: tuple[int, int]):
    """A boolean mask for ``path`` (threshold 127), or a centred ellipse of ``shape`` when absent."""
    import numpy as np
    from PIL import Image

    if path is not None and Path(path).is_file():
        with Image.open(path) as img:
            m = np.asarray(img.convert("L")) > 127
        if m.shape == tuple(shape) and m.any():
            return m
    h, w = shape
    yy, xx = np.mgrid[:h, :w]
    return ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 4)) ** 2 <= 1


def mask_iou(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = int((a | b).sum())
    return 1.0 if union == 0 else int((a & b).sum()) / union


def cosine(a, b) -> float:
    import numpy as np

    a = np.asarray(a, np.float64).ravel()
    b = np.asarray(b, np.float64).ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-30))


def run_child(args: list[str], env: dict[str, str] | None = None, timeout: float = 1800) -> dict[str, Any]:
    """Run ``python -m bench.<module> ...`` that prints one JSON line prefixed ``BENCH-JSON `` last."""
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH-JSON "):
            return json.loads(line[len("BENCH-JSON ") :])
    raise RuntimeError(f"{' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


def emit_child_json(data: dict[str, Any]) -> None:
    print("BENCH-JSON " + json.dumps(data, default=_json_default), flush=True)
