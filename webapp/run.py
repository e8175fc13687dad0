"""Start KD-SAM Studio: database migrations, the model, web server and worker, in one command.

    python -m webapp.run [--host 127.0.0.1] [--port 8000] [--no-worker]

Uses the configuration of ``webapp.kdsam_studio.config`` (embedded SQLite + Redis by default). Prints
the URL (and, on the first run, the generated admin password), then supervises daphne and a Celery
worker; Ctrl-C or SIGTERM stops every process it started, the embedded Redis included.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")


def _port_in_use(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _wait_for_port(host: str, port: int, process: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _port_in_use(host, port):
            return True
        time.sleep(0.1)
    return False


#: How long the launcher waits for the workers' warm-up before printing the URL anyway.
WORKER_WARM_UP_TIMEOUT_S = 120


def _wait_for_workers(
    count: int, processes: list[subprocess.Popen], timeout: float, stop_requested=lambda: False
) -> int:
    """Waits until ``count`` Celery workers answer a ping; returns how many did.

    A worker answers once its ``worker_ready`` warm-up is done (model loaded, one forward pass,
    browser decoder exported: ``webapp.segmentation.services.warm_up_worker``), so the URL is
    printed when the first upload is embedded at full speed.
    """
    from worker.celery_app import app

    deadline = time.monotonic() + timeout
    answered = 0
    while time.monotonic() < deadline and not stop_requested() and any(p.poll() is None for p in processes):
        try:
            answered = len(app.control.ping(timeout=1.0))
        except Exception:  # broker not reachable yet
            answered = 0
        if answered >= count:
            break
        time.sleep(0.2)
    return answered


# -- dataset housekeeping (datasets_gc) ------------------------------------------------------------
#: How often the web process runs the datasets garbage collection after the one at startup.
DATASETS_GC_INTERVAL_S = 6 * 3600


def _run_datasets_gc() -> None:
    """One ``datasets_gc`` pass (stale upload sessions, staged archives, unreferenced objects); never raises."""
    from django.db import close_old_connections

    from webapp.datasets.services import collect_garbage

    try:
        print(f"kdsam: datasets_gc {collect_garbage()}", flush=True)
    except Exception as error:
        print(f"kdsam: datasets_gc failed: {error.__class__.__name__}: {error}", file=sys.stderr, flush=True)
    finally:
        close_old_connections()


def _start_datasets_gc(stop) -> None:
    """Run ``datasets_gc`` now and then every DATASETS_GC_INTERVAL_S in a daemon thread until ``stop`` is set."""
    import threading

    def loop():
        _run_datasets_gc()
        while not stop.wait(DATASETS_GC_INTERVAL_S):
            _run_datasets_gc()

    threading.Thread(target=loop, name="datasets-gc", daemon=True).start()


# -- end of dataset housekeeping -------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default=os.environ.get("KDSAM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("KDSAM_PORT", "8000")))
    parser.add_argument("--no-worker", action="store_true", help="start only the web server (workers run elsewhere)")
    args = parser.parse_args(argv)

    if _port_in_use(args.host, args.port):
        print(
            f"kdsam: port {args.port} on {args.host} is already in use; stop the other server or pass --port.",
            file=sys.stderr,
        )
        return 2

    # Without REDIS_URL: the embedded Redis, for this process and its children (in REDIS_URL), until we exit.
    from webapp.kdsam_studio import embedded_redis
    from webapp.kdsam_studio.config import StudioConfig

    config = StudioConfig.from_env()
    embedded_data_dir = config.data_dir if config.uses_embedded_redis else None
    try:
        if embedded_data_dir:
            os.environ["REDIS_URL"] = embedded_redis.ensure_running(embedded_data_dir)
        return _serve(args)
    finally:
        if embedded_data_dir:
            embedded_redis.stop(embedded_data_dir)


def _serve(args: argparse.Namespace) -> int:
    """Migrate, start daphne and the workers, supervise them until a signal; returns the exit status."""
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    from webapp.accounts.services import ensure_admin
    from webapp.datasets.services import requeue_pending as requeue_pending_datasets
    from webapp.kdsam_studio import web_server
    from webapp.registry import services as registry_services
    from webapp.segmentation.services import requeue_pending_embeddings

    config = settings.STUDIO
    child_env = dict(os.environ, REDIS_URL=settings.REDIS_URL, PYTHONUNBUFFERED="1")
    # glibc malloc tuned for the encoder's large activation buffers: keep them in the heap instead of
    # unmapping and re-faulting them on every forward pass (BENCHMARKS.md, "Memory allocator").
    # Variables only (no library to install); anything the user set (or an LD_PRELOAD) wins.
    worker_env = dict(child_env)
    if "LD_PRELOAD" not in worker_env:
        for key, value in (("MALLOC_MMAP_MAX_", "0"), ("MALLOC_TRIM_THRESHOLD_", "17179869184")):
            worker_env.setdefault(key, value)
    call_command("migrate", interactive=False, verbosity=0)
    version = registry_services.ensure_active_model_version()
    password = ensure_admin("admin", os.environ.get("KDSAM_ADMIN_PASSWORD") or None)
    if not settings.CELERY_TASK_ALWAYS_EAGER and not args.no_worker:
        requeue_pending_embeddings()
        requeue_pending_datasets()
    import threading

    gc_stop = threading.Event()
    _start_datasets_gc(gc_stop)  # at startup, then every DATASETS_GC_INTERVAL_S (docs/api-datasets.md)

    processes: list[subprocess.Popen] = []
    python = sys.executable
    processes.append(
        subprocess.Popen(
            web_server.command(args.host, args.port, python),
            env=child_env,
        )
    )
    # Two single-task workers on both queues, so an hour-long training job never holds back the
    # embedding of a clinician's upload or a dataset import. Names are stable across restarts: a
    # worker that comes back recognises (and requeues) the jobs it was running.
    workers = 0 if args.no_worker else max(1, int(os.environ.get("KDSAM_WORKERS", "2")))
    for index in range(1, workers + 1):
        processes.append(
            subprocess.Popen(
                [
                    python,
                    "-m",
                    "celery",
                    "-A",
                    "worker.celery_app",
                    "worker",
                    "--queues",
                    "gpu,cpu",
                    "--pool",
                    "solo",
                    "--loglevel",
                    "INFO",
                    "--hostname",
                    f"kdsam-{index}@%h",
                    "--without-gossip",
                    "--without-mingle",
                ],
                env=worker_env,
            )
        )

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)

    exit_code = 0
    if not _wait_for_port(args.host, args.port, processes[0], timeout=60):
        print("kdsam: the web server did not start; see the messages above.", file=sys.stderr)
        stopping, exit_code = True, 1
    else:
        url = f"http://{args.host}:{args.port}/"
        ready = _wait_for_workers(workers, processes[1:], WORKER_WARM_UP_TIMEOUT_S, lambda: stopping) if workers else 0
        print("\n" + "=" * 72)
        print(f"  KD-SAM Studio is running at {url}")
        if ready < workers:
            print(f"  Workers: {ready} of {workers} ready so far (still loading the model); uploads wait in the queue")
        if password:
            print(f"  First run: log in as 'admin' with password '{password}'")
        print(f"  Model: {version}")
        if registry_services.banner(version):
            print(f"  Note: {registry_services.banner(version)}")
        print(f"  Data: {config.data_dir}   Press Ctrl-C to stop.")
        print("=" * 72 + "\n", flush=True)
    while not stopping:
        for process in processes:
            if process.poll() is not None:
                print(f"kdsam: {process.args[2]} exited with status {process.returncode}; stopping.", file=sys.stderr)
                stopping, exit_code = True, 1
        time.sleep(0.2)

    gc_stop.set()
    for process in processes:
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + 10
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    print("kdsam: stopped.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
