"""API under load: 10, 50 and 100 concurrent simulated clinicians on loopback against the real server.

Each simulated clinician loops: open an image (``GET /api/images/{id}/`` + its file), fetch its
embedding (``GET /api/images/{id}/embedding/``, ~2 MiB KDEM) and save a mask
(``POST /api/images/{id}/masks/``). Load generator: stdlib threads with one keep-alive
``http.client`` connection each (no extra package; it shares the 2 cores with the server, so
figures are a lower bound for the server alone). Then a burst of concurrent uploads checks that
embedding requests queue (201 + ``queue_position``) instead of failing.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import defaultdict

from bench.common import Result, parser, summarize
from bench.studio import Studio, distinct_png

NAME = "api_load"


def _mask_payload(image: dict) -> dict:
    h, w = image["height"], image["width"]
    total = h * w
    inside = total // 5
    return {
        "label": "bench",
        "color": "#1e90ff",
        "rle": {"size": [h, w], "counts": [total - inside - total // 3, inside, total // 3]},
        "prompts": {"points": [[w / 2, h / 2, 1]], "box": None},
    }


def run_level(base_client, images: list[dict], users: int, duration: float) -> dict:
    stop = time.monotonic() + duration
    lock = threading.Lock()
    lat = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    flows = [0]

    def user(index: int) -> None:
        client = base_client.clone()
        i = index
        while time.monotonic() < stop:
            image = images[i % len(images)]
            i += 1
            steps = (
                ("open", "GET", f"/api/images/{image['id']}/", None),
                ("file", "GET", f"/api/images/{image['id']}/file/", None),
                ("embedding", "GET", f"/api/images/{image['id']}/embedding/", None),
                ("save_mask", "POST", f"/api/images/{image['id']}/masks/", _mask_payload(image)),
            )
            t_flow = time.perf_counter()
            ok = True
            for name, method, path, payload in steps:
                t = time.perf_counter()
                try:
                    if payload is None:
                        status, _ = client.request(method, path)
                    else:
                        status, _ = client.post_json(path, payload)
                except Exception as error:
                    status = type(error).__name__
                dt = time.perf_counter() - t
                with lock:
                    lat[name].append(dt)
                    if status not in (200, 201):
                        errors[f"{name}:{status}"] += 1
                        ok = False
            with lock:
                lat["flow"].append(time.perf_counter() - t_flow)
                flows[0] += ok

    t0 = time.perf_counter()
    threads = [threading.Thread(target=user, args=(k,), daemon=True) for k in range(users)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=duration + 180)
    elapsed = time.perf_counter() - t0
    requests = sum(len(v) for k, v in lat.items() if k != "flow")
    return {
        "users": users,
        "duration_s": round(elapsed, 1),
        "requests": requests,
        "requests_per_s": round(requests / elapsed, 1),
        "flows_per_s": round(len(lat["flow"]) / elapsed, 2),
        "errors": dict(errors),
        "error_count": sum(errors.values()),
        "latency": {k: summarize(v) for k, v in lat.items()},
    }


def main(argv=None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--users", type=int, nargs="*", default=None)
    p.add_argument("--duration", type=float, default=None)
    args = p.parse_args(argv)
    users = args.users or ([2] if args.tiny else [10, 50, 100])
    duration = args.duration or (3.0 if args.tiny else (8.0 if args.quick else 15.0))
    burst = 3 if args.tiny else 12
    res = Result(
        NAME,
        args,
        "API under load (simulated clinicians on loopback)",
        __doc__.split("\n\n", 1)[1].replace("\n", " ").strip()
        + f" {duration:.0f} s per level, all clinicians logged in as the same user.",
    )
    with Studio(threads=args.threads) as studio:
        client = studio.client()
        images = []
        for i in range(2 if args.tiny else 4):
            status, image = client.upload(f"bench-{i}.png", distinct_png(i))
            if status != 201:
                raise RuntimeError(f"upload failed: HTTP {status} {image}")
            images.append(image)
        images = [client.wait_ready(im["id"]) for im in images]
        levels = []
        for n in users:
            print(f"bench.api_load: {n} users", flush=True)
            levels.append(run_level(client, images, n, duration))
        res["levels"] = levels
        # burst of uploads: each must be accepted and queued, with a visible position
        results, lock = [], threading.Lock()

        def up(k):
            c = client.clone()
            t = time.perf_counter()
            status, body = c.upload(f"burst-{k}.png", distinct_png(100 + k))
            dt = time.perf_counter() - t
            _, detail = c.get_json(f"/api/images/{body['id']}/") if status == 201 and body else (None, None)
            with lock:
                results.append(
                    {
                        "status": status,
                        "upload_s": dt,
                        "queue_position": (detail or {}).get("queue_position"),
                        "state": (detail or {}).get("status"),
                    }
                )

        ts = [threading.Thread(target=up, args=(k,)) for k in range(burst)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        positions = sorted(r["queue_position"] for r in results if r["queue_position"] is not None)
        res["upload_burst"] = {
            "uploads": burst,
            "accepted": sum(r["status"] == 201 for r in results),
            "failed": [r for r in results if r["status"] != 201],
            "queue_positions_seen": positions,
            "states": sorted({str(r["state"]) for r in results}),
            "upload_latency": summarize([r["upload_s"] for r in results]),
        }
    res.note("Save mask uses POST /api/images/{id}/masks/ (RLE); every flow saves a new mask.")
    res.save()
    return 0


if __name__ == "__main__":
    sys.exit(main())
