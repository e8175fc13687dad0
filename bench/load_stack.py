"""What ``bench.api_load`` runs its load against: the real stack in a chosen configuration (environment,
storage backend), the client that plays its TLS proxy, the web tier's processes, and nginx as the anchor.

* :class:`LoadStudio`: :class:`bench.studio.Studio` with extra environment variables (production settings,
  a storage backend); :meth:`LoadStudio.client` returns a :class:`ProxiedClient`.
* :data:`STORAGE_BACKENDS`: the storage backends the benchmark knows, each a context manager giving the
  environment that selects it, or ``None`` with the reason it is not measured.
* :func:`web_tier_pids`: the ASGI server's processes (uvicorn and its workers) under the launcher.
* :class:`NginxAnchor`: Debian's nginx in the foreground on a free loopback port, serving one file, with its
  pid, log and temp files in a temporary folder (nothing under /etc, /var or /run).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bench.studio import Client, Studio, free_port

NGINX_CANDIDATES = ("/usr/sbin/nginx", "/usr/bin/nginx")
NGINX_MISSING = "nginx is not installed: install Debian's package with `sudo apt-get install -y nginx`, then re-run"
EMBEDDING_CONTENT_TYPE = "application/x-kdsam-embedding"


# ------------------------------------------------------------------------------------------------ the stack


def production_env() -> dict[str, str]:
    """Production settings behind a TLS proxy on loopback: the load generator plays the proxy, sending
    ``X-Forwarded-Proto: https`` from 127.0.0.1, which ``KDSAM_FORWARDED_ALLOW_IPS`` trusts."""
    return {
        "KDSAM_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "KDSAM_FORWARDED_ALLOW_IPS": "127.0.0.1",
    }


class LoadStudio(Studio):
    """:class:`Studio` started with ``extra_env`` on top of its own environment (``KDSAM_ENV`` included)."""

    def __init__(self, threads: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        super().__init__(threads=threads, extra_env=extra_env)
        self.https = self.extra_env.get("KDSAM_ENV") == "production"

    @property
    def origin(self) -> str:
        """The site's origin as the browser sees it (https behind the TLS proxy in production)."""
        return f"{'https' if self.https else 'http'}://127.0.0.1:{self.port}"

    def client(self) -> ProxiedClient:
        c = ProxiedClient("127.0.0.1", self.port, https=self.https)
        c.login("admin", self.password)
        return c

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.data_dir / "studio.log").read_text()[-chars:]
        except OSError:
            return ""


class ProxiedClient(Client):
    """:class:`Client` that, with ``https``, sends what a TLS-terminating proxy adds (``X-Forwarded-Proto``)
    and the browser's ``https://`` origin on unsafe requests."""

    def __init__(self, host: str, port: int, cookies: dict[str, str] | None = None, https: bool = False) -> None:
        super().__init__(host, port, cookies)
        self.https = https

    def clone(self) -> ProxiedClient:
        return ProxiedClient(self.host, self.port, self.cookies, self.https)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        headers = dict(headers or {})
        if self.https:
            headers["X-Forwarded-Proto"] = "https"
            if method not in ("GET", "HEAD"):
                headers["Origin"] = f"https://{self.host}:{self.port}"
            if "Referer" in headers:
                headers["Referer"] = headers["Referer"].replace("http://", "https://", 1)
        return super().request(method, path, body, headers)


def web_tier_pids(launcher_pid: int) -> list[int]:
    """The ASGI server's top process(es) started by ``webapp.run`` (their worker processes are their children)."""
    import psutil

    found = []
    for child in psutil.Process(launcher_pid).children(recursive=False):
        with contextlib.suppress(psutil.Error):
            if "uvicorn" in " ".join(child.cmdline()):
                found.append(child.pid)
    if not found:
        raise RuntimeError("no uvicorn process under the launcher: has the web server changed (web_server.py)?")
    return found


def web_tier_processes(pids: list[int]) -> int:
    """How many processes serve requests: uvicorn's ``--workers`` (1 when it serves in its own process)."""
    import psutil

    total = 0
    for pid in pids:
        argv = psutil.Process(pid).cmdline()
        total += int(argv[argv.index("--workers") + 1]) if "--workers" in argv else 1
    return total


