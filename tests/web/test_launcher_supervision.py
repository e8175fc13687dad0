"""``python -m webapp.run`` survives a crashed child: it restarts that one with backoff and keeps the rest running.

The real launcher in a subprocess (throw-away data dir, SQLite, embedded Redis, two workers, a free port):
a busy worker is SIGKILLed, then the embedded redis-server; the image each was working on still ends ``ready``
without anyone restarting anything (the stuck-task sweep of the workers queues lost work again).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil
import pytest
import requests
from PIL import Image

from tests.processes import REPO_ROOT, free_port, start_launcher, stop_launcher, wait_for
from webapp.kdsam_studio import embedded_redis
from webapp.run import Backoff

PASSWORD = "supervision-pw-1"
#: the sweep's threshold in the launched studio: heartbeat every 1.5 s, sweep every 3 s
STUCK_TASK_SECONDS = 6


def _png() -> bytes:
    """A new image each call (same content would reuse the stored embedding)."""
    pixels = np.random.default_rng().integers(0, 255, (96, 128, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@dataclass
class Studio:
    process: subprocess.Popen
    url: str
    data_dir: Path
    session: requests.Session

    @property
    def log(self) -> str:
        return (self.data_dir / "studio.log").read_text(errors="replace")

    def children(self) -> dict[str, int]:
        """``{"web": pid, "kdsam-1": pid, ...}``: the launcher's direct children, workers by node name."""
        found = {}
        for child in psutil.Process(self.process.pid).children():
            try:
                cmdline = child.cmdline()
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            if child.status() == psutil.STATUS_ZOMBIE:
                continue
            if "celery" in cmdline:
                found[cmdline[cmdline.index("--hostname") + 1].split("@")[0]] = child.pid
            else:
                found["web"] = child.pid
        return found

    def busy_worker(self) -> tuple[str, int]:
        """The worker that is computing (the one using the CPU), by CPU time over one second."""
        workers = {name: psutil.Process(pid) for name, pid in self.children().items() if name != "web"}
        before = {name: sum(p.cpu_times()[:2]) for name, p in workers.items()}
        time.sleep(1.0)
        used = {name: sum(p.cpu_times()[:2]) - before[name] for name, p in workers.items()}
        name = max(used, key=used.get)
        assert used[name] > 0.3, f"no worker is computing: {used}"
        return name, workers[name].pid

    def upload(self) -> requests.Response:
        return self.session.post(
            f"{self.url}/api/images/",
            files={"file": ("scan.png", _png(), "image/png")},
            headers={"X-CSRFToken": self.session.cookies["csrftoken"]},
            timeout=60,
        )

    def status(self, image_id: int) -> str:
        return self.session.get(f"{self.url}/api/images/{image_id}/", timeout=30).json()["status"]

    def wait_until_ready(self, image_ids: list[int], timeout: float) -> None:
        def all_ready():
            statuses = {image_id: self.status(image_id) for image_id in image_ids}
            assert "failed" not in statuses.values(), statuses
            return all(status == "ready" for status in statuses.values())

        wait_for(all_ready, timeout, f"images {image_ids} to be embedded", interval=0.5)

    def handshake(self) -> str:
        """Open /ws/images/ as the signed-in user: "open", "closed <code>" or "http <status>"."""
        import websockets

        async def attempt():
            headers = {"Cookie": f"sessionid={self.session.cookies['sessionid']}", "Origin": self.url}
            try:
                async with websockets.connect(
                    self.url.replace("http", "ws") + "/ws/images/", additional_headers=headers, open_timeout=20
                ) as ws:
                    try:
                        await asyncio.wait_for(ws.recv(), 1.0)
                    except TimeoutError:
                        return "open"
                    except websockets.ConnectionClosed as closed:
                        return f"closed {closed.rcvd.code if closed.rcvd else 1006}"
                    return "open"
            except websockets.InvalidStatus as error:
                return f"http {error.response.status_code}"

        with ThreadPoolExecutor(max_workers=1) as pool:
            return pool.submit(asyncio.run, attempt()).result()

    def redis_pid(self) -> int:
        return int((self.data_dir / "redis" / "redis.pid").read_text())


