"""The embedded Redis runs only while something needs it: never started by importing the settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.processes import REPO_ROOT, free_port, start_launcher, stop_launcher
from webapp.kdsam_studio import embedded_redis


def _environment(data_dir: Path) -> dict[str, str]:
    """A development deployment in ``data_dir`` with the embedded defaults (no REDIS_URL, no DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "DATABASE_URL"))}
    env.update({"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    return env


def _redis_servers_of(data_dir: Path) -> list[psutil.Process]:
    """redis-server processes working in ``data_dir`` (the embedded one runs with ``--dir <data_dir>/redis``)."""
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        try:
            if "redis-server" not in " ".join([process.info["name"] or "", *(process.info["cmdline"] or [])]):
                continue
            if Path(process.cwd()).is_relative_to(data_dir):
                found.append(process)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return found


def _manage(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=REPO_ROOT,
        env=_environment(data_dir),
        capture_output=True,
        text=True,
        timeout=180,
    )


def test_a_management_command_leaves_no_redis_server_running(tmp_path):
    data_dir = tmp_path / "data"
    try:
        result = _manage(data_dir, "check")
        assert result.returncode == 0, result.stdout + result.stderr
        assert _redis_servers_of(data_dir) == []
    finally:
        embedded_redis.stop(data_dir)


PUBLISH = (
    "from worker.celery_app import app; from webapp.kdsam_studio import embedded_redis; "
    "app.connection_for_write().ensure_connection(max_retries=1); "
    "print('running', bool(embedded_redis.running_url(app.conf.broker_transport_options['embedded_redis_data_dir'])))"
)


def test_a_command_that_talks_to_the_broker_starts_the_embedded_redis_and_stops_it_when_it_exits(tmp_path):
    data_dir = tmp_path / "data"
    try:
        result = _manage(data_dir, "shell", "-c", PUBLISH)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "running True" in result.stdout
        deadline = time.monotonic() + 10  # SIGTERM to the daemonized server: it exits on its own
        while _redis_servers_of(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _redis_servers_of(data_dir) == []
    finally:
        embedded_redis.stop(data_dir)


def test_a_command_leaves_the_embedded_redis_running_while_another_process_uses_it(tmp_path):
    import redis

    data_dir = tmp_path / "data"
    url = embedded_redis.ensure_running(data_dir)
    other = redis.Redis.from_url(url)
    try:
        other.ping()  # this test process is the other client the command must not cut off
        result = _manage(data_dir, "shell", "-c", PUBLISH)
        assert result.returncode == 0, result.stdout + result.stderr
        assert other.ping() and len(_redis_servers_of(data_dir)) == 1
    finally:
        other.close()
        embedded_redis.stop(data_dir)


def test_the_channel_layer_is_in_memory_while_no_embedded_redis_runs(tmp_path):
    from channels.layers import InMemoryChannelLayer

    assert isinstance(embedded_redis.channel_layer(str(tmp_path)), InMemoryChannelLayer)
    assert _redis_servers_of(tmp_path) == []


def test_the_channel_layer_uses_the_embedded_redis_that_runs(tmp_path):
    from channels_redis.core import RedisChannelLayer

    url = embedded_redis.ensure_running(tmp_path)
    try:
        layer = embedded_redis.channel_layer(str(tmp_path))
        assert isinstance(layer, RedisChannelLayer)
        assert layer.hosts[0]["address"] == url
    finally:
        embedded_redis.stop(tmp_path)


@pytest.mark.slow
def test_the_launcher_stops_its_embedded_redis_when_it_exits(tmp_path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = _environment(data_dir)
    env.update({"KDSAM_WEIGHTS_DIR": str(data_dir / "weights"), "KDSAM_ADMIN_PASSWORD": "a-long-password-1"})
    process = None
    try:
        process = start_launcher(["--no-worker", "--port", str(free_port())], env, data_dir)
        assert len(_redis_servers_of(data_dir)) == 1
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0, (data_dir / "studio.log").read_text()[-4000:]
        deadline = time.monotonic() + 10  # SIGTERM to the daemonized server: it exits on its own
        while _redis_servers_of(data_dir) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _redis_servers_of(data_dir) == []
    finally:
        if process is not None:
            stop_launcher(process)
        embedded_redis.stop(data_dir)
