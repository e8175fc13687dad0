"""API under load: open-loop simulated clinicians (Locust) against the real stack on loopback, nginx as the anchor.

Each simulated clinician has its own account (clinicians spread over a few teams), its own signed-in session
and its own copies of the images, keeps the live feed (``/ws/images/``) open, and acts on its own wall-clock
timetable, Poisson arrivals: it opens an image about every 10 s (``GET /api/images/{id}/``, then the file and
``GET /api/images/{id}/embedding/?encoding=quant8-zlib`` at once, as the browser does) and saves a mask about
every 30 s (``POST /api/images/{id}/masks/`` with its CSRF token). Open loop: an action starts at its time
whether or not the clinician's previous one has been answered, so a slow server does not lower the offered
rate; actions the load generator itself started late (over 100 ms) are counted. Load generator: Locust
(``FastHttpUser``, gevent) as a library in one process of its own per phase (``bench/locust_run.py``,
``bench/locustfile.py``), on the same cores as the server; latencies are each request's own, from Locust's
request events, percentiles from every sample of the measurement window (no histogram buckets). Web-tier CPU
per request: user + system CPU of the ASGI server's processes (uvicorn and its workers) from the start of the
window until its requests are answered, divided by the requests. The anchor: Debian's nginx on loopback, as
many worker processes as the web tier, serving the very same quant8-zlib embedding file, requested by the same
tool at the same open-loop rate as the product's embedding GETs of each level. Embedding delivery ratio:
bytes/s of embedding responses the product delivers with a fixed number of closed-loop connections (its
saturation throughput, session and access check included), divided by what nginx delivers for the same file,
same connections, same client, same run; measured twice: the web server on its own (it streams the file:
``KDSAM_FILE_DELIVERY=django``), and as deployed, behind nginx as its proxy with
``KDSAM_FILE_DELIVERY=x-accel-redirect`` (the studio checks the session and the team, nginx sends the bytes; a
fresh stack), the headline's ``embedding_vs_nginx``. Storage backends are measured separately (a fresh stack each).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.common import REPO_ROOT, Result, parser, run_child, summarize
from bench.load_figures import combine
from bench.load_stack import (
    NGINX_MISSING,
    NOT_MEASURED,
    STORAGE_BACKENDS,
    LoadStudio,
    NginxAnchor,
    ProxiedClient,
    nginx_binary,
    production_env,
    web_tier_pids,
    web_tier_processes,
)
from bench.studio import distinct_png

NAME = "api_load"
#: The endpoints the targets apply to (the websocket handshake is reported apart: once per clinician).
ENDPOINTS = ("image_detail", "image_file", "embedding", "save_mask")
TARGET_LEVEL = 200
LOAD_TOOLS_MISSING = (
    "the load generator needs locust and websocket-client: "
    "`.venv/bin/pip install -r requirements/bench.txt`, then re-run"
)


def load_tools_missing() -> str | None:
    missing = [m for m in ("locust", "websocket") if importlib.util.find_spec(m) is None]
    return f"{LOAD_TOOLS_MISSING} (missing: {', '.join(missing)})" if missing else None


# ------------------------------------------------------------------------------------------------ one phase


def run_phase(plan: dict, work: Path, label: str, timeout: float, processes: int = 1) -> dict:
    """Run one load phase in ``processes`` processes of its own (``bench.locust_run``), the clinicians split
    between them, the same window in each; return the phase's figures (``bench.load_figures``)."""
    processes = max(1, min(processes, plan["users"]))
    start_wall = time.time() + 2.0 + processes  # every process imported locust and waits for it
    window_start_wall = start_wall + plan["users"] / plan["spawn_rate"] + 1.0 + plan["warmup_s"]
    running = []
    offset = 0
    for k in range(processes):
        users = plan["users"] // processes + (k < plan["users"] % processes)
        part = {
            **plan,
            "users": users,
            "user_offset": offset,
            "spawn_rate": plan["spawn_rate"] / processes,
            "start_wall": start_wall,
            "window_start_wall": window_start_wall,
        }
        offset += users
        plan_path, out_path, log = (work / f"{label}.{k}.{x}" for x in ("plan.json", "out.json", "log"))
        plan_path.write_text(json.dumps(part))
        with open(log, "w") as f:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.locust_run", str(plan_path), str(out_path)],
                cwd=REPO_ROOT,
                stdout=f,
                stderr=subprocess.STDOUT,
            )
        running.append((proc, log, out_path))
    deadline = time.monotonic() + timeout
    parts = []
    try:
        for proc, log, out_path in running:
            try:
                code = proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                code = "timeout"
            if code != 0 or not out_path.is_file():
                raise RuntimeError(f"load phase {label} failed (exit {code}):\n{log.read_text()[-3000:]}")
            parts.append(json.loads(out_path.read_text()))
    finally:
        for proc, _, _ in running:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    return combine(parts, plan.get("late_threshold_ms"))