def _log_in(url: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{url}/accounts/login/", timeout=30)
    response = session.post(
        f"{url}/accounts/login/",
        data={"username": "admin", "password": PASSWORD, "csrfmiddlewaretoken": session.cookies["csrftoken"]},
        timeout=30,
    )
    assert response.ok and "sessionid" in session.cookies, response.text[:500]
    return session


@pytest.fixture(scope="module")
def studio(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("supervised")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "DATABASE_URL"))}
    env.update(
        {
            "KDSAM_ENV": "development",
            "KDSAM_DATA_DIR": str(data_dir),
            "KDSAM_WEIGHTS_DIR": str(data_dir / "weights"),
            "KDSAM_ADMIN_PASSWORD": PASSWORD,
            "KDSAM_WORKERS": "2",
            "KDSAM_STUCK_TASK_SECONDS": str(STUCK_TASK_SECONDS),
            "PYTHONUNBUFFERED": "1",
        }
    )
    process = None
    try:
        process = start_launcher(["--port", str(port)], env, data_dir)
        url = f"http://127.0.0.1:{port}"
        yield Studio(process, url, data_dir, _log_in(url))
    finally:
        if process is not None:
            stop_launcher(process)
        embedded_redis.stop(data_dir)  # daemonized: not in the launcher's process group


@pytest.mark.slow
def test_a_killed_busy_worker_is_restarted_with_backoff_and_its_image_ends_ready(studio):
    before = studio.children()
    assert set(before) == {"web", "kdsam-1", "kdsam-2"}, before
    response = studio.upload()
    assert response.status_code == 201, response.text
    image_id = response.json()["id"]
    wait_for(lambda: studio.status(image_id) == "embedding", 60, "the embedding to start", interval=0.1)
    name, pid = studio.busy_worker()

    os.kill(pid, signal.SIGKILL)

    restarted = wait_for(
        lambda: (lambda now: now.get(name) not in (None, pid) and now)(studio.children()), 60, f"{name} to restart"
    )
    assert studio.process.poll() is None
    assert {key: restarted[key] for key in restarted if key != name} == {k: v for k, v in before.items() if k != name}
    assert re.search(rf"kdsam: {name} exited .*; restarting it in 1 s", studio.log), studio.log[-3000:]

    # it dies again at once: the next restart waits longer
    os.kill(restarted[name], signal.SIGKILL)
    wait_for(lambda: studio.children().get(name) not in (None, restarted[name]), 60, f"{name} to restart again")
    assert re.search(rf"kdsam: {name} exited .*; restarting it in 2 s", studio.log), studio.log[-3000:]

    studio.wait_until_ready([image_id], timeout=180)
    after = studio.children()
    assert after["web"] == before["web"]
    assert all(after[key] == before[key] for key in after if key not in ("web", name))
    assert studio.process.poll() is None


@pytest.mark.slow
def test_a_killed_embedded_redis_is_restarted_and_the_app_keeps_working(studio):
    web = studio.children()["web"]
    redis_pid = studio.redis_pid()
    redis_url = embedded_redis.running_url(studio.data_dir)
    # two images being embedded, a third waiting in Redis' queue (lost with it)
    image_ids = [studio.upload().json()["id"] for _ in range(3)]
    wait_for(lambda: "embedding" in {studio.status(i) for i in image_ids}, 60, "an embedding to start", interval=0.1)

    os.kill(redis_pid, signal.SIGKILL)

    answers = set()
    for _ in range(3):  # right after the kill, while it is down or coming back
        answers.add(f"upload {studio.upload().status_code}")
        answers.add(studio.handshake())
    assert "upload 500" not in answers and "http 500" not in answers, answers
    wait_for(lambda: embedded_redis.running_url(studio.data_dir), 30, "the launcher to restart Redis")
    assert studio.redis_pid() != redis_pid
    assert embedded_redis.running_url(studio.data_dir) == redis_url  # same port: the children's REDIS_URL holds
    assert re.search(r"kdsam: the embedded Redis stopped; restarting it", studio.log), studio.log[-3000:]

    def upload_accepted():
        response = studio.upload()
        assert response.status_code in (201, 503), response.text
        return response.json()["id"] if response.status_code == 201 else None

    image_ids.append(wait_for(upload_accepted, 90, "an upload to be accepted again", interval=1.0))
    assert studio.handshake() == "open"
    studio.wait_until_ready(image_ids, timeout=240)
    assert studio.children()["web"] == web
    assert studio.process.poll() is None


