"""The web tier's server process: uvicorn, as ``python -m webapp.run`` and the Docker image start it.

    python -m webapp.kdsam_studio.web_server [--host 0.0.0.0] [--port 8000]

Why uvicorn (issue #17): daphne's Twisted request parsing read a whole multipart body into memory,
and parsed it on the reactor thread, before Django saw the request: 100 MB sent to the sign-in page grew
the server by about 1 GB and held every other request for seconds. uvicorn hands the body to the
application as it arrives (with flow control: it stops reading the socket while the application is
behind), so Django spools it to a temporary file, and the body limit (``body_limit.py``) can refuse it
before it is read. It serves the Channels websockets too (the ``websockets`` package), runs
``KDSAM_WEB_PROCESSES`` processes behind one port (``--workers``, restarted if one dies), and takes the
client's address and scheme from ``X-Forwarded-For`` / ``X-Forwarded-Proto`` of the proxies in
``KDSAM_FORWARDED_ALLOW_IPS`` only.
"""

from __future__ import annotations

import argparse
import os
import sys

ASGI_APPLICATION = "webapp.kdsam_studio.asgi:application"
#: Seconds a stopping process waits for open connections (websockets) before closing them; the launcher
#: waits 10 s for its children before it kills them.
GRACEFUL_SHUTDOWN_S = 5


def command(
    host: str,
    port: int,
    python: str = sys.executable,
    *,
    processes: int | None = None,
    forwarded_allow_ips: tuple[str, ...] | None = None,
) -> list[str]:
    """The argv of the ASGI server serving :data:`ASGI_APPLICATION` on ``host:port``.

    ``processes`` and ``forwarded_allow_ips`` default to ``KDSAM_WEB_PROCESSES`` and
    ``KDSAM_FORWARDED_ALLOW_IPS`` of the settings (``StudioConfig``).
    """
    if processes is None or forwarded_allow_ips is None:
        from django.conf import settings

        config = settings.STUDIO
        processes = config.web_processes if processes is None else processes
        forwarded_allow_ips = config.forwarded_allow_ips if forwarded_allow_ips is None else forwarded_allow_ips
    return [
        python,
        "-m",
        "uvicorn",
        ASGI_APPLICATION,
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        str(processes),
        "--http",
        "httptools",
        "--ws",
        "websockets-sansio",
        "--lifespan",
        "off",  # Channels' router has no lifespan handler
        "--proxy-headers",
        "--forwarded-allow-ips",
        ",".join(forwarded_allow_ips),
        "--timeout-graceful-shutdown",
        str(GRACEFUL_SHUTDOWN_S),
        "--no-server-header",
    ]


def main(argv: list[str] | None = None) -> None:
    """Replace this process with the web server (the Docker image's command; migrations run elsewhere)."""
    parser = argparse.ArgumentParser(description="Run KD-SAM Studio's web server (uvicorn).")
    parser.add_argument("--host", default=os.environ.get("KDSAM_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("KDSAM_PORT", "8000")))
    args = parser.parse_args(argv)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.kdsam_studio.settings")
    argv = command(args.host, args.port)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()
