"""The real KD-SAM Studio stack (``python -m webapp.run``) on loopback for the server benchmarks,
and a small stdlib HTTP client (session login, CSRF, multipart upload)."""

from __future__ import annotations

import http.client
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

from bench.common import MALLOC_VARS, REPO_ROOT


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def studio_env(data_dir: Path, password: str, threads: int | None, extra: dict[str, str]) -> dict[str, str]:
    """The environment of ``python -m webapp.run`` (and of scripts on its data dir): development settings on
    ``data_dir``, this process's variables without its database, Redis and allocator ones, then ``extra``."""
    env = {
        k: v for k, v in os.environ.items() if k not in MALLOC_VARS and not k.startswith(("DATABASE_URL", "REDIS_URL"))
    }
    env.update(
        {
            "KDSAM_ENV": "development",
            "KDSAM_DATA_DIR": str(data_dir),
            "KDSAM_ADMIN_PASSWORD": password,
            "KDSAM_WEIGHTS_DIR": str(data_dir / "weights"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    if threads:
        env["KDSAM_TORCH_THREADS"] = str(threads)
    env.update(extra)
    return env


class Studio:
    """``with Studio() as s:`` starts web + worker with a temp data dir (embedded SQLite + Redis).

    ``extra_env`` goes on top of its environment (:func:`studio_env`; the worker's allocator settings come
    from webapp/run.py).
    """

    def __init__(self, threads: int | None = None, extra_env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="kdsam-bench-studio-"))
        self.port = free_port()
        self.password = "bench-" + uuid.uuid4().hex[:12]
        self.url = f"http://127.0.0.1:{self.port}"
        self.threads = threads
        self.extra_env = dict(extra_env or {})
        self.env = studio_env(self.data_dir, self.password, threads, self.extra_env)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Studio:
        self.log = open(self.data_dir / "studio.log", "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "webapp.run", "--port", str(self.port)],
            cwd=REPO_ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        while "KD-SAM Studio is running" not in (self.data_dir / "studio.log").read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                tail = (self.data_dir / "studio.log").read_text()[-3000:]
                self.__exit__(None, None, None)
                raise RuntimeError("the studio did not start:\n" + tail)
            time.sleep(0.3)
        return self

    def __exit__(self, *exc) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        self.log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def client(self) -> Client:
        c = Client("127.0.0.1", self.port)
        c.login("admin", self.password)
        return c


class Client:
    """One keep-alive HTTP/1.1 connection with cookies (not thread-safe: one per simulated user)."""

    def __init__(self, host: str, port: int, cookies: dict[str, str] | None = None) -> None:
        self.host, self.port = host, port
        self.cookies: dict[str, str] = dict(cookies or {})
        self.conn = http.client.HTTPConnection(host, port, timeout=120)

    def clone(self) -> Client:
        return Client(self.host, self.port, self.cookies)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None):
        headers = dict(headers or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if method not in ("GET", "HEAD") and "csrftoken" in self.cookies:
            headers["X-CSRFToken"] = self.cookies["csrftoken"]
            headers.setdefault("Origin", f"http://{self.host}:{self.port}")
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (
                http.client.RemoteDisconnected,
                ConnectionResetError,
                BrokenPipeError,
                http.client.CannotSendRequest,
            ):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
                if attempt:
                    raise
        for header in resp.headers.get_all("Set-Cookie") or []:
            cookie = SimpleCookie()
            cookie.load(header)
            for key, morsel in cookie.items():
                self.cookies[key] = morsel.value
        return resp.status, data

    def login(self, username: str, password: str) -> None:
        self.request("GET", "/accounts/login/")
        body = urlencode(
            {"username": username, "password": password, "csrfmiddlewaretoken": self.cookies.get("csrftoken", "")}
        ).encode()
        status, _ = self.request(
            "POST",
            "/accounts/login/",
            body,
            {
                "Content-Type": "application/x-www-form-urlencoded",
                "Referer": f"http://{self.host}:{self.port}/accounts/login/",
            },
        )
        if "sessionid" not in self.cookies:
            raise RuntimeError(f"login failed (HTTP {status})")

    def get_json(self, path: str):
        status, data = self.request("GET", path)
        return status, (json.loads(data) if data and data[:1] in (b"{", b"[") else None)

    def post_json(self, path: str, payload) -> tuple[int, object]:
        status, data = self.request("POST", path, json.dumps(payload).encode(), {"Content-Type": "application/json"})
        return status, (json.loads(data) if data and data[:1] in (b"{", b"[") else None)

    def upload(self, filename: str, content: bytes, content_type: str = "image/png"):
        boundary = "----kdsambench" + uuid.uuid4().hex
        body = (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n"
            ).encode()
            + content
            + f"\r\n--{boundary}--\r\n".encode()
        )
        status, data = self.request(
            "POST", "/api/images/", body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        return status, (json.loads(data) if data[:1] == b"{" else None)

    def wait_ready(self, image_id: int, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, image = self.get_json(f"/api/images/{image_id}/")
            if image and image["status"] in ("ready", "failed"):
                return image
            time.sleep(0.2)
        raise TimeoutError(f"image {image_id} not embedded after {timeout} s")


def distinct_png(seed: int, size: tuple[int, int] = (480, 640)) -> bytes:
    """A real image with a seed-dependent tint, so every upload is new content (no embedding reuse)."""
    import numpy as np
    from PIL import Image

    from bench.common import real_images

    images = real_images(8)
    path = images[seed % len(images)][1]
    with Image.open(path) as img:
        arr = np.asarray(img.convert("RGB").resize((size[1], size[0])), dtype=np.uint8).copy()
    arr[0, 0] = (seed % 256, (seed // 256) % 256, 7)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()
