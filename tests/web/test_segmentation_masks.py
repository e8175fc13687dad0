"""Saving labelled masks and exporting them, each export read back by its format's standard reader."""

from __future__ import annotations

import gzip
import io
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image as PILImage
from pycocotools import mask as mask_utils

from kdsam_core.masks_io import rle_decode, rle_encode
from tests.conftest import SQUARE_JPEG
from tests.web.test_images_api import _named, upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def image(api, monkeypatch):
    """A 256×256 image; its embedding is not needed to store masks, so none is computed (fast)."""
    monkeypatch.setattr("webapp.segmentation.services.enqueue_embedding", lambda image: None)
    return upload(api, "lesion.jpg", SQUARE_JPEG.read_bytes()).json()


def lesion_mask(height=256, width=256) -> np.ndarray:
    mask = np.zeros((height, width), bool)
    mask[40:120, 60:90] = True  # deliberately not symmetric: catches transposes
    mask[200:210, 10:250] = True
    return mask


def save(api, image, mask, label="lesion A", color="#ff0000", prompts=None):
    body = {
        "label": label,
        "color": color,
        "rle": rle_encode(mask),
        "prompts": prompts or {"points": [[75.0, 80.0, 1]], "box": None},
    }
    return api.post(f"/api/images/{image['id']}/masks/", body, format="json")


def test_saved_mask_keeps_prompts_model_version_author_and_time_and_round_trips(api, image, clinician):
    mask = lesion_mask()
    response = save(api, image, mask, prompts={"points": [[75.0, 80.0, 1], [5.0, 5.0, 0]], "box": [50, 30, 100, 130]})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["label"] == "lesion A" and body["color"] == "#ff0000" and body["author"] == "clinician"
    assert body["model_version"] == image["model_version"] and body["area"] == int(mask.sum()) and body["created_at"]
    assert body["prompts"] == {"points": [[75.0, 80.0, 1.0], [5.0, 5.0, 0.0]], "box": [50.0, 30.0, 100.0, 130.0]}
    again = api.get(f"/api/images/{image['id']}/masks/").json()
    assert [m["id"] for m in again] == [body["id"]]
    assert np.array_equal(rle_decode(again[0]["rle"]), mask)
    assert api.get(f"/api/images/{image['id']}/").json()["mask_count"] == 1


def test_several_labelled_objects_per_image_and_update_and_delete(api, image):
    a = save(api, image, lesion_mask(), "lesion A", "#ff0000").json()
    second = np.zeros((256, 256), bool)
    second[5:9, 5:9] = True
    b = save(api, image, second, "lesion B", "#00ff00").json()
    listed = api.get(f"/api/images/{image['id']}/masks/").json()
    assert [(m["label"], m["color"]) for m in listed] == [("lesion A", "#ff0000"), ("lesion B", "#00ff00")]
    moved = np.roll(second, 50, axis=1)
    updated = api.put(
        f"/api/masks/{b['id']}/", {"label": "lesion B2", "color": "#0000FF", "rle": rle_encode(moved)}, format="json"
    )
    assert updated.status_code == 200 and updated.json()["color"] == "#0000ff"
    assert np.array_equal(rle_decode(api.get(f"/api/masks/{b['id']}/").json()["rle"]), moved)
    assert api.delete(f"/api/masks/{a['id']}/").status_code == 204
    assert [m["label"] for m in api.get(f"/api/images/{image['id']}/masks/").json()] == ["lesion B2"]


