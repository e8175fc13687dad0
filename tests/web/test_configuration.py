"""Configuration: typed, read from the environment, safe in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from webapp.kdsam_studio import embedded_redis
from webapp.kdsam_studio.config import ConfigurationError, StudioConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_defaults_are_the_embedded_configuration(tmp_path):
    config = StudioConfig.from_env({"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(tmp_path)})
    assert config.database_url == "" and config.uses_embedded_redis
    assert config.data_dir == tmp_path.resolve()


def test_development_secret_key_is_generated_once_and_kept(tmp_path):
    env = {"KDSAM_ENV": "development", "KDSAM_DATA_DIR": str(tmp_path)}
    first, second = StudioConfig.from_env(env), StudioConfig.from_env(env)
    assert len(first.secret_key) >= 50 and first.secret_key == second.secret_key
    assert oct((tmp_path / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_production_without_secret_key_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigurationError, match="SECRET_KEY must be set"):
        StudioConfig.from_env({"KDSAM_ENV": "production", "KDSAM_DATA_DIR": str(tmp_path), "ALLOWED_HOSTS": "x"})


def test_invalid_boolean_names_the_variable(tmp_path):
    with pytest.raises(ConfigurationError, match="KDSAM_CELERY_EAGER"):
        StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_CELERY_EAGER": "maybe"})


def test_the_encoder_backend_defaults_to_auto_and_rejects_unknown_names(tmp_path):
    assert StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path)}).encoder_backend == "auto"
    assert (
        StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_ENCODER_BACKEND": "torch-bf16"}).encoder_backend
        == "torch-bf16"
    )
    with pytest.raises(ConfigurationError, match="KDSAM_ENCODER_BACKEND"):
        StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_ENCODER_BACKEND": "tensorrt"})


def test_check_deploy_passes_with_production_settings(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL"))}
    env.update(
        {
            "KDSAM_ENV": "production",
            "KDSAM_DATA_DIR": str(tmp_path),
            "ALLOWED_HOSTS": "kdsam.example.org",
            "SECRET_KEY": "x7F" * 20 + "kq9-Zp2_Lm4",
            "REDIS_URL": "redis://127.0.0.1:6379/0",
            "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        }
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_embedded_redis_starts_once_and_is_shared(tmp_path):
    url = embedded_redis.ensure_running(tmp_path)
    try:
        assert url.startswith("redis://127.0.0.1:")
        assert embedded_redis.ensure_running(tmp_path) == url  # a second process finds the same server
        import redis

        assert redis.Redis.from_url(url).ping()
    finally:
        embedded_redis.stop(tmp_path)


def test_a_test_process_removes_its_throw_away_data_dir_when_it_exits():
    env = {k: v for k, v in os.environ.items() if k not in ("KDSAM_DATA_DIR", "DATABASE_URL", "REDIS_URL")}
    env["KDSAM_ENV"] = "test"
    code = "from webapp.kdsam_studio.config import StudioConfig; print(StudioConfig.from_env().data_dir)"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=120)
    data_dir = out.stdout.strip().splitlines()[-1]
    assert "kdsam-test-" in data_dir and not os.path.exists(data_dir)


def test_a_given_data_dir_creates_no_throw_away_one(tmp_path, monkeypatch):
    import tempfile

    made = []
    monkeypatch.setattr(tempfile, "mkdtemp", lambda *a, **k: made.append(1) or str(tmp_path / "unused"))
    config = StudioConfig.from_env({"KDSAM_ENV": "test", "KDSAM_DATA_DIR": str(tmp_path)})
    assert config.data_dir == tmp_path.resolve() and made == []
