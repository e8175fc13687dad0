"""The web server streams request bodies to Django, and refuses one above the body limit before reading it.

Issue #17: daphne parsed a multipart body in memory before Django saw it (100 MB sent to /accounts/login/
grew the server by about 1 GB and held every other request for seconds). These tests start the real web
server, as ``python -m webapp.run`` does (``web_server.command``), on a loopback port of a throw-away data dir.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

import psutil
import pytest

from tests.processes import REPO_ROOT, free_port
from webapp.kdsam_studio import web_server
from webapp.kdsam_studio.config import StudioConfig

MIB = 1024 * 1024
BOUNDARY = "kdsam-test-boundary"


def _environment(data_dir: Path, **variables: str) -> dict[str, str]:
    """A development deployment in ``data_dir`` with the embedded defaults (no REDIS_URL, no DATABASE_URL)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "DATABASE_URL"))}
    env.update({"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1", **variables})
    return env


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    """One migrated throw-away data dir for the servers of this module."""
    path = tmp_path_factory.mktemp("body-limit") / "data"
    result = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput"],
        cwd=REPO_ROOT,
        env=_environment(path),
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return path


@contextmanager
def _server(data_dir: Path, **variables: str) -> Iterator[tuple[int, psutil.Process]]:
    """The web server of ``web_server.command`` in one process (so a stalled process cannot hide behind another)."""
    port = free_port()
    log_path = data_dir / f"web-{port}.log"
    with open(log_path, "w") as log:
        process = subprocess.Popen(
            web_server.command("127.0.0.1", port, sys.executable, processes=1),
            cwd=REPO_ROOT,
            env=_environment(data_dir, **variables),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, "the web server exited:\n" + log_path.read_text()[-4000:]
            assert time.monotonic() < deadline, "the web server did not start:\n" + log_path.read_text()[-4000:]
            try:
                if _get(port, "/api/session/")[0] < 500:
                    break
            except OSError:
                time.sleep(0.2)
        yield port, psutil.Process(process.pid)
    finally:
        children = psutil.Process(process.pid).children(recursive=True) if process.poll() is None else []
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)
        for child in children:
            if child.is_running():
                child.kill()


def _get(port: int, path: str, timeout: float = 30) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _rss(process: psutil.Process) -> int:
    """Resident memory of the server and every process under it."""
    total = 0
    for each in [process, *process.children(recursive=True)]:
        with suppress(psutil.NoSuchProcess):
            total += each.memory_info().rss
    return total


class MultipartFile:
    """A multipart body with one ``size``-byte file part, generated block by block (never held in memory)."""

    BLOCK = b"\0" * MIB

    def __init__(self, size: int):
        self.head = (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.bin"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n"
        ).encode()
        self.tail = f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size = size
        self.sent = 0

    def __len__(self) -> int:
        return len(self.head) + self.size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        while self.sent < self.size:
            block = self.BLOCK[: min(MIB, self.size - self.sent)]
            self.sent += len(block)
            yield block
        yield self.tail


def _post(port: int, path: str, body: MultipartFile, result: dict) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}", "Content-Length": str(len(body))}
        connection.request("POST", path, body=iter(body), headers=headers)
        response = connection.getresponse()
        result["status"], result["body"] = response.status, response.read()
    except OSError as error:
        result["error"] = error
    finally:
        connection.close()


# -- the limit's configuration ------------------------------------------------------------------------------------


def test_the_default_body_limit_admits_the_largest_image_upload_and_dataset_chunk(tmp_path):
    from webapp.datasets import conf

    config = StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path)})
    assert config.max_request_bytes > config.max_upload_mb * MIB  # the image plus its multipart framing
    assert config.max_request_bytes >= conf.MAX_CHUNK_BYTES
    raised = StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_MAX_UPLOAD_MB": "200"})
    assert raised.max_request_bytes > 200 * MIB


def test_the_body_limit_and_the_web_processes_are_read_from_the_environment(tmp_path):
    env = {"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_MAX_REQUEST_MB": "5", "KDSAM_WEB_PROCESSES": "3"}
    config = StudioConfig.from_env(env)
    assert (config.max_request_bytes, config.web_processes) == (5 * MIB, 3)
    assert StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path)}).web_processes == len(os.sched_getaffinity(0))


def test_the_server_command_runs_the_configured_number_of_processes(settings):
    settings.STUDIO = replace(settings.STUDIO, web_processes=3)
    argv = web_server.command("127.0.0.1", 8123)
    assert argv[argv.index("--workers") + 1] == "3"
    assert web_server.command("127.0.0.1", 8123, processes=1)[argv.index("--workers") + 1] == "1"


# -- the ASGI middleware, in process ------------------------------------------------------------------------------


def _call(app, scope: dict, messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """Runs ``app`` (in a thread of its own, with its own event loop) on ``messages``; returns what it sent."""
    from concurrent.futures import ThreadPoolExecutor

    from webapp.kdsam_studio.body_limit import RequestBodyLimit

    sent: list[dict] = []
    pending = list(messages)

    async def receive():
        return pending.pop(0) if pending else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, RequestBodyLimit(app, 1000)(scope, receive, send)).result(timeout=30)
    return sent, pending


