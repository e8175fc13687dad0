"""The figures of one load phase of ``bench.api_load`` from what its load process(es) recorded (``bench.locust_run``).

Several processes of one phase measured the same window: their samples are pooled before the percentiles are
taken, their counts added; the server's CPU and the machine's are taken from the first process (every process
sampled the same server over the same window), the load generator's CPU is the sum of theirs.
"""

from __future__ import annotations

from collections import defaultdict

from bench.common import summarize


def _pool_lists(parts: list[dict], key: str) -> dict[str, list[float]]:
    out: dict[str, list[float]] = defaultdict(list)
    for part in parts:
        for name, values in (part.get(key) or {}).items():
            out[name].extend(values)
    return dict(out)


def _add_counts(parts: list[dict], key: str) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for part in parts:
        for name, value in (part.get(key) or {}).items():
            out[name] += value
    return dict(out)


def _ms(values: list[float]) -> dict:
    return summarize([v / 1000 for v in values])


def combine(parts: list[dict], late_threshold_ms: float | None = None) -> dict:
    """One phase's summary: requests/s, per-endpoint latency percentiles, errors, schedule, websocket, CPU."""
    first = parts[0]
    window = first["window_s"]
    latency = _pool_lists(parts, "latency_ms")
    ok, nbytes = _add_counts(parts, "ok"), _add_counts(parts, "bytes")
    errors = _add_counts(parts, "errors")
    requests = sum(len(v) for v in latency.values())
    ok_requests = sum(ok.values())
    ws_parts = [p["websocket"] for p in parts if p.get("websocket")]
    ws_errors = _add_counts(ws_parts, "errors") if ws_parts else {}
    cpu = dict(first["cpu"])
    cpu["load_generator_cpu_s"] = round(sum(p["cpu"]["load_generator_cpu_s"] for p in parts), 3)
    cpu["server_cpu_ms_per_request"] = round(1000 * cpu["server_cpu_s"] / ok_requests, 3) if ok_requests else None
    cpu["load_generator_cpu_fraction"] = (
        round(cpu["load_generator_cpu_s"] / cpu["wall_s"], 3) if cpu.get("wall_s") else None
    )
    return {
        "users": sum(p["users"] for p in parts),
        "load_processes": len(parts),
        "users_spawned_at_window_start": sum(p["users_spawned_at_window_start"] for p in parts),
        "window_s": window,
        "ramp_s": max(p["ramp_s"] for p in parts),
        "process_started_late_s": max(p.get("process_started_late_s", 0.0) for p in parts),
        "warmup_s": first["warmup_s"],
        "requests": requests,
        "requests_per_s": round(requests / window, 2),
        "ok_requests": ok_requests,
        "actions": _add_counts(parts, "actions"),
        "endpoints": {
            name: {
                **_ms(times),
                "ok": ok.get(name, 0),
                "per_s": round(len(times) / window, 2),
                "bytes_per_s": round(nbytes.get(name, 0) / window),
                "mean_bytes": round(nbytes[name] / ok[name]) if ok.get(name) else None,
            }
            for name, times in sorted(latency.items())
        },
        "flows": {name: _ms(times) for name, times in sorted(_pool_lists(parts, "flow_ms").items())},
        "errors": errors,
        "error_count": sum(errors.values()) + sum(ws_errors.values()),
        "schedule": {
            "late_threshold_ms": late_threshold_ms,
            "late_starts": sum(p["late_starts"] for p in parts),
            "overlapping_starts": sum(p["overlapping_starts"] for p in parts),
            "lateness": _ms([v for p in parts for v in p["lateness_ms"]]),
            "event_loop_lag": _ms([v for p in parts for v in p["loop_lag_ms"]]),
        },
        "websocket": {
            "open_at_end": sum(w["open_at_end"] for w in ws_parts),
            "connect": _ms([v for w in ws_parts for v in w["connect_ms"]]),
            "errors": ws_errors,
            "messages": sum(w["messages"] for w in ws_parts),
        }
        if ws_parts
        else None,
        "cpu": cpu,
    }
