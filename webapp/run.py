"""Start KD-SAM Studio: database migrations, the model, web server and worker, in one command.

    python -m webapp.run [--host 127.0.0.1] [--port 8000] [--no-worker]

Uses the configuration of ``webapp.kdsam_studio.config`` (embedded SQLite + Redis by default). Prints
the URL (and, on the first run, the generated admin password), then supervises the web server and the
Celery workers: a child that exits is started again after a delay that doubles while it keeps crashing
(1 s up to 30 s, :class:`Backoff`), the others keep running; the embedded Redis is watched the same way and
started again on its port. Work a dead worker or Redis lost is queued again by the workers' stuck-task sweep
(``webapp.kdsam_studio.stuck_tasks``). Ctrl-C or SIGTERM stops every process it started, the embedded Redis
included.
"""

from __future__ import annotations

import argparse
import contextlib
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


# -- supervision: restart what crashed, keep the rest running --------------------------------------


class Backoff:
    """The restart delays of one supervised process: ``initial`` seconds, doubling while it keeps crashing,
    at most ``cap``; back to ``initial`` once it had run for ``reset_after`` seconds before it stopped."""

    def __init__(self, initial: float = 1, cap: float = 30, reset_after: float = 60):
        self.initial, self.cap, self.reset_after = initial, cap, reset_after
        self.failures = 0

    def next_delay(self, ran_for: float) -> float:
        if ran_for >= self.reset_after:
            self.failures = 0
        delay = min(self.cap, self.initial * 2**self.failures)
        self.failures += 1
        return delay


def _exit_reason(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"(signal {signal.Signals(-returncode).name})"
        except ValueError:
            return f"(signal {-returncode})"
    return f"with status {returncode}"


def worker_command(hostname: str, python: str = sys.executable) -> list[str]:
    """The argv of one single-task Celery worker on both queues, named ``hostname`` (``name@%h``)."""
    return [
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
        hostname,
        "--without-gossip",
        "--without-mingle",
    ]


class Child:
    """One supervised process (the web server or a worker): started again with :class:`Backoff` when it exits."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str]):
        self.name, self.argv, self.env = name, argv, env
        self.backoff = Backoff()
        self.process: subprocess.Popen | None = None
        self.started_at = 0.0
        self.restart_at: float | None = None

    def start(self) -> None:
        # A process group of its own, so that what it started goes with it: uvicorn's worker processes hold the
        # listening socket and outlive a killed parent, which would keep the restarted server off its port.
        self.process = subprocess.Popen(self.argv, env=self.env, process_group=0)
        self.started_at, self.restart_at = time.monotonic(), None

    def _signal_group(self, signum: int) -> None:
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the group is empty
            os.killpg(self.process.pid, signum)

    def supervise(self, now: float) -> None:
        """Notice an exit (and schedule the restart), or restart when its delay is over."""
        if self.restart_at is None and self.process is not None and self.process.poll() is not None:
            self._signal_group(signal.SIGKILL)  # processes it left behind
            delay = self.backoff.next_delay(now - self.started_at)
            print(
                f"kdsam: {self.name} exited {_exit_reason(self.process.returncode)}; restarting it in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            self.restart_at = now + delay
        elif self.restart_at is not None and now >= self.restart_at:
            self.start()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self._signal_group(signal.SIGTERM)

    def wait(self, deadline: float) -> None:
        if self.process is None:
            return
        try:
            self.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self._signal_group(signal.SIGKILL)


class EmbeddedRedisWatch:
    """Pings the embedded Redis every ``interval`` seconds and starts it again (on its port) when it died."""

    def __init__(self, data_dir, url: str, interval: float = 1.0):
        self.data_dir, self.url, self.interval = data_dir, url, interval
        self.backoff = Backoff()
        self.next_check = 0.0
        self.up_since = time.monotonic()

    def supervise(self, now: float) -> str | None:
        """Returns the new URL when the restarted server had to take another port, else ``None``."""
        from webapp.kdsam_studio import embedded_redis

        if now < self.next_check:
            return None
        self.next_check = now + self.interval
        if embedded_redis.running_url(self.data_dir):
            return None
        print("kdsam: the embedded Redis stopped; restarting it", file=sys.stderr, flush=True)
        try:
            url = embedded_redis.ensure_running(self.data_dir)
        except (embedded_redis.EmbeddedRedisError, OSError, subprocess.SubprocessError) as error:
            delay = self.backoff.next_delay(now - self.up_since)
            print(f"kdsam: the embedded Redis did not start ({error}); trying again in {delay:g} s", file=sys.stderr)
            self.next_check = now + delay
            return None
        self.up_since = time.monotonic()
        changed, self.url = url != self.url, url
        return url if changed else None


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
        watch = None
        if embedded_data_dir:
            os.environ["REDIS_URL"] = embedded_redis.ensure_running(embedded_data_dir)
            watch = EmbeddedRedisWatch(embedded_data_dir, os.environ["REDIS_URL"])
        return _serve(args, watch)
    finally:
        if embedded_data_dir:
            embedded_redis.stop(embedded_data_dir)


def _serve(args: argparse.Namespace, redis_watch: EmbeddedRedisWatch | None = None) -> int:
    """Migrate, start the web server and the workers, supervise them until a signal; returns the exit status."""
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

    python = sys.executable
    web = Child("web server", web_server.command(args.host, args.port, python), child_env)
    # Two single-task workers on both queues, so an hour-long training job never holds back the
    # embedding of a clinician's upload or a dataset import. Names are stable across restarts: a
    # worker that comes back recognises (and requeues) the jobs it was running.
    workers = 0 if args.no_worker else max(1, int(os.environ.get("KDSAM_WORKERS", "2")))
    worker_children = [
        Child(
            f"kdsam-{index}",
            worker_command(f"kdsam-{index}@%h", python),
            worker_env,
        )
        for index in range(1, workers + 1)
    ]
    children = [web, *worker_children]
    for child in children:
        child.start()

    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    # SIGHUP too: the children have process groups of their own, so a closed terminal signals the launcher only
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    exit_code = 0
    assert web.process is not None
    if not _wait_for_port(args.host, args.port, web.process, timeout=60):
        print("kdsam: the web server did not start; see the messages above.", file=sys.stderr)
        stopping, exit_code = True, 1
    else:
        url = f"http://{args.host}:{args.port}/"
        processes = [child.process for child in worker_children if child.process is not None]
        ready = _wait_for_workers(workers, processes, WORKER_WARM_UP_TIMEOUT_S, lambda: stopping) if workers else 0
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
        now = time.monotonic()
        new_url = redis_watch.supervise(now) if redis_watch else None
        if new_url:  # the old port was taken meanwhile: every child must reconnect to the new one
            print(f"kdsam: the embedded Redis moved to {new_url}; restarting every process", file=sys.stderr)
            for child in children:
                child.env["REDIS_URL"] = new_url
                child.stop()
        for child in children:
            child.supervise(now)
        time.sleep(0.2)

    gc_stop.set()
    for child in children:
        child.stop()
    deadline = time.monotonic() + 10
    for child in children:
        child.wait(deadline)
    print("kdsam: stopped.")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