def _echo_app():
    """An application that reads the whole body and answers 200 with its length."""
    seen: dict = {}

    async def app(scope, receive, send):
        seen["scope"] = scope["type"]
        body = b""
        while True:
            message = await receive()
            if message["type"] != "http.request":
                seen["aborted"] = True
                return
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": str(len(body)).encode()})

    return app, seen


def test_a_body_of_exactly_the_limit_reaches_the_application():
    app, seen = _echo_app()
    half = b"x" * 500
    parts = [{"type": "http.request", "body": half, "more_body": True}, {"type": "http.request", "body": half}]
    scope = {"type": "http", "method": "POST", "headers": [(b"content-length", b"1000")]}
    sent, _ = _call(app, scope, parts)
    assert sent[0]["status"] == 200 and sent[1]["body"] == b"1000" and "aborted" not in seen


def test_a_chunked_body_over_the_limit_stops_the_application_reading_and_answers_413_once():
    app, seen = _echo_app()
    parts = [{"type": "http.request", "body": b"x" * 600, "more_body": True} for _ in range(3)]
    sent, unread = _call(app, {"type": "http", "method": "POST", "headers": []}, parts)
    assert [m.get("status") for m in sent if m["type"] == "http.response.start"] == [413]
    assert seen["aborted"] and len(unread) == 1  # the third part was never asked for


def test_websockets_pass_the_body_limit_untouched():
    app, seen = _echo_app()
    scope = {"type": "websocket", "headers": [(b"content-length", b"5000")]}
    sent, _ = _call(app, scope, [{"type": "websocket.connect"}])
    assert seen["scope"] == "websocket" and sent == []


# -- the real server ----------------------------------------------------------------------------------------------


@pytest.mark.timeout(300)
def test_a_large_unauthenticated_body_is_streamed_without_growing_the_server_or_holding_other_requests(data_dir):
    # The limit is raised above the body, so that all of it is read (and must be streamed, not held).
    with _server(data_dir, KDSAM_MAX_REQUEST_MB="1024") as (port, server):
        body = MultipartFile(192 * MIB)
        for _ in range(3):  # warm: URLconf, views, templates, the multipart code
            _get(port, "/api/session/")
            small = MultipartFile(64 * 1024)
            _post(port, "/accounts/login/", small, {})
        baseline = _rss(server)
        peak = baseline
        result: dict = {}
        upload = threading.Thread(target=_post, args=(port, "/accounts/login/", body, result), daemon=True)
        upload.start()
        latencies = []
        deadline = time.monotonic() + 180
        while upload.is_alive() and time.monotonic() < deadline:
            peak = max(peak, _rss(server))
            if body.sent >= 8 * MIB:  # while the body arrives and while the server handles it
                started = time.monotonic()
                status, _ = _get(port, "/api/session/")
                latencies.append(time.monotonic() - started)
                assert status == 403  # anonymous
            time.sleep(0.05)
        upload.join(timeout=5)
        peak = max(peak, _rss(server))

    assert "error" not in result, result
    assert result["status"] == 403  # Django's CSRF check refused it, after receiving all of it
    assert latencies, "no request was made while the upload ran"
    assert peak - baseline < 64 * MIB, f"the server grew by {(peak - baseline) / MIB:.0f} MB"
    assert max(latencies) < 1.0, f"another user's request took {max(latencies):.2f} s during the upload"


@pytest.fixture(scope="module")
def small_limit_server(data_dir):
    """A server whose body limit is 1 MB (KDSAM_MAX_REQUEST_MB=1)."""
    with _server(data_dir, KDSAM_MAX_REQUEST_MB="1") as (port, _):
        yield port


def _error(response: http.client.HTTPResponse) -> dict:
    assert response.getheader("Content-Type") == "application/json"
    return json.loads(response.read())["error"]


@pytest.mark.timeout(120)
def test_a_body_declared_above_the_limit_is_refused_with_413_before_it_is_sent(small_limit_server):
    connection = http.client.HTTPConnection("127.0.0.1", small_limit_server, timeout=20)
    try:
        connection.putrequest("POST", "/accounts/login/")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        connection.putheader("Content-Length", str(2 * MIB))
        connection.endheaders()  # and no body at all
        response = connection.getresponse()
        assert response.status == 413
        error = _error(response)
    finally:
        connection.close()
    assert error["code"] == "request_too_large"
    assert "1 MB" in error["message"] and "KDSAM_MAX_REQUEST_MB" in error["message"]


@pytest.mark.timeout(120)
def test_a_chunked_body_is_refused_with_413_once_it_passes_the_limit(small_limit_server):
    with socket.create_connection(("127.0.0.1", small_limit_server), timeout=20) as sock:
        sock.sendall(
            b"POST /accounts/login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
            + f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n\r\n".encode()
        )
        block = b"\0" * (64 * 1024)
        for _ in range(MIB // len(block) + 1):  # one block over the limit, then nothing: the body never ends
            sock.sendall(b"%x\r\n" % len(block) + block + b"\r\n")
        response = http.client.HTTPResponse(sock)
        response.begin()
        assert response.status == 413
        error = _error(response)
    assert error["code"] == "request_too_large" and "KDSAM_MAX_REQUEST_MB" in error["message"]


@pytest.mark.timeout(120)
def test_a_body_under_the_limit_reaches_django(small_limit_server):
    result: dict = {}
    _post(small_limit_server, "/accounts/login/", MultipartFile(MIB // 2), result)
    assert result.get("status") == 403, result  # Django's CSRF check, not the body limit
