"""Work whose task was lost is queued again: the heartbeat of running tasks and the stuck-task sweep.

*Pending* rows wait for a task: an image ``queued``/``embedding`` (``worker.tasks.embed_image``), a dataset
upload session ``validating``/``importing`` (``worker.dataset_tasks.*``). Two things lose their task:

* a worker killed mid-task (SIGKILL, OOM, a lost machine): the message was delivered (``acks_late``) and
  Redis only hands it out again after its visibility timeout (an hour);
* Redis restarted: the embedded one keeps nothing on disk, so every message waiting in it is gone.

A pending row's task is **live** while

* its message waits in a broker queue (the ``gpu``/``cpu`` lists, every priority), or was delivered to a
  worker less than ``KDSAM_STUCK_TASK_SECONDS`` ago (Redis' ``unacked`` index), or
* a worker runs it: :func:`_start_heartbeat` (Celery's ``task_prerun``) touches the row's ``updated_at`` at
  once and then every quarter of ``KDSAM_STUCK_TASK_SECONDS`` until ``task_postrun``. ``updated_at`` is also
  set when the row is created or changes state, so a row just uploaded counts as alive.

A pending row with neither for ``KDSAM_STUCK_TASK_SECONDS`` (120 s) is **stuck**: :func:`sweep` queues it
again (``requeue_embedding`` / ``requeue_upload``). Each requeue is one conditional ``UPDATE`` that matches
only while the row still has the state and ``updated_at`` the sweep read, so of several sweeps (workers,
hosts) that saw the same row exactly one enqueues, and the requeue itself refreshes ``updated_at`` (the next
sweep leaves it alone for another period). The tasks are idempotent (a ready image or a settled session is
skipped), so the original message, if Redis hands it out again later, does no harm.

**Where it runs: in every Celery worker** (``CELERY_IMPORTS`` loads this module; ``worker_ready`` starts a
daemon thread that sweeps at once and then every half of ``KDSAM_STUCK_TASK_SECONDS``). Workers are the
one process every deployment has wherever lost work could run again (``make run``, compose, systemd, a
worker on another machine), they reach the broker and the database, and without a worker nothing could be
embedded anyway; no timer unit, beat process or launcher is needed. The sweep is a few indexed queries and
a read of the queues, so one per worker per minute costs nothing. While the broker cannot be read the sweep
requeues nothing (it could not enqueue either). Jobs have their own heartbeat and recovery
(``webapp.jobs.services.recover_orphaned_jobs``).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import timedelta

from celery.signals import task_postrun, task_prerun, worker_ready, worker_shutdown
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

from webapp.datasets.models import DatasetUpload
from webapp.datasets.services.queueing import PENDING_STATES, requeue_upload
from webapp.kdsam_studio import queues
from webapp.kdsam_studio.broker_errors import BROKER_ERRORS
from webapp.segmentation.models import Image
from webapp.segmentation.services import PENDING_STATUSES, requeue_embedding

log = logging.getLogger(__name__)

#: task name → the pending rows its first argument names (only those are touched by the heartbeat)
_ROWS_OF_TASK = {
    "worker.tasks.embed_image": lambda pk: Image.objects.filter(pk=pk, status__in=PENDING_STATUSES),
    "worker.dataset_tasks.validate_dataset": lambda pk: DatasetUpload.objects.filter(pk=pk, state__in=PENDING_STATES),
    "worker.dataset_tasks.import_dataset": lambda pk: DatasetUpload.objects.filter(pk=pk, state__in=PENDING_STATES),
}


def stuck_after() -> timedelta:
    return timedelta(seconds=settings.STUDIO.stuck_task_seconds)


# -- heartbeat: a running task keeps its row alive --------------------------------------------------------


class _Heartbeat(threading.Thread):
    def __init__(self, touch: Callable[[], None], interval: float):
        super().__init__(name="task-heartbeat", daemon=True)
        self.touch, self.interval = touch, interval
        self._stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self._stopped.wait(self.interval):
                self.touch()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stopped.set()
        self.join(timeout=5)


_heartbeats: dict[str, _Heartbeat] = {}


def _toucher(task_name: str, args) -> Callable[[], None] | None:
    rows_of = _ROWS_OF_TASK.get(task_name)
    if rows_of is None or not args:
        return None
    pk = args[0]

    def touch() -> None:
        try:
            rows_of(pk).update(updated_at=timezone.now())
        except DatabaseError:  # a locked SQLite file, a database restart: the next beat tries again
            log.warning("heartbeat of %s(%s) could not be written", task_name, pk, exc_info=True)

    return touch


@task_prerun.connect
def _start_heartbeat(task_id=None, task=None, args=None, **_):
    touch = _toucher(getattr(task, "name", ""), args)
    if touch is None or task_id is None:
        return
    touch()  # at once: the row shows life before the task's first write
    beat = _Heartbeat(touch, settings.STUDIO.stuck_task_seconds / 4)
    _heartbeats[task_id] = beat
    beat.start()


@task_postrun.connect
def _stop_heartbeat(task_id=None, **_):
    beat = _heartbeats.pop(task_id, None)
    if beat is not None:
        beat.stop()


# -- what the broker holds --------------------------------------------------------------------------------


def _task_id(message: dict) -> str | None:
    headers = message.get("headers") or {}
    return headers.get("id") or (message.get("properties") or {}).get("correlation_id")


def waiting_task_ids(app=None) -> set[str] | None:
    """Ids of the tasks whose message waits in a queue or was delivered less than :func:`stuck_after` ago.

    ``None`` when the broker cannot be read (Redis down) or is not Redis (the unit tests' ``memory://``).
    """
    if app is None:
        from worker.celery_app import app
    try:
        with app.connection_for_read() as broker:
            broker.ensure_connection(max_retries=1, interval_start=0, interval_step=0.2, timeout=5)
            channel = broker.default_channel
            client = getattr(channel, "client", None)
            if client is None or not hasattr(channel, "_q_for_pri"):
                return None
            raw_messages = []
            for queue in (queues.GPU, queues.CPU):
                for priority in channel.priority_steps:
                    raw_messages.extend(client.lrange(channel._q_for_pri(queue, priority), 0, -1))
            since = (timezone.now() - stuck_after()).timestamp()
            tags = client.zrangebyscore(channel.unacked_index_key, since, "+inf")
            delivered = [raw for raw in (client.hmget(channel.unacked_key, tags) if tags else []) if raw]
    except Exception as error:  # OperationalError, redis' ConnectionError, a timeout
        log.warning("stuck-task sweep: the broker cannot be read (%s: %s)", type(error).__name__, error)
        return None
    ids = set()
    for raw, unwrap in [(m, False) for m in raw_messages] + [(m, True) for m in delivered]:
        try:
            message = json.loads(raw)
            task_id = _task_id(message[0] if unwrap else message)
        except (ValueError, TypeError, KeyError, IndexError, AttributeError):
            continue
        if task_id:
            ids.add(task_id)
    return ids


# -- the sweep --------------------------------------------------------------------------------------------


def sweep(*, waiting: set[str] | None = None) -> dict[str, int]:
    """Queue again every pending image and upload session whose task is not live; returns how many of each.

    ``waiting``: the live task ids of the broker (default: :func:`waiting_task_ids`; read before the rows, so a
    message taken by a worker meanwhile is caught by its heartbeat and the conditional update).
    """
    counts = {"images": 0, "dataset_uploads": 0}
    if waiting is None:
        waiting = waiting_task_ids()
        if waiting is None:
            return counts
    stale = timezone.now() - stuck_after()
    try:
        images = Image.objects.filter(status__in=PENDING_STATUSES, updated_at__lt=stale)
        for pk, task_id, seen in images.values_list("pk", "task_id", "updated_at"):
            if task_id not in waiting and requeue_embedding(pk, seen):
                log.warning("image %s had no live embedding task (%s); queued it again", pk, task_id or "none")
                counts["images"] += 1
        uploads = DatasetUpload.objects.filter(state__in=PENDING_STATES, updated_at__lt=stale)
        for pk, state, task_id, seen in uploads.values_list("pk", "state", "task_id", "updated_at"):
            if task_id not in waiting and requeue_upload(pk, state, seen):
                log.warning("dataset upload %s (%s) had no live task (%s); queued it again", pk, state, task_id)
                counts["dataset_uploads"] += 1
    except BROKER_ERRORS as error:  # the row stays queued without a task: the next sweep retries it
        log.warning("stuck-task sweep stopped: the broker refused a message (%s)", error)
    return counts


class Sweeper(threading.Thread):
    """Runs :func:`sweep` now and then every ``interval`` seconds until :meth:`stop`; never raises."""

    def __init__(self, interval: float):
        super().__init__(name="stuck-task-sweep", daemon=True)
        self.interval = interval
        self._stopped = threading.Event()

    def run(self) -> None:
        while True:
            try:
                counts = sweep()
                if any(counts.values()):
                    log.warning("stuck-task sweep queued again: %s", counts)
            except Exception:
                log.exception("stuck-task sweep failed")
            finally:
                close_old_connections()
                connection.close()
            if self._stopped.wait(self.interval):
                return

    def stop(self) -> None:
        self._stopped.set()


_sweeper: Sweeper | None = None


@worker_ready.connect
def _start_sweeper(**_):
    global _sweeper
    if _sweeper is None:
        _sweeper = Sweeper(settings.STUDIO.stuck_task_seconds / 2)
        _sweeper.start()


@worker_shutdown.connect
def _stop_sweeper(**_):
    if _sweeper is not None:
        _sweeper.stop()
