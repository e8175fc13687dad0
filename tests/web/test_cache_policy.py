"""Cache-Control of every response that carries patient data (webapp/kdsam_studio/cache_policy.py).

Nothing with patient data is ever cacheable by a shared cache (a proxy, a CDN): every such response is
``private`` and never ``public``. Bytes that never change under their URL (an image's file and display PNG,
its embedding in every encoding, its DICOM window values, a dataset item's files, a model version's ONNX) stay
in the user's own browser cache, keyed by the session cookie; anything that can change (JSON, mask exports,
job files) is never stored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kdsam_core.masks_io import rle_encode
from tests.dicom_support import dicom_bytes
from tests.web.jobs_fixtures import make_dataset, make_tiny_model_version
from tests.web.test_images_api import upload

pytestmark = pytest.mark.django_db

IMMUTABLE_PRIVATE = "private, max-age=31536000, immutable"


def _dicom() -> bytes:
    stored = np.random.default_rng(0).integers(0, 2000, size=(48, 64)).astype(np.uint16)
    return dicom_bytes(stored, RescaleSlope=1, RescaleIntercept=-1024)


@pytest.fixture
def image(trainer, monkeypatch) -> dict:
    """A DICOM slice (display PNG + window values) with one saved mask; its embedding is not computed."""
    monkeypatch.setattr("webapp.segmentation.services.enqueue_embedding", lambda image: None)
    body = upload(trainer, "slice.dcm", _dicom()).json()
    mask = np.zeros((48, 64), bool)
    mask[10:30, 5:20] = True
    saved = trainer.post(
        f"/api/images/{body['id']}/masks/", {"label": "lesion", "rle": rle_encode(mask)}, format="json"
    )
    return {"image": body["id"], "mask": saved.json()["id"]}


@pytest.fixture
def embedded_image(trainer) -> dict:
    return {"image": upload(trainer, "slice.dcm", _dicom()).json()["id"]}  # eager Celery: embedded on upload


@pytest.fixture
def dataset_item(team, settings) -> dict:
    dataset = make_dataset(team, Path(settings.MEDIA_ROOT))
    return {"dataset": dataset.pk, "item": dataset.items.first().pk}


@pytest.fixture
def job_file(team, trainer) -> dict:
    from webapp.jobs.models import Job
    from webapp.jobs.runners import job_dir

    job = Job.objects.create(
        kind=Job.Kind.EVALUATE,
        team=team,
        owner=trainer.user,
        state=Job.State.SUCCEEDED,
        result={"files": {"report": "report.md"}},
    )
    (job_dir(job) / "report.md").write_text("Dice 0.91 on busi_benign_111\n")
    return {"job": job.pk}


@pytest.fixture
def team_version(team, settings, tmp_path) -> dict:
    # its own MEDIA_ROOT: ids restart after a rolled-back test, so exported model paths would repeat
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return {"version": make_tiny_model_version(team).pk}


@pytest.fixture
def deployment_version() -> dict:
    from webapp.registry.selectors import active_model_version

    return {"version": active_model_version().pk}


#: name → (fixture giving the ids, URL): bytes that never change under their URL
IMMUTABLE = {
    "image file (display PNG)": ("image", "/api/images/{image}/file/"),
    "embedding, raw": ("embedded_image", "/api/images/{image}/embedding/"),
    "embedding, quant8-zlib": ("embedded_image", "/api/images/{image}/embedding/?encoding=quant8-zlib"),
    "DICOM window values": ("image", "/api/images/{image}/pixels/"),
    "dataset item image": ("dataset_item", "/api/datasets/{dataset}/items/{item}/image/"),
    "dataset item mask": ("dataset_item", "/api/datasets/{dataset}/items/{item}/mask/"),
    "dataset item thumbnail": ("dataset_item", "/api/datasets/{dataset}/items/{item}/thumbnail/"),
    "dataset item mask thumbnail": ("dataset_item", "/api/datasets/{dataset}/items/{item}/mask-thumbnail/"),
    "team decoder ONNX": ("team_version", "/models/{version}/decoder.onnx"),
    "team browser decoder ONNX": ("team_version", "/segmentation/decoders/{version}/decoder-multimask.onnx"),
    "team browser encoder ONNX": ("team_version", "/segmentation/encoders/{version}/encoder.onnx"),
    "deployment-wide decoder ONNX": ("deployment_version", "/models/{version}/decoder.onnx"),
}
#: responses whose content can change under the same URL (or that the browser need not keep)
NOT_STORED = {
    "image list": ("image", "/api/images/"),
    "image detail": ("image", "/api/images/{image}/"),
    "mask list": ("image", "/api/images/{image}/masks/"),
    "mask detail": ("image", "/api/masks/{mask}/"),
    "mask export, png": ("image", "/api/masks/{mask}/export/png/"),
    "mask export, nifti": ("image", "/api/masks/{mask}/export/nifti/"),
    "mask export, coco": ("image", "/api/masks/{mask}/export/coco/"),
    "mask export, dicom_seg": ("image", "/api/masks/{mask}/export/dicom_seg/"),
    "COCO export of an image's masks": ("image", "/api/images/{image}/masks/coco/"),
    "dataset item list": ("dataset_item", "/api/datasets/{dataset}/items/"),
    "job file (report)": ("job_file", "/api/jobs/{job}/files/report.md"),
}


def _get(request, trainer, case):
    fixture, url = case
    response = trainer.get(url.format(**request.getfixturevalue(fixture)))
    assert response.status_code == 200, getattr(response, "content", b"")[:300]
    return response


@pytest.mark.parametrize("case", [*IMMUTABLE.values(), *NOT_STORED.values()], ids=[*IMMUTABLE, *NOT_STORED])
def test_patient_data_is_private_and_never_public(request, trainer, case):
    cache_control = _get(request, trainer, case)["Cache-Control"]
    assert "private" in cache_control and "public" not in cache_control


@pytest.mark.parametrize("case", IMMUTABLE.values(), ids=IMMUTABLE)
def test_immutable_files_are_kept_by_the_users_browser_for_their_session_only(request, trainer, case):
    response = _get(request, trainer, case)
    assert response["Cache-Control"] == IMMUTABLE_PRIVATE
    assert "Cookie" in response["Vary"]  # another sign-in in the same browser never gets them from its cache


@pytest.mark.parametrize("case", NOT_STORED.values(), ids=NOT_STORED)
def test_mutable_patient_data_is_never_stored(request, trainer, case):
    assert _get(request, trainer, case)["Cache-Control"] == "private, no-store"


def test_an_error_response_is_not_stored_either(trainer):
    response = trainer.get("/api/images/999999/")
    assert response.status_code == 404 and response["Cache-Control"] == "private, no-store"
