"""One load phase of ``bench.api_load``: Locust as a library, in this process, from a plan file.

    python -m bench.locust_run PLAN.json OUT.json

A process of its own so that gevent's monkey-patching (done by importing locust) stays out of the
orchestrator and of pytest. Timeline: spawn ``users`` at ``spawn_rate`` (each clinician opens its
websocket), ``warmup_s`` more, then the measurement window of ``duration_s``; what was scheduled in the
window is recorded, and the phase ends when those actions are all answered (``drain_s`` at most: what is
still running then is counted as unfinished, an error). The CPU time of the server's process trees
(``server_pids``), of this process and of the whole machine is sampled at the window's start and once the
window's actions are answered. Writes OUT.json: every latency sample of the window, bytes, errors, the
schedule's lateness, websocket figures and the CPU figures (``bench.load_figures`` summarises them; several
processes of one phase, started with the same ``start_wall``, measure the same window).
"""

from __future__ import annotations

import json
import os
import sys
import time

import gevent
import psutil
from locust import events  # before bench.*: importing locust monkey-patches the standard library for gevent
from locust.env import Environment

from bench import locustfile
from bench.load_stack import process_tree_cpu_s


def _loop_lag(samples: list[float], stop_at: float, period: float = 0.05) -> None:
    """How late this process's event loop wakes a greenlet that asked to sleep ``period`` (ms)."""
    while time.monotonic() < stop_at:
        t = time.monotonic()
        gevent.sleep(period)
        samples.append((time.monotonic() - t - period) * 1000)


def _cpu_snapshot(server_pids: list[int]) -> dict:
    machine = psutil.cpu_times()
    me = psutil.Process().cpu_times()
    return {
        "t": time.monotonic(),
        "server": process_tree_cpu_s(server_pids),
        "self": me.user + me.system,
        "machine_busy": sum(machine) - machine.idle - getattr(machine, "iowait", 0.0),
        "machine_total": sum(machine),
        "steal": getattr(machine, "steal", 0.0),
    }


def _cpu_delta(a: dict, b: dict) -> dict:
    common = set(a["server"]) & set(b["server"])
    wall = b["t"] - a["t"]
    total = b["machine_total"] - a["machine_total"]
    return {
        "wall_s": round(wall, 3),
        "server_cpu_s": round(sum(b["server"][p] - a["server"][p] for p in common), 3),
        "server_processes": len(common),
        "server_processes_gone": len(set(a["server"]) - common),
        "load_generator_cpu_s": round(b["self"] - a["self"], 3),
        "machine_busy_fraction": round((b["machine_busy"] - a["machine_busy"]) / total, 3) if total else None,
        "machine_steal_fraction": round((b["steal"] - a["steal"]) / total, 3) if total else None,
    }


def run(plan: dict) -> dict:
    user_class = locustfile.Fetcher if plan["mode"] == "closed" else locustfile.Clinician
    env = Environment(user_classes=[user_class], host=plan["host"], events=events)
    runner = env.create_local_runner()
    users, spawn_rate = plan["users"], plan["spawn_rate"]
    late_start_s = 0.0
    if plan.get("start_wall"):  # several load processes: the same window in each
        late_start_s = max(0.0, time.time() - plan["start_wall"])
        time.sleep(max(0.0, plan["start_wall"] - time.time()))
    t0 = time.monotonic()
    ramp = users / spawn_rate + 1.0
    locustfile.PLAN.update(plan)
    if plan.get("window_start_wall"):
        locustfile.PLAN["t_start"] = t0 + (plan["window_start_wall"] - time.time())
    else:
        locustfile.PLAN["t_start"] = t0 + ramp + plan["warmup_s"]
    locustfile.PLAN["t_end"] = locustfile.PLAN["t_start"] + plan["duration_s"]
    t_start, t_end = locustfile.PLAN["t_start"], locustfile.PLAN["t_end"]
    lag: list[float] = []
    runner.start(users, spawn_rate=spawn_rate)
    gevent.sleep(max(0.0, t_start - time.monotonic()))
    spawned = runner.user_count
    lag_greenlet = gevent.spawn(_loop_lag, lag, t_end)
    before = _cpu_snapshot(plan["server_pids"])
    gevent.sleep(max(0.0, t_end - time.monotonic()))
    drain_deadline = time.monotonic() + plan.get("drain_s", 30)
    while locustfile.RECORD.in_flight > 0 and time.monotonic() < drain_deadline:
        gevent.sleep(0.02)
    after = _cpu_snapshot(plan["server_pids"])
    unfinished = locustfile.RECORD.in_flight
    lag_greenlet.join(timeout=1)
    runner.quit()
    rec = locustfile.RECORD
    errors = dict(rec.errors)
    if unfinished:
        errors["unfinished_after_drain"] = unfinished
    return {
        "users": users,
        "users_spawned_at_window_start": spawned,
        "window_s": round(t_end - t_start, 3),
        "ramp_s": round(ramp, 1),
        "process_started_late_s": round(late_start_s, 2),
        "warmup_s": plan["warmup_s"],
        "latency_ms": dict(rec.latency_ms),
        "flow_ms": dict(rec.flow_ms),
        "lateness_ms": rec.lateness_ms,
        "loop_lag_ms": lag,
        "ok": dict(rec.ok),
        "bytes": dict(rec.bytes),
        "errors": errors,
        "actions": dict(rec.actions),
        "late_starts": rec.late,
        "overlapping_starts": rec.overlapping,
        "websocket": {
            "open_at_end": rec.ws_open,
            "connect_ms": rec.ws_connect_ms,
            "errors": dict(rec.ws_errors),
            "messages": rec.ws_messages,
        }
        if plan.get("ws_url")
        else None,
        "cpu": _cpu_delta(before, after),
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    plan_path, out_path = argv
    with open(plan_path) as f:
        plan = json.load(f)
    result = run(plan)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f)
    os.replace(tmp, out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
