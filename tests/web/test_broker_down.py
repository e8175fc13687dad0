"""When the broker (Redis) refuses connections, queueing work answers 503 and stores nothing half-done.

Celery raises ``kombu.exceptions.OperationalError`` from ``apply_async`` when Redis is down; the tests patch
the task objects the services look up, so the eager test setup still goes through the failure path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from kombu.exceptions import OperationalError
from rest_framework.test import APIClient

from tests.conftest import LANDSCAPE_JPEG
from tests.web.datasets_support import FIXTURE_DATASETS, generic_files, zip_bytes
from tests.web.jobs_fixtures import make_dataset, make_team, make_tiny_model_version
from tests.web.test_images_api import stored_files, upload


def _broker_down(task, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("Error 111 connecting to localhost:6379. Connection refused.")

    monkeypatch.setattr(task, "apply_async", refuse)
    monkeypatch.setattr(task, "delay", refuse)


def _assert_queue_unavailable(response, not_done: str):
    assert response.status_code == 503, response.content
    error = response.json()["error"]
    assert error["code"] == "queue_unavailable"
    assert error["message"].startswith(f"The processing queue is unavailable; {not_done}")
    assert "Try again in a minute" in error["message"] and "worker and Redis" in error["message"]


@pytest.mark.django_db
def test_an_image_upload_while_the_broker_is_down_answers_503_and_stores_nothing(api, monkeypatch):
    from webapp.segmentation.models import Image
    from worker.tasks import embed_image

    _broker_down(embed_image, monkeypatch)
    before = stored_files()

    response = upload(api, "polyp.jpg", LANDSCAPE_JPEG.read_bytes())

    _assert_queue_unavailable(response, "your image was not stored.")
    assert not Image.objects.exists()
    assert stored_files() == before


@pytest.mark.django_db
def test_a_job_submitted_while_the_broker_is_down_answers_503_and_leaves_no_job(django_user_model, monkeypatch):
    from webapp.jobs.models import Job
    from worker.job_tasks import run_job

    user = django_user_model.objects.create_user("trainer-b", password="pw-long-enough-1")
    team = make_team("Team B", {user: "trainer"})
    dataset = make_dataset(team, Path(settings.MEDIA_ROOT))
    version = make_tiny_model_version(team)
    client = APIClient()
    client.force_login(user)
    _broker_down(run_job, monkeypatch)

    response = client.post(
        "/api/jobs/",
        {"team": team.pk, "kind": "finetune", "params": {"dataset": dataset.pk, "model_version": version.pk}},
        format="json",
    )

    _assert_queue_unavailable(response, "your job was not submitted.")
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_the_last_dataset_chunk_sent_while_the_broker_is_down_answers_503_and_can_be_sent_again(
    trainer, team, monkeypatch
):
    from webapp.datasets.models import DatasetUpload
    from worker.dataset_tasks import validate_dataset

    content = zip_bytes(generic_files(2))
    session = trainer.post(
        "/api/datasets/uploads/",
        {"team": team.pk, "name": "ds", "filename": "ds.zip", "size": len(content)},
        format="json",
    ).json()
    half = len(content) // 2
    url = session["upload_url"]
    trainer.put(f"{url}?offset=0", content[:half], content_type="application/octet-stream")
    with monkeypatch.context() as broker_down:
        _broker_down(validate_dataset, broker_down)
        response = trainer.put(f"{url}?offset={half}", content[half:], content_type="application/octet-stream")

    _assert_queue_unavailable(response, "your last chunk was not stored.")
    stored = DatasetUpload.objects.get(pk=session["id"])
    assert stored.state == "uploading" and stored.upload_received == half and stored.task_id == ""
    # the broker is back: the same chunk is accepted and validated
    retried = trainer.put(f"{url}?offset={half}", content[half:], content_type="application/octet-stream")
    assert retried.status_code == 200, retried.content
    assert retried.json()["state"] == "awaiting_confirmation", retried.json()


@pytest.mark.django_db
def test_a_folder_import_started_while_the_broker_is_down_answers_503_and_leaves_no_session(staff, team, monkeypatch):
    from webapp.datasets.models import DatasetUpload
    from worker.dataset_tasks import validate_dataset

    _broker_down(validate_dataset, monkeypatch)

    response = staff.post(
        "/api/datasets/import-folder/", {"team": team.pk, "path": str(FIXTURE_DATASETS / "busi")}, format="json"
    )

    _assert_queue_unavailable(response, "the import was not started.")
    assert not DatasetUpload.objects.exists()
