"""A real Celery worker process against Redis: a job survives its worker being killed."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

from tests.processes import REPO_ROOT, wait_for
from webapp.run import worker_command

pytestmark = pytest.mark.slow

SETUP = """
from pathlib import Path
from django.conf import settings
from django.contrib.auth import get_user_model
from tests.web.jobs_fixtures import make_dataset, make_team, make_tiny_model_version
from webapp.jobs.services import submit_job
user = get_user_model().objects.create_user("worker-test", password="pw-long-enough-9")
team = make_team("Worker team", {user: "trainer"})
dataset = make_dataset(team, Path(settings.MEDIA_ROOT))
version = make_tiny_model_version(team)
job = submit_job(user, team.pk, "finetune", {"dataset": dataset.pk, "model_version": version.pk, "epochs": 30,
                 "batch_size": 1, "early_stopping_patience": 1000})
print("JOB", job.pk)
"""


class Stack:
    """Environment and database access of a throw-away deployment (SQLite or a fresh PostgreSQL database)."""

    def __init__(self, tmp_path: Path):
        self.data_dir = tmp_path / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        self.env.update({"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(self.data_dir), "PYTHONUNBUFFERED": "1"})
        self.pg_url = None
        database_url = os.environ.get("DATABASE_URL", "")
        if database_url.startswith("postgres"):
            import psycopg

            name = f"kdsam_worker_{uuid.uuid4().hex[:8]}"
            with psycopg.connect(database_url, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}"')
            self.admin_url, self.db_name = database_url, name
            self.pg_url = urlunparse(urlparse(database_url)._replace(path=f"/{name}"))
            self.env["DATABASE_URL"] = self.pg_url
        if os.environ.get("REDIS_URL"):
            self.env["REDIS_URL"] = urlunparse(urlparse(os.environ["REDIS_URL"])._replace(path="/12"))
        else:  # the deployment's Redis, as the launcher would run it: up for the whole test, stopped by close()
            from webapp.kdsam_studio import embedded_redis

            self.env["REDIS_URL"] = embedded_redis.ensure_running(self.data_dir)

    def manage(self, *args: str, **kwargs) -> str:
        result = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO_ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            **kwargs,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def job(self, job_id: int) -> dict:
        query = "SELECT state, attempts, history, log_tail, error FROM jobs_job WHERE id = %s"
        if self.pg_url:
            import psycopg

            with psycopg.connect(self.pg_url) as conn:
                row = conn.execute(query, (job_id,)).fetchone()
        else:
            with sqlite3.connect(self.data_dir / "kdsam.sqlite3", timeout=30) as conn:
                row = conn.execute(query.replace("%s", "?"), (job_id,)).fetchone()
        history = row[2] if isinstance(row[2], list) else json.loads(row[2])
        return {"state": row[0], "attempts": row[1], "history": history, "log": row[3], "error": row[4]}

    def start_worker(self, log_name: str) -> subprocess.Popen:
        # The worker writes to its own copy of the descriptor; ours is closed once it has started.
        with open(self.data_dir / log_name, "w") as log:
            return subprocess.Popen(
                worker_command("kdsam-test@%h"),
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def close(self):
        from webapp.kdsam_studio import embedded_redis

        embedded_redis.stop(self.data_dir)
        if self.pg_url:
            import psycopg

            with psycopg.connect(self.admin_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)')


def test_killing_the_worker_mid_job_and_restarting_it_resumes_from_the_checkpoint(tmp_path):
    stack = Stack(tmp_path)
    workers = []
    try:
        stack.manage("migrate", "--noinput")
        output = stack.manage("shell", "-c", SETUP)
        job_id = int(output.split("JOB")[1].split()[0])

        workers.append(stack.start_worker("worker-1.log"))
        killed_after = wait_for(
            lambda: (lambda j: len(j["history"]) if j["state"] == "running" and len(j["history"]) >= 3 else 0)(
                stack.job(job_id)
            ),
            180,
            "three finished epochs",
        )
        os.killpg(workers[0].pid, signal.SIGKILL)
        workers[0].wait(timeout=10)
        assert stack.job(job_id)["state"] == "running"  # orphaned: nobody is running it now

        workers.append(stack.start_worker("worker-2.log"))
        job = wait_for(
            lambda: (lambda j: j if j["state"] in ("succeeded", "failed", "cancelled") else None)(stack.job(job_id)),
            240,
            "the resumed job to finish",
        )
        assert job["state"] == "succeeded", job["error"]
        assert job["attempts"] == 2
        epochs = [entry["epoch"] for entry in job["history"]]
        assert epochs == list(range(1, 31))
        resumed_at = int(job["log"].split("continues at epoch ")[1].split()[0])
        assert killed_after <= resumed_at <= killed_after + 2  # the epoch counter continued, it did not restart
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
        stack.close()