def phase_timeout(users: int, args) -> float:
    return users / args.spawn_rate + args.warmup + args.duration + 30 + 120


def worst_p99(result: dict) -> float | None:
    values = [result["endpoints"][e]["p99_ms"] for e in ENDPOINTS if result["endpoints"].get(e, {}).get("n")]
    return max(values) if values else None


# ------------------------------------------------------------------------------------------------ one backend


def upload_images(client: ProxiedClient, count: int) -> list[dict]:
    images = []
    for i in range(count):
        status, image = client.upload(f"bench-{i}.png", distinct_png(i))
        if status != 201:
            raise RuntimeError(f"upload failed: HTTP {status} {image}")
        images.append(image)
    images = [client.wait_ready(im["id"]) for im in images]
    failed = [im for im in images if im["status"] != "ready"]
    if failed:
        raise RuntimeError(f"embedding failed: {failed}")
    return images


def check_paths(studio: LoadStudio, seed: dict, nginx: NginxAnchor | None) -> dict:
    """One clinician's requests answer 200, and the product and nginx send the same embedding bytes."""
    me = seed["clinicians"][0]
    names = seed["cookie_names"]
    client = ProxiedClient("127.0.0.1", studio.port, {names["session"]: me["sessionid"]}, https=studio.https)
    image = me["images"][0]
    sizes = {}
    for what, path in (
        ("image_detail", f"/api/images/{image['id']}/"),
        ("image_file", f"/api/images/{image['id']}/file/"),
        ("embedding", f"/api/images/{image['id']}/embedding/?encoding=quant8-zlib"),
    ):
        status, body = client.request("GET", path)
        if status != 200:
            raise RuntimeError(f"{what} {path} answered HTTP {status} to a seeded clinician: {body[:300]!r}")
        sizes[what] = len(body)
    file = Path(seed["embedding_files"][str(seed["sources"][0])]["quant8-zlib"])
    if sizes["embedding"] != file.stat().st_size:
        raise RuntimeError(
            f"the product sent {sizes['embedding']} embedding bytes, the stored file has {file.stat().st_size}"
        )
    if nginx is not None:
        import urllib.request

        with urllib.request.urlopen(nginx.url, timeout=10) as resp:
            body = resp.read()
        if body != file.read_bytes():
            raise RuntimeError("nginx did not send the stored embedding file")
    return {"embedding_bytes": sizes["embedding"], "image_file_bytes": sizes["image_file"]}