def process_tree_cpu_s(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds of each live process in the trees rooted at ``pids``."""
    import psutil

    out: dict[int, float] = {}
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                t = proc.cpu_times()
                out[proc.pid] = t.user + t.system
    return out


# ------------------------------------------------------------------------------------------------ storage


@contextlib.contextmanager
def _local_storage() -> Iterator[dict[str, str]]:
    """The default: files under ``KDSAM_DATA_DIR/media`` on the local disk."""
    yield {}


#: Storage backend → a context manager yielding the environment that selects it (and runs what it needs,
#: e.g. a loopback S3 server), or ``None`` while the product has no such backend. The S3 backend plugs in here:
#: start a loopback S3-compatible server, yield the ``KDSAM_*`` variables pointing the studio at it.
STORAGE_BACKENDS: dict[str, Callable[[], contextlib.AbstractContextManager[dict[str, str]]] | None] = {
    "local": _local_storage,
    "s3": None,
}
NOT_MEASURED = {"s3": "not measured: S3 backend not implemented"}


# ------------------------------------------------------------------------------------------------ nginx


def nginx_binary() -> str | None:
    return next((p for p in NGINX_CANDIDATES if Path(p).is_file()), None) or shutil.which("nginx")


class NginxAnchor:
    """``with NginxAnchor(path) as n:`` serves ``path`` at ``n.url`` (``/embedding``) with ``workers`` processes.

    The same file the product's view sends, with the product's ``Content-Type`` and ``Cache-Control``;
    ``sendfile``, keep-alive, no access log, no gzip (the product compresses nothing either).

    With ``proxy_to`` it is also the studio's TLS-terminating proxy, as deploy/README.md configures one: every
    other path goes to the studio's web server (keep-alive upstream, ``X-Forwarded-*``), and the studio's
    ``X-Accel-Redirect`` answers (``KDSAM_FILE_DELIVERY=x-accel-redirect``) are sent from its ``media/`` folder
    by an ``internal`` location.
    """

    def __init__(self, path: Path, workers: int = 2, proxy_to: LoadStudio | None = None) -> None:
        binary = nginx_binary()
        if binary is None:
            raise FileNotFoundError(NGINX_MISSING)
        self.binary, self.path, self.workers = binary, Path(path).resolve(), workers
        self.proxy_to = proxy_to
        self.dir = Path(tempfile.mkdtemp(prefix="kdsam-bench-nginx-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/embedding"
        self.process: subprocess.Popen | None = None

    def config(self) -> str:
        d = self.dir
        # As root the workers would run as "nobody", which may not read the studio's 0700 data dir.
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""{user}worker_processes {self.workers};
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;
    gzip off;
    server_tokens off;
{self._upstream()}    server {{
        listen 127.0.0.1:{self.port};
{self._proxy_locations()}        location = /embedding {{
            alias {self.path};
            default_type {EMBEDDING_CONTENT_TYPE};
            types {{ }}
            add_header Cache-Control "private, max-age=31536000, immutable";
        }}
    }}
}}
"""

    def _upstream(self) -> str:
        if self.proxy_to is None:
            return ""
        return f"    upstream kdsam_web {{ server 127.0.0.1:{self.proxy_to.port}; keepalive 64; }}\n"

    def _proxy_locations(self) -> str:
        if self.proxy_to is None:
            return ""
        media = self.proxy_to.data_dir / "media"
        prefix = self.proxy_to.env.get("KDSAM_FILE_DELIVERY_PREFIX", "/_kdsam_files/")
        return f"""        location / {{
            proxy_pass http://kdsam_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto https;
        }}
        location {prefix} {{
            internal;
            alias {media}/;
        }}
"""

    def __enter__(self) -> NginxAnchor:
        conf = self.dir / "nginx.conf"
        conf.write_text(self.config())
        self.log = open(self.dir / "stderr.log", "w")
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.dir), "-e", str(self.dir / "error.log"), "-c", str(conf)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            with socket.socket() as sock:
                sock.settimeout(0.2)
                if sock.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.1)
        tail = "\n".join(
            p.read_text()[-2000:] for p in (self.dir / "stderr.log", self.dir / "error.log") if p.is_file()
        )
        self.__exit__(None, None, None)
        raise RuntimeError(f"nginx did not start:\n{tail}")

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful: the master waits for its workers
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        with contextlib.suppress(Exception):
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
