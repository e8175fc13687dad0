"""Locust users of ``bench.api_load``: simulated clinicians on an open-loop schedule, and a closed-loop fetcher.

``bench.locust_run`` runs them in-process (``locust.env.Environment`` + ``LocalRunner``) from a plan file;
``KDSAM_LOAD_PLAN=plan.json locust -f bench/locustfile.py --headless -u N`` runs the same users by hand
(the plan's window is then taken from the moment the first user starts).

:class:`Clinician` (open loop). Each clinician keeps ``/ws/images/`` open (its session cookie, the site's
Origin) and acts on its own wall-clock timetable, drawn in advance: an *open* about every ``open_interval_s``
(``GET /api/images/{id}/``, then the image file and ``GET /api/images/{id}/embedding/?encoding=quant8-zlib``
at once, as the browser does) and a *save* about every ``save_interval_s`` (``POST /api/images/{id}/masks/``
with the CSRF token). ``arrival="poisson"``: exponential gaps (a Poisson process per clinician);
``"fixed"``: constant gaps from a random phase. An action starts at its time whether or not the clinician's
previous one has finished (it runs in its own greenlet, up to ``concurrency`` connections per clinician, like a
browser's six per host): a slow server does not lower the offered rate. An action that starts more than
``late_threshold_ms`` after its time is counted late (the load generator itself was behind), one that starts
while the same clinician's previous action of its kind is still running is counted overlapping.

:class:`Fetcher` (closed loop): ``users`` connections each requesting ``path`` again as soon as the previous
answer is in: the saturation throughput of one file.

Only what was *scheduled* inside the measurement window ``[t_start, t_end)`` is recorded (``RECORD``).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import time
from collections import defaultdict
from typing import Any

import gevent
import websocket
from locust import FastHttpUser, constant, events, task

#: The plan (``bench.locust_run`` fills it; by hand: the JSON file named by ``KDSAM_LOAD_PLAN``).
PLAN: dict[str, Any] = {}
EMBEDDING_ACCEPT = "application/x-kdsam-embedding, application/json;q=0.9, */*;q=0.8"


class Recorder:
    """What one load process saw inside the window: per-request samples, action timing, websocket events."""

    def __init__(self) -> None:
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.ok: dict[str, int] = defaultdict(int)
        self.bytes: dict[str, int] = defaultdict(int)
        self.errors: dict[str, int] = defaultdict(int)
        self.actions: dict[str, int] = defaultdict(int)
        self.flow_ms: dict[str, list[float]] = defaultdict(list)
        self.lateness_ms: list[float] = []
        self.late = 0
        self.overlapping = 0
        self.in_flight = 0  # actions of the window started and not finished
        self.ws_connect_ms: list[float] = []
        self.ws_errors: dict[str, int] = defaultdict(int)
        self.ws_open = 0
        self.ws_messages = 0

    def request(self, name: str, ms: float, nbytes: int, status: int, exception) -> None:
        self.latency_ms[name].append(ms)
        if exception is None and 200 <= status < 300:
            self.ok[name] += 1
            self.bytes[name] += nbytes
        else:
            self.errors[f"{name}:{status or type(exception).__name__}"] += 1


RECORD = Recorder()


@events.request.add_listener
def _on_request(
    request_type, name, response_time, response_length, response=None, context=None, exception=None, **_
) -> None:
    if (context or {}).get("in_window"):
        status = getattr(response, "status_code", 0) or 0
        RECORD.request(name, float(response_time), int(response_length or 0), int(status), exception)


def load_plan() -> dict[str, Any]:
    if not PLAN and os.environ.get("KDSAM_LOAD_PLAN"):
        with open(os.environ["KDSAM_LOAD_PLAN"]) as f:
            PLAN.update(json.load(f))
    if "t_start" not in PLAN:  # by hand: window from the first user's start
        PLAN["t_start"] = time.monotonic() + PLAN.get("warmup_s", 0)
        PLAN["t_end"] = PLAN["t_start"] + PLAN.get("duration_s", 60)
    return PLAN


def in_window(t: float) -> bool:
    return PLAN["t_start"] <= t < PLAN["t_end"]


def mask_payload(image: dict) -> dict:
    h, w = image["height"], image["width"]
    total = h * w
    inside = total // 5
    return {
        "label": "bench",
        "color": "#1e90ff",
        "rle": {"size": [h, w], "counts": [total - inside - total // 3, inside, total // 3]},
        "prompts": {"points": [[w / 2, h / 2, 1]], "box": None},
    }


class _LoadUser(FastHttpUser):
    """What every simulated user shares: no retries, long timeouts, no think time (the schedule is its own)."""

    abstract = True
    network_timeout = 120.0
    connection_timeout = 30.0
    max_retries = 0
    wait_time = constant(0)


class Clinician(_LoadUser):
    """One clinician: own session, own websocket, own timetable (see the module's docstring)."""

    concurrency = 6  # a browser's connections per host
    _numbers = itertools.count()

    def on_start(self) -> None:
        plan = load_plan()
        self.number = plan.get("user_offset", 0) + next(Clinician._numbers)
        self.rng = random.Random(plan.get("seed", 0) * 1_000_003 + self.number)
        self.client.client.cookiejar = None  # cookies are sent as given below, whatever the server sets
        self.product = bool(plan.get("clinicians"))
        self.headers: dict[str, str] = {}
        self.images: list[dict] = [{"id": 0, "width": 1, "height": 1}]
        if self.product:
            me = plan["clinicians"][self.number % len(plan["clinicians"])]
            names = plan["cookie_names"]
            self.csrftoken = me["csrftoken"]
            self.cookie = f"{names['session']}={me['sessionid']}; {names['csrf']}={me['csrftoken']}"
            self.headers["Cookie"] = self.cookie
            if plan.get("https"):
                self.headers["X-Forwarded-Proto"] = "https"
            self.images = me["images"]
        self.current = self.images[0]
        self.running: dict[str, int] = defaultdict(int)
        self.stopping = False
        self.ws = None
        self.done = False
        if plan.get("ws_url") and self.product:
            self.open_websocket()

    # -- websocket --------------------------------------------------------------------------------------

    def open_websocket(self) -> None:
        header = ["X-Forwarded-Proto: https"] if PLAN.get("https") else []
        t = time.perf_counter()
        try:
            self.ws = websocket.create_connection(
                PLAN["ws_url"], timeout=60, cookie=self.cookie, origin=PLAN["origin"], header=header
            )
        except Exception as error:
            RECORD.ws_errors[f"connect:{type(error).__name__}:{getattr(error, 'status_code', '')}"] += 1
            return
        RECORD.ws_connect_ms.append((time.perf_counter() - t) * 1000)
        RECORD.ws_open += 1
        self.ws.settimeout(None)
        gevent.spawn(self.read_websocket)

    def read_websocket(self) -> None:
        """Drains the live feed (and answers the server's pings: websocket-client does while it reads)."""
        while self.ws is not None:
            try:
                self.ws.recv()
                RECORD.ws_messages += 1
            except Exception as error:
                if not self.stopping:
                    closed = isinstance(error, websocket.WebSocketConnectionClosedException)
                    RECORD.ws_errors["dropped" if closed else f"read:{type(error).__name__}"] += 1
                    RECORD.ws_open -= 1
                return

    def on_stop(self) -> None:
        self.stopping = True
        ws, self.ws = self.ws, None
        if ws is not None:
            with contextlib.suppress(Exception):
                ws.close(timeout=2)

    # -- the timetable ----------------------------------------------------------------------------------

    def gap(self, mean: float, first: bool) -> float:
        if PLAN.get("arrival", "poisson") == "poisson":
            return self.rng.expovariate(1.0 / mean)
        return self.rng.uniform(0, mean) if first else mean

    @task
    def follow_timetable(self) -> None:
        if self.done:
            gevent.sleep(0.5)
            return
        now = time.monotonic()
        due = {"open": now + self.gap(PLAN["open_interval_s"], True)}
        if PLAN.get("save_interval_s"):
            due["save"] = now + self.gap(PLAN["save_interval_s"], True)
        while True:
            kind = min(due, key=due.__getitem__)
            at = due[kind]
            if at >= PLAN["t_end"]:
                break
            gevent.sleep(max(0.0, at - time.monotonic()))
            gevent.spawn(self.act, kind, at)
            due[kind] = at + self.gap(PLAN[f"{kind}_interval_s"], False)
        self.done = True

    def act(self, kind: str, at: float) -> None:
        started = time.monotonic()
        counted = in_window(at)
        if counted:
            late_ms = (started - at) * 1000
            RECORD.lateness_ms.append(late_ms)
            RECORD.late += late_ms > PLAN.get("late_threshold_ms", 100)
            RECORD.overlapping += self.running[kind] > 0
            RECORD.actions[kind] += 1
            RECORD.in_flight += 1
        self.running[kind] += 1
        try:
            (self.open_image if kind == "open" else self.save_mask)(counted)
        finally:
            self.running[kind] -= 1
            if counted:
                RECORD.in_flight -= 1
                RECORD.flow_ms[f"{kind}_action"].append((time.monotonic() - started) * 1000)

    def get(self, path: str, name: str, counted: bool, accept: str) -> None:
        self.client.get(path, name=name, headers={**self.headers, "Accept": accept}, context={"in_window": counted})

    def open_image(self, counted: bool) -> None:
        if not self.product:  # the anchor: only the embedding, from the plan's path
            self.get(PLAN["embedding_path"], "embedding", counted, EMBEDDING_ACCEPT)
            return
        image = self.rng.choice(self.images)
        self.current = image
        base = f"/api/images/{image['id']}/"
        self.get(base, "image_detail", counted, "application/json")
        gevent.joinall(
            [
                gevent.spawn(self.get, base + "file/", "image_file", counted, "*/*"),
                gevent.spawn(
                    self.get, base + "embedding/?encoding=quant8-zlib", "embedding", counted, EMBEDDING_ACCEPT
                ),
            ]
        )

    def save_mask(self, counted: bool) -> None:
        if not self.product:
            return
        image = self.current
        headers = {
            **self.headers,
            "Accept": "application/json",
            "Content-Type": "application/json",
            PLAN["csrf_header"]: self.csrftoken,
            "Origin": PLAN["origin"],
        }
        self.client.post(
            f"/api/images/{image['id']}/masks/",
            data=json.dumps(mask_payload(image)),
            name="save_mask",
            headers=headers,
            context={"in_window": counted},
        )


class Fetcher(_LoadUser):
    """Closed loop: one connection asking for ``PLAN["path"]`` again as soon as the previous answer is in."""

    concurrency = 1
    _numbers = itertools.count()

    def on_start(self) -> None:
        plan = load_plan()
        self.client.client.cookiejar = None
        self.headers = {"Accept": EMBEDDING_ACCEPT}
        number = plan.get("user_offset", 0) + next(Fetcher._numbers)
        me = (plan.get("clinicians") or [None])[number % max(1, len(plan.get("clinicians") or []))]
        self.path = plan["path"]
        if me is not None:  # the product: this clinician's own image
            names = plan["cookie_names"]
            self.headers["Cookie"] = f"{names['session']}={me['sessionid']}; {names['csrf']}={me['csrftoken']}"
            if plan.get("https"):
                self.headers["X-Forwarded-Proto"] = "https"
            self.path = plan["path"].format(image_id=me["images"][0]["id"])

    @task
    def fetch(self) -> None:
        now = time.monotonic()
        if now >= PLAN["t_end"]:
            gevent.sleep(0.2)
            return
        counted = in_window(now)
        if counted:
            RECORD.actions["fetch"] += 1
            RECORD.in_flight += 1
        try:
            self.client.get(self.path, name="embedding", headers=self.headers, context={"in_window": counted})
        finally:
            if counted:
                RECORD.in_flight -= 1
