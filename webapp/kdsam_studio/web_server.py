"""The web tier's server process: the command line ``python -m webapp.run`` starts it with."""

from __future__ import annotations

import sys

ASGI_APPLICATION = "webapp.kdsam_studio.asgi:application"


def command(host: str, port: int, python: str = sys.executable) -> list[str]:
    """The argv of the ASGI server serving :data:`ASGI_APPLICATION` on ``host:port``."""
    return [python, "-m", "daphne", "-b", host, "-p", str(port), ASGI_APPLICATION]
