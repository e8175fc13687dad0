"""KD-SAM Studio's configuration: one typed object read from the environment.

Every setting a deployment can change is a field here; ``settings.py`` only translates this object
into Django's names. Defaults give the embedded configuration (SQLite + an embedded Redis under the
data dir) so that a fresh machine needs nothing but Python.
"""

from __future__ import annotations

import atexit
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigurationError(RuntimeError):
    """A setting is missing or invalid; the message names the environment variable."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r} is not a boolean; use 1/0, true/false, yes/no")


def _choice(env: Mapping[str, str], name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env.get(name) or default
    if value not in choices:
        raise ConfigurationError(f"{name}={value!r}; use one of {', '.join(choices)}")
    return value


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not an integer") from None


def _int_at_least(env: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    value = _int(env, name, default)
    if value < minimum:
        raise ConfigurationError(f"{name}={value} is below {minimum}; use an integer of at least {minimum}")
    return value


def _number_at_least(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    value = env.get(name)
    if value is None or value == "":
        return default
    try:
        number = float(value)
    except ValueError:
        raise ConfigurationError(f"{name}={value!r} is not a number") from None
    if not number >= minimum or number == float("inf"):  # NaN fails the comparison
        raise ConfigurationError(
            f"{name}={value} is below {minimum:g} or not finite; use a number of at least {minimum:g}"
        )
    return number


def _cores() -> int:
    """The CPU cores this process may run on (its affinity, e.g. a container's cpuset), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


#: The largest chunk of a dataset upload, in MB (``webapp/datasets/conf.py``, MAX_CHUNK_BYTES): the request
#: body limit's default admits it.
DATASET_CHUNK_MAX_MB = 64


def _default_max_request_mb(max_upload_mb: int) -> int:
    """The largest request body by default: an image upload or a dataset chunk, plus 1 MB of form fields."""
    return max(max_upload_mb, DATASET_CHUNK_MAX_MB) + 1


def _default_data_dir(environment: str) -> Path:
    """The data dir when ``KDSAM_DATA_DIR`` is unset: ``./data``, or under test a throw-away folder.

    The throw-away folder is removed when the process exits, so test runs (and the workers and commands
    they start) do not leave gigabytes of media in the system temp dir.
    """
    if environment != "test":
        return StudioConfig.data_dir
    path = Path(tempfile.mkdtemp(prefix="kdsam-test-"))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


@dataclass(frozen=True)
class StudioConfig:
    """Everything configurable, with the environment variable that sets each field."""

    environment: str = "development"  #: KDSAM_ENV: development | production | test
    data_dir: Path = REPO_ROOT / "data"  #: KDSAM_DATA_DIR: database, uploads, embeddings, models
    weights_dir: Path = REPO_ROOT / "weights"  #: KDSAM_WEIGHTS_DIR: trained/official weight files
    database_url: str = ""  #: DATABASE_URL; empty → SQLite file in the data dir
    redis_url: str = ""  #: REDIS_URL; empty → embedded Redis under the data dir
    secret_key: str = ""  #: SECRET_KEY; generated and stored in the data dir outside production
    allowed_hosts: tuple[str, ...] = ("localhost", "127.0.0.1", "[::1]")  #: ALLOWED_HOSTS (comma list)
    csrf_trusted_origins: tuple[str, ...] = ()  #: CSRF_TRUSTED_ORIGINS (comma list)
    max_upload_mb: int = 50  #: KDSAM_MAX_UPLOAD_MB
    #: KDSAM_MAX_REQUEST_MB: the largest request body the web server reads (webapp/kdsam_studio/body_limit.py);
    #: a larger one is refused with 413 before it is read (by its Content-Length, or once that many bytes of a
    #: chunked body have arrived). Default: the larger of KDSAM_MAX_UPLOAD_MB and a dataset chunk (64 MB), + 1 MB.
    max_request_mb: int = _default_max_request_mb(50)
    #: KDSAM_WEB_PROCESSES: ASGI server processes of the web tier (webapp/kdsam_studio/web_server.py);
    #: default: one per CPU core. Each serves many connections, but Django runs one view at a time per process.
    web_processes: int = field(default_factory=_cores)
    #: KDSAM_FORWARDED_ALLOW_IPS (comma list): the proxies whose X-Forwarded-For / X-Forwarded-Proto the web
    #: server trusts for the client's address and scheme; "*" trusts every peer (only a proxy can reach it)
    forwarded_allow_ips: tuple[str, ...] = ("127.0.0.1", "::1")
    max_image_pixels: int = 100_000_000  #: KDSAM_MAX_IMAGE_PIXELS (decompression-bomb guard)
    max_dataset_archive_gb: int = 50  #: KDSAM_MAX_DATASET_ARCHIVE_GB: largest dataset upload
    #: KDSAM_MAX_DATASET_UNCOMPRESSED_GB: largest expanded dataset. 20 GB holds the usual public segmentation
    #: sets (a few GB at most) and fits one machine's disk: validation and import each extract the archive
    #: into the data dir, and an import also copies the samples into storage (about twice this while it runs).
    #: Uploads are capped at this size too (webapp/datasets/conf.py): image archives barely compress.
    max_dataset_uncompressed_gb: int = 20
    max_dataset_files: int = 300_000  #: KDSAM_MAX_DATASET_FILES
    #: KDSAM_TEAM_STORAGE_QUOTA_GB: the stored bytes a team may hold (its datasets, its members' images, its model
    #: versions, its unfinished uploads: webapp/datasets/services/quota.py), unless the team has its own quota (Django
    #: admin › Teams). 0 = unlimited; decimals allowed; 1 GB = 1024³ bytes. 100 GB holds five of the largest datasets
    #: (KDSAM_MAX_DATASET_UNCOMPRESSED_GB) and keeps a few teams within one machine's disk.
    team_storage_quota_gb: float = 100
    #: KDSAM_DATASET_IMPORT_ROOTS (":"-separated): server folders staff may import datasets from; empty = none
    dataset_import_roots: tuple[Path, ...] = ()
    #: KDSAM_DATASET_UPLOAD_STALE_HOURS: a dataset upload idle this long in "uploading" is cancelled by
    #: datasets_gc (run at startup and every few hours by webapp.run) and its staged archive deleted
    dataset_upload_stale_hours: int = 24
    #: KDSAM_STUCK_TASK_SECONDS: an image queued/embedding or a dataset upload validating/importing whose task
    #: neither waits in the broker nor shows a worker's heartbeat for this long lost its task (a killed worker, a
    #: restarted Redis) and is queued again by the workers' sweep (webapp/kdsam_studio/stuck_tasks.py), which
    #: runs every half of it; running tasks beat every quarter of it
    stuck_task_seconds: int = 120
    celery_eager: bool = False  #: KDSAM_CELERY_EAGER: run tasks inline (tests)
    torch_threads: int = 0  #: KDSAM_TORCH_THREADS: encoder threads in the worker (0 = all cores)
    #: KDSAM_ENCODER_BACKEND: how the worker runs the KD-SAM student on a CPU: "auto" (the fastest path
    #: measured with masks within IoU 0.99, BENCHMARKS.md "serving paths": "torch-bf16" on CPUs with
    #: native bfloat16, else "onnxruntime"), "onnxruntime" (fp32), "torch" (fp32 eager) or "torch-bf16"
    #: (bf16 autocast + channels_last). With a CUDA GPU it always uses PyTorch (bf16 + channels_last).
    encoder_backend: str = "auto"
    #: KDSAM_PRIVACY_MODE: "off" (images are uploaded), "optional" (each user may embed in the browser)
    #: or "required" (the encoder always runs in the browser; the server refuses image uploads).
    privacy_mode: str = "optional"
    #: KDSAM_SESSION_HOURS: a sign-in lasts this long (counted from sign-in, on the server), and with
    #: KDSAM_SESSION_EXPIRE_AT_BROWSER_CLOSE (default on) the session cookie also goes when the browser closes
    session_hours: int = 12
    session_expire_at_browser_close: bool = True
    #: Sign-in throttling (webapp/accounts/throttling.py), counted in the database so every web process shares it:
    #: KDSAM_LOGIN_MAX_FAILURES wrong passwords for one username (any address), or KDSAM_LOGIN_MAX_FAILURES_PER_IP
    #: from one client address (any username), within KDSAM_LOGIN_FAILURE_WINDOW_MINUTES lock that username or
    #: address for KDSAM_LOGIN_LOCKOUT_MINUTES: every sign-in is then refused (429 + Retry-After), even with the
    #: right password. A limit of 0 turns that count off.
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_failure_window_minutes: int = 15
    login_lockout_minutes: int = 15
    #: KDSAM_FILE_DELIVERY: who sends a stored file's bytes once a view has checked access (webapp/kdsam_studio/
    #: file_delivery.py): "django" (a streamed file response), "x-accel-redirect" (nginx sends the file named by
    #: KDSAM_FILE_DELIVERY_PREFIX + its storage name from an ``internal`` location) or "x-sendfile" (Apache
    #: mod_xsendfile, lighttpd: the header carries the file's absolute path)
    file_delivery: str = "django"
    file_delivery_prefix: str = "/_kdsam_files/"  #: KDSAM_FILE_DELIVERY_PREFIX: nginx's internal location
    extra: dict = field(default_factory=dict)

    @property
    def production(self) -> bool:
        return self.environment == "production"

    @property
    def debug(self) -> bool:
        return self.environment == "development"

    @property
    def max_request_bytes(self) -> int:
        return self.max_request_mb * 1024 * 1024

    @property
    def uses_embedded_redis(self) -> bool:
        """No REDIS_URL outside the test environment (whose unit tests use eager Celery, in-memory channels)."""
        return not self.redis_url and self.environment != "test"

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> StudioConfig:
        # Under pytest the default is the isolated "test" environment with a throw-away data dir.
        environment = env.get("KDSAM_ENV") or ("test" if "pytest" in sys.modules else "development")
        if environment not in ("development", "production", "test"):
            raise ConfigurationError(f"KDSAM_ENV={environment!r}; use development, production or test")
        data_dir = Path(env.get("KDSAM_DATA_DIR") or _default_data_dir(environment)).expanduser().resolve()
        weights_dir = Path(env.get("KDSAM_WEIGHTS_DIR") or cls.weights_dir).expanduser().resolve()
        hosts = tuple(h.strip() for h in env.get("ALLOWED_HOSTS", "").split(",") if h.strip())
        max_upload_mb = _int(env, "KDSAM_MAX_UPLOAD_MB", cls.max_upload_mb)
        proxies = tuple(a.strip() for a in env.get("KDSAM_FORWARDED_ALLOW_IPS", "").split(",") if a.strip())
        origins = tuple(o.strip() for o in env.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip())
        secret_key = env.get("SECRET_KEY", "")
        if not secret_key:
            if environment == "production":
                raise ConfigurationError(
                    "SECRET_KEY must be set in production (KDSAM_ENV=production): generate one with "
                    "python -c 'import secrets; print(secrets.token_urlsafe(64))'"
                )
            secret_key = _stored_secret_key(data_dir)
        if environment == "production" and not hosts:
            raise ConfigurationError("ALLOWED_HOSTS must list the site's host names in production")
        file_delivery_prefix = env.get("KDSAM_FILE_DELIVERY_PREFIX") or cls.file_delivery_prefix
        if not (file_delivery_prefix.startswith("/") and file_delivery_prefix.endswith("/")):
            raise ConfigurationError(
                f"KDSAM_FILE_DELIVERY_PREFIX={file_delivery_prefix!r}; use the proxy's internal location as an "
                "absolute path ending in '/', e.g. /_kdsam_files/"
            )
        return cls(
            environment=environment,
            data_dir=data_dir,
            weights_dir=weights_dir,
            database_url=env.get("DATABASE_URL", ""),
            redis_url=env.get("REDIS_URL", ""),
            secret_key=secret_key,
            allowed_hosts=hosts or cls.allowed_hosts,
            csrf_trusted_origins=origins,
            max_upload_mb=max_upload_mb,
            max_request_mb=_int_at_least(env, "KDSAM_MAX_REQUEST_MB", _default_max_request_mb(max_upload_mb), 1),
            web_processes=_int_at_least(env, "KDSAM_WEB_PROCESSES", _cores(), 1),
            forwarded_allow_ips=proxies or cls.forwarded_allow_ips,
            max_image_pixels=_int(env, "KDSAM_MAX_IMAGE_PIXELS", cls.max_image_pixels),
            max_dataset_archive_gb=_int(env, "KDSAM_MAX_DATASET_ARCHIVE_GB", cls.max_dataset_archive_gb),
            max_dataset_uncompressed_gb=_int(env, "KDSAM_MAX_DATASET_UNCOMPRESSED_GB", cls.max_dataset_uncompressed_gb),
            max_dataset_files=_int(env, "KDSAM_MAX_DATASET_FILES", cls.max_dataset_files),
            team_storage_quota_gb=_number_at_least(env, "KDSAM_TEAM_STORAGE_QUOTA_GB", cls.team_storage_quota_gb, 0),
            dataset_import_roots=tuple(
                Path(p).expanduser().resolve() for p in env.get("KDSAM_DATASET_IMPORT_ROOTS", "").split(":") if p
            ),
            dataset_upload_stale_hours=_int(env, "KDSAM_DATASET_UPLOAD_STALE_HOURS", cls.dataset_upload_stale_hours),
            stuck_task_seconds=_int_at_least(env, "KDSAM_STUCK_TASK_SECONDS", cls.stuck_task_seconds, 4),
            celery_eager=_bool(env, "KDSAM_CELERY_EAGER", False),
            torch_threads=_int(env, "KDSAM_TORCH_THREADS", 0),
            encoder_backend=_choice(
                env, "KDSAM_ENCODER_BACKEND", cls.encoder_backend, ("auto", "onnxruntime", "torch", "torch-bf16")
            ),
            privacy_mode=_choice(env, "KDSAM_PRIVACY_MODE", cls.privacy_mode, ("off", "optional", "required")),
            session_hours=_int_at_least(env, "KDSAM_SESSION_HOURS", cls.session_hours, 1),
            session_expire_at_browser_close=_bool(
                env, "KDSAM_SESSION_EXPIRE_AT_BROWSER_CLOSE", cls.session_expire_at_browser_close
            ),
            login_max_failures=_int_at_least(env, "KDSAM_LOGIN_MAX_FAILURES", cls.login_max_failures, 0),
            login_max_failures_per_ip=_int_at_least(
                env, "KDSAM_LOGIN_MAX_FAILURES_PER_IP", cls.login_max_failures_per_ip, 0
            ),
            login_failure_window_minutes=_int_at_least(
                env, "KDSAM_LOGIN_FAILURE_WINDOW_MINUTES", cls.login_failure_window_minutes, 1
            ),
            login_lockout_minutes=_int_at_least(env, "KDSAM_LOGIN_LOCKOUT_MINUTES", cls.login_lockout_minutes, 1),
            file_delivery=_choice(
                env, "KDSAM_FILE_DELIVERY", cls.file_delivery, ("django", "x-accel-redirect", "x-sendfile")
            ),
            file_delivery_prefix=file_delivery_prefix,
        )


def redis_channel_layer(redis_url: str) -> dict:
    """Channels' Redis layer for ``redis_url``.

    redis-py ≥ 6 reads with a 5 s socket timeout by default, exactly channels_redis' blocking
    BZPOPMIN time, so idle websockets died with ``TimeoutError``; the read timeout must exceed it.
    """
    return {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [{"address": redis_url, "socket_timeout": 30, "socket_connect_timeout": 5}]},
    }


def _stored_secret_key(data_dir: Path) -> str:
    """The development secret key: generated once and kept in ``<data_dir>/secret_key``."""
    path = data_dir / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(64)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process won the race: use its key
        return path.read_text().strip()
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key