def measure_backend(storage: str, args, levels: list[int], work: Path) -> dict:
    """Every level, the nginx anchor and the saturation phase on a fresh stack using ``storage``."""
    start = STORAGE_BACKENDS[storage]
    assert start is not None
    out: dict = {"storage": storage}
    with start() as storage_env:
        extra = {**(production_env() if args.env == "production" else {}), **storage_env}
        with LoadStudio(threads=args.threads, extra_env=extra) as studio:
            client = studio.client()
            sources = upload_images(client, args.images)
            seed = run_child(
                [
                    "-m",
                    "bench.load_seed",
                    "--clinicians",
                    str(max(levels)),
                    "--teams",
                    str(args.teams),
                    "--images",
                    ",".join(str(im["id"]) for im in sources),
                ],
                env=studio.env,
                timeout=900,
            )
            seed["sources"] = [im["id"] for im in sources]
            web = web_tier_pids(studio.process.pid)
            web_processes = web_tier_processes(web)
            out["stack"] = {
                "env": args.env,
                "web_server": "uvicorn (webapp/kdsam_studio/web_server.py)",
                "web_processes": web_processes,
                "file_delivery": extra.get("KDSAM_FILE_DELIVERY", "django"),
                "clinician_accounts": len(seed["clinicians"]),
                "teams": seed["teams"],
                "images_per_clinician": len(sources),
                "distinct_stored_images": len(sources),
            }
            binary = nginx_binary()
            anchor_file = Path(seed["embedding_files"][str(sources[0]["id"])]["quant8-zlib"])
            nginx_cm = NginxAnchor(anchor_file, workers=web_processes) if binary else contextlib.nullcontext()
            with nginx_cm as nginx:
                out["check"] = check_paths(studio, seed, nginx)
                if nginx is None:
                    out["nginx"] = {"status": f"not measured: {NGINX_MISSING}"}
                else:
                    out["nginx"] = {
                        "binary": binary,
                        "version": subprocess.run([binary, "-v"], capture_output=True, text=True).stderr.strip(),
                        "workers": web_processes,
                    }
                common = {
                    "spawn_rate": args.spawn_rate,
                    "warmup_s": args.warmup,
                    "duration_s": args.duration,
                    "open_interval_s": args.open_interval,
                    "save_interval_s": args.save_interval,
                    "arrival": args.arrival,
                    "late_threshold_ms": args.late_threshold,
                    "seed": args.seed,
                }
                product = {
                    **common,
                    "mode": "clinicians",
                    "host": f"http://127.0.0.1:{studio.port}",
                    "https": studio.https,
                    "origin": studio.origin,
                    "ws_url": f"ws://127.0.0.1:{studio.port}/ws/images/",
                    "clinicians": seed["clinicians"],
                    "cookie_names": seed["cookie_names"],
                    "csrf_header": seed["csrf_header"],
                    "server_pids": web,
                }
                out["levels"] = []
                for n in levels:
                    print(f"bench.api_load[{storage}]: {n} clinicians", flush=True)
                    level = run_phase(
                        {**product, "users": n}, work, f"{storage}-{n}", phase_timeout(n, args), args.load_processes
                    )
                    level["clinicians"] = n
                    level["offered_requests_per_s"] = round(n * (3 / args.open_interval + 1 / args.save_interval), 2)
                    level["worst_p99_ms"] = worst_p99(level)
                    if nginx is not None:
                        print(f"bench.api_load[{storage}]: nginx at the embedding rate of {n} clinicians", flush=True)
                        level["nginx_embedding"] = run_phase(
                            {
                                **common,
                                "mode": "clinicians",
                                "host": f"http://127.0.0.1:{nginx.port}",
                                "embedding_path": "/embedding",
                                "save_interval_s": 0,
                                "server_pids": [nginx.process.pid],
                                "users": n,
                            },
                            work,
                            f"{storage}-{n}-nginx",
                            phase_timeout(n, args),
                            args.load_processes,
                        )
                    out["levels"].append(level)
                out["saturation"] = saturation(args, product, nginx, work, storage)
            out["upload_burst"] = upload_burst(client, args.burst)
    out["behind_nginx"] = behind_nginx(storage, args, work)
    return out


