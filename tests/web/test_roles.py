"""Who may do what (docs/api.md, "Who may do what"): a clinician segments their own images.

Any signed-in user, in a team or not, uploads and segments their own images with a deployment-wide
published model version (or the active one); a team's model versions only for its members. Images
and masks are their owner's alone: anyone else, staff included, gets a 404. Datasets and jobs belong
to teams: a user in no team sees none and may create none.
"""

from __future__ import annotations

import numpy as np
import pytest

from kdsam_core.masks_io import rle_encode
from tests.conftest import SQUARE_JPEG
from tests.web.jobs_fixtures import make_tiny_model_version
from tests.web.test_images_api import _named

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def no_encoder_run(monkeypatch):
    """Who may upload is decided before the embedding is queued: the encoder does not run (fast)."""
    monkeypatch.setattr("webapp.segmentation.services.enqueue_embedding", lambda image: None)


@pytest.fixture
def deployment_version():
    return make_tiny_model_version(None, state="published")


def _upload(client, model_version=None, name="scan.jpg"):
    body = {"file": _named(SQUARE_JPEG.read_bytes(), name)}
    if model_version is not None:
        body["model_version"] = model_version
    return client.post("/api/images/", body, format="multipart")


def _mask_body() -> dict:
    mask = np.zeros((256, 256), bool)
    mask[40:120, 60:90] = True
    return {"label": "lesion", "rle": rle_encode(mask), "prompts": {"points": [[75.0, 80.0, 1]], "box": None}}


# -- a signed-in user in no team ----------------------------------------------------------------


def test_a_user_in_no_team_uploads_an_image_with_the_deployment_wide_version(api, deployment_version):
    response = _upload(api, deployment_version.pk)
    assert response.status_code == 201, response.content
    assert response.json()["model_version"] == deployment_version.pk


def test_a_user_in_no_team_saves_a_mask_on_their_own_image(api, deployment_version):
    image_id = _upload(api, deployment_version.pk).json()["id"]
    response = api.post(f"/api/images/{image_id}/masks/", _mask_body(), format="json")
    assert response.status_code == 201, response.content


def test_a_user_in_no_team_downloads_the_encoder_of_the_deployment_wide_version(api, deployment_version):
    url = api.get(f"/api/privacy/?model_version={deployment_version.pk}").json()["encoder_url"]
    response = api.get(url)
    assert response.status_code == 200
    assert b"".join(response.streaming_content)


def test_a_user_in_no_team_cannot_upload_with_a_teams_version(api, team):
    from webapp.segmentation.models import Image

    version = make_tiny_model_version(team, state="published")
    refused = _upload(api, version.pk)
    assert refused.status_code == 400
    assert (refused.json()["error"]["code"], refused.json()["error"]["field"]) == (
        "unknown_model_version",
        "model_version",
    )
    assert not Image.objects.exists()


def test_a_teams_version_is_refused_to_a_user_in_no_team_like_an_id_that_does_not_exist(api, team):
    version = make_tiny_model_version(team, state="published")
    hidden, missing = _upload(api, version.pk), _upload(api, 999_999)
    assert hidden.status_code == missing.status_code
    assert hidden.json()["error"]["message"].replace(str(version.pk), "N") == missing.json()["error"][
        "message"
    ].replace("999999", "N")


def test_a_user_in_no_team_gets_a_404_for_the_encoder_of_a_teams_version(api, team):
    version = make_tiny_model_version(team, state="published")
    assert api.get(f"/segmentation/encoders/{version.pk}/encoder.onnx").status_code == 404
    assert api.get(f"/api/privacy/?model_version={version.pk}").status_code == 404


def _items(response) -> list:
    body = response.json()
    return body if isinstance(body, list) else body["results"]  # a plain or a paginated list


def test_a_user_in_no_team_sees_no_team_datasets_or_jobs(api, trainer, team):
    from webapp.datasets.models import Dataset

    Dataset.objects.create(
        team=team, name="team data", created_by=trainer.user, split_ratios={"train": 0.8, "val": 0.1, "test": 0.1}
    )
    assert _items(trainer.get("/api/datasets/")) and _items(api.get("/api/datasets/")) == []
    assert _items(api.get("/api/jobs/")) == []


def test_a_user_in_no_team_cannot_start_a_dataset_upload_for_a_team(api, team):
    body = {"team": team.pk, "name": "ds", "filename": "ds.zip", "size": 100}
    assert api.post("/api/datasets/uploads/", body, format="json").status_code == 404


# -- team members -----------------------------------------------------------------------------


def test_a_team_clinician_uploads_with_the_teams_published_version(team_clinician, team):
    version = make_tiny_model_version(team, state="published")
    response = _upload(team_clinician, version.pk)
    assert response.status_code == 201, response.content
    assert response.json()["model_version"] == version.pk


def test_a_team_clinician_may_not_start_a_dataset_upload(team_clinician, team):
    body = {"team": team.pk, "name": "ds", "filename": "ds.zip", "size": 100}
    response = team_clinician.post("/api/datasets/uploads/", body, format="json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"


# -- images and masks are their owner's alone -----------------------------------------------------


@pytest.mark.parametrize("viewer", ["api", "team_clinician", "staff"])
def test_another_users_image_and_its_masks_are_a_404(request, trainer, deployment_version, viewer):
    image_id = _upload(trainer, deployment_version.pk).json()["id"]
    mask_id = trainer.post(f"/api/images/{image_id}/masks/", _mask_body(), format="json").json()["id"]
    client = request.getfixturevalue(viewer)
    for url in (f"/api/images/{image_id}/", f"/api/images/{image_id}/file/", f"/api/images/{image_id}/masks/"):
        assert client.get(url).status_code == 404, url
    assert client.get(f"/api/masks/{mask_id}/").status_code == 404
    assert client.post(f"/api/images/{image_id}/masks/", _mask_body(), format="json").status_code == 404
    assert image_id not in [image["id"] for image in client.get("/api/images/").json()]


def test_an_anonymous_request_may_not_upload():
    from rest_framework.test import APIClient

    assert _upload(APIClient()).status_code == 403