@pytest.mark.slow
def test_a_killed_web_server_is_restarted_and_leaves_none_of_its_processes_behind(studio):
    web = psutil.Process(studio.children()["web"])
    old_processes = [web, *web.children(recursive=True)]
    assert len(old_processes) > 1, "the web server runs its processes under one parent (uvicorn --workers)"

    os.kill(web.pid, signal.SIGKILL)

    wait_for(lambda: studio.children().get("web") not in (None, web.pid), 60, "the web server to restart")
    wait_for(
        lambda: not [p for p in old_processes[1:] if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
        30,
        "the killed web server's processes to be gone",
    )
    assert re.search(r"kdsam: web server exited .*; restarting it in 1 s", studio.log), studio.log[-3000:]

    def answers():
        try:
            return studio.session.get(f"{studio.url}/api/session/", timeout=10).status_code == 200
        except requests.ConnectionError:
            return False

    wait_for(answers, 60, "the restarted web server to answer", interval=0.5)
    new_web = psutil.Process(studio.children()["web"])
    assert new_web.children(), "the restarted web server runs its own processes"
    assert studio.process.poll() is None


def test_the_restart_delay_doubles_for_a_child_that_keeps_crashing_up_to_a_cap():
    backoff = Backoff(initial=1, cap=30, reset_after=60)

    delays = [backoff.next_delay(ran_for=2) for _ in range(7)]

    assert delays == [1, 2, 4, 8, 16, 30, 30]


def test_the_restart_delay_starts_over_after_a_child_ran_for_a_while():
    backoff = Backoff(initial=1, cap=30, reset_after=60)
    for _ in range(4):
        backoff.next_delay(ran_for=2)

    assert backoff.next_delay(ran_for=600) == 1


def test_the_embedded_redis_restarts_on_the_port_it_had(tmp_path):
    data_dir = tmp_path / "data"
    url = embedded_redis.ensure_running(data_dir)
    try:
        os.kill(int((data_dir / "redis" / "redis.pid").read_text()), signal.SIGKILL)
        wait_for(lambda: not embedded_redis.running_url(data_dir), 10, "redis to die", interval=0.05)

        assert embedded_redis.ensure_running(data_dir) == url
    finally:
        embedded_redis.stop(data_dir)


def test_every_long_running_service_of_the_compose_deployment_restarts_on_its_own():
    import yaml

    services = yaml.safe_load((REPO_ROOT / "deploy" / "docker-compose.yml").read_text())["services"]

    policies = {name: service.get("restart") for name, service in services.items()}
    assert policies.pop("migrate") == "no"  # a one-off step
    assert set(policies) >= {"db", "redis", "web", "worker-gpu", "worker-cpu"}
    assert set(policies.values()) == {"unless-stopped"}, policies


@pytest.mark.parametrize("unit", ["kdsam-web.service", "kdsam-worker@.service"])
def test_the_systemd_units_restart_the_web_server_and_each_worker_on_their_own(unit):
    import configparser

    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read(REPO_ROOT / "deploy" / "systemd" / unit)

    assert parser["Service"]["Restart"] == "always"
    assert parser["Unit"]["StartLimitIntervalSec"] == "0"  # never give up on a process that keeps crashing


@pytest.mark.slow
def test_closing_the_terminal_stops_the_launcher_and_everything_it_started(tmp_path):
    """SIGHUP (the terminal went away) reaches only the launcher: its children are in groups of their own."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "REDIS_URL", "DATABASE_URL"))}
    env.update({"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(data_dir), "KDSAM_ADMIN_PASSWORD": PASSWORD})
    process = start_launcher(["--no-worker", "--port", str(free_port())], env, data_dir)
    started = psutil.Process(process.pid).children(recursive=True)
    try:
        assert started, "the launcher runs the web server"

        process.send_signal(signal.SIGHUP)

        assert process.wait(timeout=60) == 0, studio_log(data_dir)
        wait_for(
            lambda: not [p for p in started if p.is_running() and p.status() != psutil.STATUS_ZOMBIE],
            30,
            "the launcher's processes to be gone",
        )
    finally:
        for leftover in [*started, psutil.Process(process.pid) if process.poll() is None else None]:
            if leftover is not None and leftover.is_running():
                leftover.kill()
        embedded_redis.stop(data_dir)


def studio_log(data_dir: Path) -> str:
    return (data_dir / "studio.log").read_text(errors="replace")[-3000:]