def behind_nginx(storage: str, args, work: Path) -> dict:
    """Embedding delivery as deployed: the studio behind nginx (deploy/README.md), which sends the files the
    studio names in ``X-Accel-Redirect`` after its access check; a fresh stack, saturation only, product
    through the proxy vs the same nginx serving the file directly."""
    if nginx_binary() is None:
        return {"status": f"not measured: {NGINX_MISSING}"}
    start = STORAGE_BACKENDS[storage]
    assert start is not None
    with start() as storage_env:
        extra = {
            **(production_env() if args.env == "production" else {}),
            **storage_env,
            "KDSAM_FILE_DELIVERY": "x-accel-redirect",
        }
        with LoadStudio(threads=args.threads, extra_env=extra) as studio:
            (source,) = upload_images(studio.client(), 1)
            seed = run_child(
                [
                    "-m",
                    "bench.load_seed",
                    "--clinicians",
                    str(args.saturation_connections),
                    "--teams",
                    "1",
                    "--images",
                    str(source["id"]),
                ],
                env=studio.env,
                timeout=900,
            )
            web = web_tier_pids(studio.process.pid)
            stored = Path(seed["embedding_files"][str(source["id"])]["quant8-zlib"])
            with NginxAnchor(stored, workers=web_tier_processes(web), proxy_to=studio) as nginx:
                me = seed["clinicians"][0]
                through_proxy = ProxiedClient(
                    "127.0.0.1", nginx.port, {seed["cookie_names"]["session"]: me["sessionid"]}, https=studio.https
                )
                path = f"/api/images/{me['images'][0]['id']}/embedding/?encoding=quant8-zlib"
                status, body = through_proxy.request("GET", path)
                if status != 200 or body != stored.read_bytes():
                    raise RuntimeError(f"through nginx, {path} answered HTTP {status} with {len(body)} other bytes")
                product = {
                    "host": f"http://127.0.0.1:{nginx.port}",
                    "https": studio.https,
                    "clinicians": seed["clinicians"],
                    "cookie_names": seed["cookie_names"],
                    "server_pids": [*web, nginx.process.pid],
                }
                return {
                    "file_delivery": "x-accel-redirect",
                    **saturation(args, product, nginx, work, f"{storage}-behind-nginx"),
                }


def saturation(args, product: dict, nginx: NginxAnchor | None, work: Path, storage: str) -> dict:
    """Closed loop, ``saturation_connections`` connections, embedding only: product vs nginx bytes/s."""
    base = {
        "mode": "closed",
        "users": args.saturation_connections,
        "spawn_rate": 1000,
        "warmup_s": args.saturation_warmup,
        "duration_s": args.saturation_duration,
        "seed": args.seed,
    }
    timeout = args.saturation_warmup + args.saturation_duration + 150
    print(f"bench.api_load[{storage}]: embedding saturation, {args.saturation_connections} connections", flush=True)
    out = {
        "connections": args.saturation_connections,
        "duration_s": args.saturation_duration,
        "load_processes": args.saturation_processes,
    }
    out["product"] = run_phase(
        {
            **base,
            "host": product["host"],
            "https": product["https"],
            "clinicians": product["clinicians"][: args.saturation_connections],
            "cookie_names": product["cookie_names"],
            "path": "/api/images/{image_id}/embedding/?encoding=quant8-zlib",
            "server_pids": product["server_pids"],
        },
        work,
        f"{storage}-saturation",
        timeout,
        args.saturation_processes,
    )
    if nginx is None:
        out["nginx"] = {"status": f"not measured: {NGINX_MISSING}"}
        out["ratio"] = None
        return out
    out["nginx"] = run_phase(
        {**base, "host": f"http://127.0.0.1:{nginx.port}", "path": "/embedding", "server_pids": [nginx.process.pid]},
        work,
        f"{storage}-saturation-nginx",
        timeout,
        args.saturation_processes,
    )
    p = out["product"]["endpoints"].get("embedding", {}).get("bytes_per_s") or 0
    n = out["nginx"]["endpoints"].get("embedding", {}).get("bytes_per_s") or 0
    out["ratio"] = round(p / n, 3) if n else None
    return out


