"""Privacy mode: the deployment setting, the browser encoder endpoint, and refused uploads."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from tests.conftest import LANDSCAPE_JPEG
from tests.web.jobs_fixtures import make_team, make_tiny_model_version

pytestmark = pytest.mark.django_db


def _onnx(response) -> bytes:
    assert response.status_code == 200, response.content[:300]
    return b"".join(response.streaming_content)


def test_privacy_config_defaults_to_optional_with_the_active_encoder(api):
    body = api.get("/api/privacy/").json()
    assert body["mode"] == "optional" and body["uploads_allowed"] is True
    assert body["encoder_url"].startswith(f"/segmentation/encoders/{body['model_version']}/encoder.onnx")
    assert body["encoder_version"].startswith(f"{body['model_version']}-")
    assert body["browser_formats"] == ["png", "jpeg", "bmp"]


def test_team_member_gets_a_valid_immutable_encoder_onnx_and_other_teams_get_404(
    api, clinician, django_user_model, tmp_path
):
    team = make_team("Radiology", {clinician: "clinician"})
    version = make_tiny_model_version(team=team)
    url = api.get(f"/api/privacy/?model_version={version.pk}").json()["encoder_url"]
    response = api.get(url)
    content = _onnx(response)
    assert "immutable" in response["Cache-Control"] and response["ETag"]
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
    session = ort.InferenceSession(content, providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["image"]
    size = version.image_size
    (out,) = session.run(None, {"image": np.zeros((1, 3, size, size), np.float32)})
    assert out.shape[:2] == (1, 256)

    outsider = django_user_model.objects.create_user("outsider", password="a-long-password-2")
    make_team("Dermatology", {outsider: "clinician"})
    from rest_framework.test import APIClient

    other = APIClient()
    other.force_login(outsider)
    assert other.get(url).status_code == 404
    assert other.get(f"/api/privacy/?model_version={version.pk}").status_code == 404
    assert APIClient().get(url).status_code in (302, 403)  # logged out: to the login page


def test_privacy_mode_required_refuses_uploads_and_off_hides_the_encoder(api, settings):
    import dataclasses

    settings.STUDIO = dataclasses.replace(settings.STUDIO, privacy_mode="required")
    body = api.get("/api/privacy/").json()
    assert body["mode"] == "required" and body["uploads_allowed"] is False
    with open(LANDSCAPE_JPEG, "rb") as f:
        response = api.post("/api/images/", {"file": f}, format="multipart")
    assert response.status_code == 403 and response.json()["error"]["code"] == "privacy_mode_required"

    settings.STUDIO = dataclasses.replace(settings.STUDIO, privacy_mode="off")
    body = api.get("/api/privacy/").json()
    assert body["mode"] == "off" and body["encoder_url"] is None
    assert api.get(f"/segmentation/encoders/{body['model_version'] or 1}/encoder.onnx").status_code == 404
