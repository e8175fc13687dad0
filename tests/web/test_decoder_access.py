"""Who may download a model version's browser decoder (``/segmentation/decoders/<id>/decoder-multimask.onnx``).

The same versions as ``/api/models/<id>/``: deployment-wide published ones, published ones of the user's
teams, every version of the teams where the user trains, and the active one. Any other version is a 404,
like an id that does not exist, and its decoder is never exported for the request.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from tests.web.jobs_fixtures import make_tiny_model_version
from webapp.segmentation.browser_decoder import decoder_path

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def own_media_root(settings, tmp_path):
    """Each test its own MEDIA_ROOT: ids restart after a rolled-back test, so decoder paths would repeat."""
    settings.MEDIA_ROOT = str(tmp_path / "media")


def decoder_url(version) -> str:
    return f"/segmentation/decoders/{version.pk}/decoder-multimask.onnx"


def test_another_teams_draft_decoder_is_a_404_and_is_not_exported(outsider, team):
    draft = make_tiny_model_version(team, state="draft")
    response = outsider.get(decoder_url(draft))
    assert response.status_code == 404
    assert not decoder_path(draft).parent.exists()


def test_another_teams_draft_decoder_gets_the_same_response_as_a_nonexistent_id(outsider, team):
    draft = make_tiny_model_version(team, state="draft")
    hidden = outsider.get(decoder_url(draft))
    missing = outsider.get("/segmentation/decoders/999999/decoder-multimask.onnx")
    assert hidden.status_code == missing.status_code
    assert hidden.content == missing.content


def test_a_user_in_no_team_gets_a_404_for_a_teams_published_decoder(api, team):
    version = make_tiny_model_version(team, state="published")
    response = api.get(decoder_url(version))
    assert response.status_code == 404
    assert not decoder_path(version).parent.exists()


def test_a_trainer_of_the_owning_team_downloads_its_draft_decoder(trainer, team):
    draft = make_tiny_model_version(team, state="draft")
    response = trainer.get(decoder_url(draft))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == decoder_path(draft).read_bytes()


def test_a_member_of_the_owning_team_downloads_its_published_decoder(team_clinician, team):
    version = make_tiny_model_version(team, state="published")
    response = team_clinician.get(decoder_url(version))
    assert response.status_code == 200


def test_any_logged_in_user_downloads_a_deployment_wide_published_decoder(api):
    version = make_tiny_model_version(None, state="published")
    response = api.get(decoder_url(version))
    assert response.status_code == 200


def test_an_anonymous_request_is_sent_to_the_login_page_and_exports_nothing():
    version = make_tiny_model_version(None, state="published")
    response = APIClient().get(decoder_url(version))
    assert response.status_code == 302 and "login" in response["Location"]
    assert not decoder_path(version).parent.exists()