def upload_burst(client: ProxiedClient, burst: int) -> dict:
    """Concurrent uploads of new images: each must be accepted and queued, with a visible position."""
    results, lock = [], threading.Lock()

    def up(k):
        c = client.clone()
        t = time.perf_counter()
        status, body = c.upload(f"burst-{k}.png", distinct_png(100 + k))
        dt = time.perf_counter() - t
        _, detail = c.get_json(f"/api/images/{body['id']}/") if status == 201 and body else (None, None)
        with lock:
            results.append(
                {
                    "status": status,
                    "upload_s": dt,
                    "queue_position": (detail or {}).get("queue_position"),
                    "state": (detail or {}).get("status"),
                }
            )

    threads = [threading.Thread(target=up, args=(k,)) for k in range(burst)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    positions = sorted(r["queue_position"] for r in results if r["queue_position"] is not None)
    return {
        "uploads": burst,
        "accepted": sum(r["status"] == 201 for r in results),
        "failed": [r for r in results if r["status"] != 201],
        "queue_positions_seen": positions,
        "states": sorted({str(r["state"]) for r in results}),
        "upload_latency": summarize([r["upload_s"] for r in results]),
    }


# ------------------------------------------------------------------------------------------------ headline


def headline(local: dict | None) -> dict:
    """The figures issue #12 targets, from the local backend (``None`` where not measured)."""
    level = next((lv for lv in (local or {}).get("levels", []) if lv["clinicians"] == TARGET_LEVEL), None)
    nginx = (level or {}).get("nginx_embedding") or {}
    p50_product = (level or {}).get("endpoints", {}).get("embedding", {}).get("median_ms")
    p50_nginx = nginx.get("endpoints", {}).get("embedding", {}).get("median_ms")
    return {
        "p99_ms_200_clinicians": level["worst_p99_ms"] if level else None,
        "errors_200_clinicians": level["error_count"] if level else None,
        # as deployed (deploy/README.md): behind nginx, which sends the file the studio names after its check
        "embedding_vs_nginx": ((local or {}).get("behind_nginx") or {}).get("ratio"),
        # without a proxy in front: the web server streams the file itself (KDSAM_FILE_DELIVERY=django)
        "embedding_vs_nginx_without_proxy": ((local or {}).get("saturation") or {}).get("ratio"),
        "late_starts_200_clinicians": level["schedule"]["late_starts"] if level else None,
        "web_cpu_ms_per_request_200_clinicians": level["cpu"]["server_cpu_ms_per_request"] if level else None,
        "embedding_p50_nginx_over_product_200_clinicians": round(p50_nginx / p50_product, 3)
        if p50_nginx and p50_product
        else None,
    }


#: Issue #12's targets for the headline figures (p99 and errors at most, the ratio at least).
TARGETS = {"p99_ms_200_clinicians": 300, "errors_200_clinicians": 0, "embedding_vs_nginx": 0.5}


# ------------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--clinicians", type=int, nargs="*", default=None, help="levels (default 50 200 500)")
    p.add_argument("--duration", type=float, default=None, help="measurement window per level, s (default 60)")
    p.add_argument("--warmup", type=float, default=None, help="s after the last clinician arrived (default 10)")
    p.add_argument("--spawn-rate", type=float, default=50.0, help="clinicians arriving per second")
    p.add_argument("--open-interval", type=float, default=None, help="mean s between image opens (default 10)")
    p.add_argument("--save-interval", type=float, default=None, help="mean s between mask saves (default 30)")
    p.add_argument("--arrival", choices=["poisson", "fixed"], default=None, help="gaps (default poisson)")
    p.add_argument("--late-threshold", type=float, default=100.0, help="ms after its time an action counts late")
    p.add_argument("--storage", nargs="*", default=None, choices=list(STORAGE_BACKENDS), help="default: all")
    p.add_argument("--env", choices=["production", "development"], default="production", help="KDSAM_ENV")
    p.add_argument("--teams", type=int, default=None, help="teams the clinicians are spread over")
    p.add_argument("--images", type=int, default=None, help="distinct images (each clinician has a copy of each)")
    p.add_argument("--saturation-connections", type=int, default=None)
    p.add_argument("--saturation-duration", type=float, default=None)
    p.add_argument("--load-processes", type=int, default=1, help="Locust processes per clinician phase")
    p.add_argument("--saturation-processes", type=int, default=2, help="Locust processes per saturation phase")
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--work-dir", type=Path, default=None, help="keep the phases' plans and logs here")
    args = p.parse_args(argv)
    tiny, quick = args.tiny, args.quick
    levels = args.clinicians or ([4] if tiny else ([20, 50] if quick else [50, 200, 500]))
    args.duration = args.duration or (2.0 if tiny else (20.0 if quick else 60.0))
    args.warmup = args.warmup if args.warmup is not None else (0.5 if tiny else (5.0 if quick else 10.0))
    args.open_interval = args.open_interval or (0.5 if tiny else 10.0)
    args.save_interval = args.save_interval or (1.0 if tiny else 30.0)
    args.arrival = args.arrival or ("fixed" if tiny else "poisson")  # tiny: a known number of actions
    args.teams = args.teams or max(2, min(10, math.ceil(max(levels) / 50)))
    args.images = args.images or (1 if tiny else 4)
    args.saturation_connections = args.saturation_connections or (2 if tiny else 8)
    args.saturation_duration = args.saturation_duration or (1.0 if tiny else (5.0 if quick else 15.0))
    args.saturation_warmup = 0.5 if tiny else 3.0
    args.burst = 3 if tiny else 12
    storages = args.storage or list(STORAGE_BACKENDS)
    res = Result(
        NAME,
        args,
        "API under load: simulated clinicians, open loop, with nginx as the anchor",
        __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
        + f" This run: {args.duration:.0f} s window per level after a {args.warmup:.0f} s warm-up, clinicians "
        f"arriving at {args.spawn_rate:.0f}/s, {args.arrival} arrivals, KDSAM_ENV={args.env}"
        + (" (the load generator plays the TLS proxy: X-Forwarded-Proto: https)" if args.env == "production" else "")
        + f", saturation with {args.saturation_connections} connections for {args.saturation_duration:.0f} s.",
    )
    res["plan"] = {
        "levels": levels,
        "open_interval_s": args.open_interval,
        "save_interval_s": args.save_interval,
        "arrival": args.arrival,
        "duration_s": args.duration,
        "warmup_s": args.warmup,
        "spawn_rate": args.spawn_rate,
        "connections_per_clinician": 6,
        "late_threshold_ms": args.late_threshold,
        "saturation_connections": args.saturation_connections,
        "load_processes": args.load_processes,
        "saturation_processes": args.saturation_processes,
        "storage": storages,
    }
    missing = load_tools_missing()
    if missing:
        raise SystemExit(f"bench.api_load: {missing}")
    work_cm = (
        contextlib.nullcontext(args.work_dir) if args.work_dir else tempfile.TemporaryDirectory(prefix="kdsam-load-")
    )
    backends: dict[str, dict] = {}
    with work_cm as work_dir:
        work = Path(work_dir)
        work.mkdir(parents=True, exist_ok=True)
        for storage in storages:
            if STORAGE_BACKENDS[storage] is None:
                backends[storage] = {"storage": storage, "status": NOT_MEASURED[storage]}
                continue
            backends[storage] = measure_backend(storage, args, levels, work)
    res["backends"] = backends
    local = backends.get("local")
    if local and "levels" in local:
        # The local backend's figures at the top level as well (BENCHMARKS.md's main table, the smoke test).
        res["levels"] = local["levels"]
        res["upload_burst"] = local["upload_burst"]
    res["headline"] = headline(local)
    res["targets"] = TARGETS
    res.note(
        "Every clinician's image is a copy (its own Image and Embedding rows) of one of "
        f"{args.images} uploaded images, so the files come from the page cache; sessions are created in the database "
        "as a sign-in creates them (bench/load_seed.py), not through the sign-in form."
    )
    res.note(
        "The load generator runs on the same cores as the server (one Locust process); its CPU share, its "
        "event-loop lag and the actions it started late are recorded per phase: a phase with late starts "
        "offered less than its nominal rate."
    )
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
