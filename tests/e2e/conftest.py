"""The real stack for browser tests: `python -m webapp.run` (uvicorn + Celery worker) in a subprocess.

Uses PostgreSQL / Redis when DATABASE_URL / REDIS_URL are set (CI), each test session getting its
own fresh database; otherwise the embedded defaults (SQLite + embedded Redis) in a temp data dir.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.processes import REPO_ROOT, free_port, start_launcher, stop_launcher

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN_PASSWORD = "e2e-" + uuid.uuid4().hex[:16]


@dataclass
class Studio:
    url: str
    username: str
    password: str
    data_dir: Path
    #: the studio's environment (its data dir, and its own database under CI): for management commands on it
    env: dict[str, str] = field(default_factory=dict, repr=False)


def _fresh_postgres_database(database_url: str) -> tuple[str, callable]:
    import psycopg

    name = f"kdsam_e2e_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop():
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return urlunparse(urlparse(database_url)._replace(path=f"/{name}")), drop


@pytest.fixture(scope="session")
def studio(tmp_path_factory) -> Studio:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    if not (REPO_ROOT / "frontend" / "dist" / "index.html").exists():
        pytest.fail("frontend/dist is missing: `make test` builds it (cd frontend && npm ci && npm run build)")
    data_dir = tmp_path_factory.mktemp("studio-data")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(
        {
            "KDSAM_ENV": "development",
            "KDSAM_DATA_DIR": str(data_dir),
            "KDSAM_ADMIN_PASSWORD": ADMIN_PASSWORD,
            "KDSAM_WEIGHTS_DIR": str(data_dir / "weights"),
            "PYTHONUNBUFFERED": "1",
        }
    )
    drop_database = None
    database_url = os.environ.get("DATABASE_URL", "")
    if database_url.startswith("postgres"):
        env["DATABASE_URL"], drop_database = _fresh_postgres_database(database_url)
    if os.environ.get("REDIS_URL"):
        env["REDIS_URL"] = urlunparse(urlparse(os.environ["REDIS_URL"])._replace(path="/13"))
    process = None
    try:
        process = start_launcher(["--port", str(port)], env, data_dir, timeout=180)
        yield Studio(f"http://127.0.0.1:{port}", "admin", ADMIN_PASSWORD, data_dir, env)
    finally:
        if process is not None:
            stop_launcher(process, timeout=30)
        if drop_database:
            drop_database()


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, studio):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: page.console_messages.append(f"pageerror: {error}"))
    yield page
    context.close()


def log_in(page, studio: Studio) -> None:
    page.goto(studio.url + "/")
    page.fill("#id_username", studio.username)
    page.fill("#id_password", studio.password)
    page.click("#login-submit")
    page.wait_for_selector("body[data-app-state=ready]", state="attached", timeout=30_000)
