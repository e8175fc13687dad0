"""The active model version and its decoder file."""

from __future__ import annotations

import hashlib

import onnxruntime as ort
import pytest

pytestmark = pytest.mark.django_db


def test_active_model_says_weights_are_random_and_shows_a_banner(api):
    body = api.get("/api/models/active/").json()
    assert body["weights"] == "random"
    assert "randomly initialised" in body["banner"] and "kdsam.pt" in body["banner"]
    assert body["image_size"] == 1024 and body["parameters"]["total"] > 20_000_000


def test_decoder_onnx_is_served_immutable_with_cross_origin_isolation_headers(api, tmp_path):
    body = api.get("/api/models/active/").json()
    response = api.get(body["decoder_onnx_url"])
    assert response.status_code == 200
    content = b"".join(response.streaming_content)
    assert hashlib.sha256(content).hexdigest() == body["decoder_sha256"]
    assert "immutable" in response["Cache-Control"]
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    (tmp_path / "d.onnx").write_bytes(content)
    names = [i.name for i in ort.InferenceSession(str(tmp_path / "d.onnx")).get_inputs()]
    assert names == ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]


def test_trained_weights_in_the_weights_dir_replace_the_random_model(settings, tmp_path):
    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling import build_kdsam
    from kdsam_core.modeling.checkpoint import save_kdsam
    from webapp.registry.services import ensure_active_model_version

    settings.STUDIO = type(settings.STUDIO)(**{**settings.STUDIO.__dict__, "weights_dir": tmp_path})
    save_kdsam(build_kdsam(KDSamConfig.tiny(), seed=5), tmp_path / "kdsam.pt", {"teacher": "vit_b"})
    version = ensure_active_model_version()
    assert version.weights == "trained" and version.is_active and version.image_size == 256
    assert ensure_active_model_version().pk == version.pk  # unchanged file: same version


def test_a_broken_weights_file_is_reported_by_name_and_the_current_model_stays(settings, tmp_path, api):
    from webapp.registry.selectors import active_model_version

    before = active_model_version()
    settings.STUDIO = type(settings.STUDIO)(**{**settings.STUDIO.__dict__, "weights_dir": tmp_path})
    (tmp_path / "kdsam.pt").write_bytes(b"not a checkpoint")
    response = api.get("/api/models/active/")
    assert response.status_code == 503
    assert str(tmp_path / "kdsam.pt") in response.json()["error"]["message"]
    assert active_model_version() == before