@pytest.mark.parametrize(
    ("rle", "code", "words"),
    [
        ({"size": [256, 256], "counts": [100]}, "invalid_mask", "add up to 100"),
        ({"size": [10, 10], "counts": [50, 50]}, "invalid_mask", "image is 256×256"),
        ({"size": [256, 256], "counts": [65536]}, "empty_mask", "empty"),
    ],
)
def test_an_invalid_mask_is_rejected_with_a_clear_message_and_nothing_is_stored(api, image, rle, code, words):
    response = api.post(f"/api/images/{image['id']}/masks/", {"label": "x", "rle": rle}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and words in response.json()["error"]["message"]
    assert api.get(f"/api/images/{image['id']}/masks/").json() == []


def test_masks_of_other_users_images_are_invisible(api, image, django_user_model):
    from rest_framework.test import APIClient

    mask_id = save(api, image, lesion_mask()).json()["id"]
    other = APIClient()
    other.force_login(django_user_model.objects.create_user("someone-else", password="x-long-password-2"))
    assert other.get(f"/api/masks/{mask_id}/").status_code == 404
    assert other.get(f"/api/images/{image['id']}/masks/").status_code == 404
    assert (
        other.post(
            f"/api/images/{image['id']}/masks/", {"label": "x", "rle": rle_encode(lesion_mask())}, format="json"
        ).status_code
        == 404
    )


def test_png_export_opens_with_pillow_and_equals_the_mask(api, image):
    mask = lesion_mask()
    body = save(api, image, mask).json()
    response = api.get(body["export_urls"]["png"])
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert "attachment" in response["Content-Disposition"] and ".png" in response["Content-Disposition"]
    png = np.array(PILImage.open(io.BytesIO(response.content)))
    assert png.shape == (256, 256) and set(np.unique(png)) == {0, 255}
    assert np.array_equal(png > 0, mask)


def test_nifti_export_opens_with_nibabel_and_equals_the_mask(api, image, tmp_path):
    mask = lesion_mask()
    body = save(api, image, mask).json()
    response = api.get(body["export_urls"]["nifti"])
    assert response.status_code == 200 and ".nii.gz" in response["Content-Disposition"]
    path = tmp_path / "mask.nii.gz"
    path.write_bytes(response.content)
    volume = np.asarray(nib.load(path).dataobj)
    assert volume.shape == (256, 256, 1)
    assert np.array_equal(volume[:, :, 0].T > 0, mask)  # NIfTI axis 0 is x (columns)
    assert gzip.decompress(response.content)[:4] in (
        b"\x5c\x01\x00\x00",
        b"\x00\x00\x01\x5c",
    )  # NIfTI-1 header size 348


def test_coco_rle_export_decodes_with_pycocotools_and_equals_the_mask(api, image):
    mask = lesion_mask()
    body = save(api, image, mask, label="lesion A").json()
    response = api.get(body["export_urls"]["coco"])
    assert response.status_code == 200
    document = json.loads(response.content)
    assert document["images"][0]["width"] == 256 and document["categories"] == [{"id": 1, "name": "lesion A"}]
    (annotation,) = document["annotations"]
    rle = dict(annotation["segmentation"], counts=annotation["segmentation"]["counts"].encode("ascii"))
    assert np.array_equal(mask_utils.decode(rle).astype(bool), mask)
    assert annotation["area"] == mask.sum()


def test_image_coco_export_has_every_object(api, image):
    first, second = lesion_mask(), np.zeros((256, 256), bool)
    second[0:3, 0:3] = True
    save(api, image, first, "lesion A")
    save(api, image, second, "lesion B")
    document = json.loads(api.get(f"/api/images/{image['id']}/masks/coco/").content)
    decoded = [
        mask_utils.decode(dict(a["segmentation"], counts=a["segmentation"]["counts"].encode()))
        for a in document["annotations"]
    ]
    assert [c["name"] for c in document["categories"]] == ["lesion A", "lesion B"]
    assert np.array_equal(decoded[0].astype(bool), first) and np.array_equal(decoded[1].astype(bool), second)


def test_unknown_export_format_is_a_clear_error(api, image):
    body = save(api, image, lesion_mask()).json()
    response = api.get(f"/api/masks/{body['id']}/export/tiff/")
    assert response.status_code == 400 and "png, nifti, coco" in response.json()["error"]["message"]


@pytest.mark.parametrize("shape", [(1, 1), (3, 5), (7, 2)])
def test_rle_matches_pycocotools_uncompressed_rle(shape):
    rng = np.random.default_rng(sum(shape))
    for _ in range(20):
        mask = rng.random(shape) > 0.5
        ours = rle_encode(mask)
        theirs = mask_utils.frPyObjects(ours, *shape)
        assert np.array_equal(mask_utils.decode(theirs).astype(bool), mask)
        assert np.array_equal(rle_decode(ours), mask)


def test_upload_with_a_picked_model_version_uses_it_and_an_unpublished_one_is_refused(api, monkeypatch):
    from tests.web.test_images_api import stored_files
    from webapp.registry.services import ensure_active_model_version

    monkeypatch.setattr("webapp.segmentation.services.enqueue_embedding", lambda image: None)
    active = ensure_active_model_version()
    body = api.post(
        "/api/images/",
        {"file": _named(SQUARE_JPEG.read_bytes(), "a.jpg"), "model_version": active.pk},
        format="multipart",
    ).json()
    assert body["model_version"] == active.pk
    before = stored_files()
    refused = api.post(
        "/api/images/", {"file": _named(SQUARE_JPEG.read_bytes(), "b.jpg"), "model_version": 987654}, format="multipart"
    )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert (
        error["code"] == "unknown_model_version"
        and error["field"] == "model_version"
        and "GET /api/models/" in error["message"]
    )
    assert stored_files() == before
