"""For the tests that run the studio's own processes: a free loopback port, bounded waiting, the launcher."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
#: what ``python -m webapp.run`` prints once the web server answers and the workers are warm
RUNNING_BANNER = "KD-SAM Studio is running"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    """``predicate()``'s first truthy value, polled every ``interval`` s; the test fails after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def start_launcher(args: list[str], env: dict[str, str], data_dir: Path, timeout: float = 240) -> subprocess.Popen:
    """``python -m webapp.run *args`` in a session of its own, logging to ``data_dir/studio.log``, once it runs.

    If it exits or does not print its banner within ``timeout`` s, it and everything under it are killed and the test
    fails with the log's tail.
    """
    log_path = data_dir / "studio.log"
    # The launcher writes to its own copy of the descriptor; ours is closed once it has started.
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "webapp.run", *args],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while RUNNING_BANNER not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            _kill_tree(process)
            pytest.fail("the studio did not start:\n" + log_path.read_text(errors="replace")[-4000:])
        time.sleep(0.3)
    return process


def _kill_tree(process: subprocess.Popen, under: list | None = None) -> None:
    """SIGKILL to ``process``, its group and every process under it (``under``: as listed earlier)."""
    import psutil

    if under is None:
        try:
            under = psutil.Process(process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            under = []
    for child in under:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.kill()
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=30)


def stop_launcher(process: subprocess.Popen, timeout: float = 60) -> None:
    """SIGTERM to the launcher (it stops its children, each in a process group of its own); past ``timeout`` s,
    SIGKILL to it and to every process under it, so that nothing it started outlives the test."""
    import psutil

    if process.poll() is not None:
        return
    try:
        under = psutil.Process(process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        under = []
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_tree(process, under)
