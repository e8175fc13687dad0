"""Malformed input is a 4xx naming what is wrong, never a 500: huge integers, bad query parameters, NaN, deep JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from tests.web.datasets_support import FIXTURE_DATASETS, generic_files, upload, zip_bytes
from tests.web.jobs_fixtures import make_dataset

pytestmark = pytest.mark.django_db

BIG = 10**30  # beyond every database integer (SQLite's and PostgreSQL's bigint end at 2**63 - 1)


@pytest.fixture
def model_version(db) -> int:
    from webapp.registry.selectors import active_model_version

    return active_model_version().pk


@pytest.fixture
def dataset(team):
    return make_dataset(team, Path(settings.MEDIA_ROOT))


def _error(response, status: int = 400) -> dict:
    assert response.status_code == status, response.content
    return response.json()["error"]


def _post_json(client, url: str, text: str):
    return client.post(url, text, content_type="application/json")


# Integer fields of request bodies are bounded to what the database stores.


def _job(of_team, model_version, **fields):
    return {"team": of_team.pk, "kind": "export", "params": {"model_version": model_version}, **fields}


def _finetune(team, model_version, dataset, **params):
    return {
        "team": team.pk,
        "kind": "finetune",
        "params": {"model_version": model_version, "dataset": dataset, **params},
    }


def _upload_body(of_team, **fields):
    return {"team": of_team.pk, "filename": "polyps.zip", "size": 10, **fields}


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/jobs/", lambda team, mv, ds: _job(team, mv, team=BIG), "team"),
        ("/api/jobs/", lambda team, mv, ds: _job(team, mv, params={"model_version": BIG}), "model_version"),
        (
            "/api/jobs/",
            lambda team, mv, ds: {
                "team": team.pk,
                "kind": "evaluate",
                "params": {"dataset": ds, "model_versions": [BIG]},
            },
            "model_versions",
        ),
        ("/api/jobs/", lambda team, mv, ds: _finetune(team, mv, ds, seed=BIG), "seed"),
        ("/api/datasets/uploads/", lambda team, mv, ds: _upload_body(team, team=BIG), "team"),
        ("/api/datasets/uploads/", lambda team, mv, ds: _upload_body(team, seed=BIG), "seed"),
        ("/api/datasets/uploads/", lambda team, mv, ds: _upload_body(team, seed=2**31), "seed"),  # > PostgreSQL integer
        ("/api/datasets/", lambda team, mv, ds: _upload_body(team, team=BIG), "team"),  # the legacy create
    ],
    ids=[
        "job-team",
        "job-model_version",
        "job-model_versions",
        "job-seed",
        "upload-team",
        "upload-seed",
        "upload-seed-2**31",
        "legacy-upload-team",
    ],
)
def test_an_integer_beyond_the_database_range_is_a_400_naming_the_field(
    trainer, team, model_version, dataset, url, body, field
):
    response = trainer.post(url, body(team, model_version, dataset.pk), format="json")
    assert _error(response)["field"] == field


@pytest.mark.parametrize(("field", "value"), [("team", BIG), ("seed", BIG)])
def test_a_folder_import_with_an_integer_beyond_the_database_range_is_a_400_naming_the_field(staff, team, field, value):
    body = {"team": team.pk, "path": str(FIXTURE_DATASETS / "isic2017"), field: value}
    response = staff.post("/api/datasets/import-folder/", body, format="json")
    assert _error(response)["field"] == field


def test_a_confirmation_with_a_seed_beyond_the_database_range_is_a_400_naming_it(trainer, team):
    upload_id, _ = upload(trainer, team.pk, zip_bytes(generic_files(2)))
    response = trainer.post(f"/api/datasets/uploads/{upload_id}/confirm/", {"seed": BIG}, format="json")
    assert _error(response)["field"] == "seed"


# Job parameters: numbers must be finite.


@pytest.mark.parametrize("param", ["lr", "weight_decay"])
def test_a_nan_float_job_parameter_is_a_400_naming_it(trainer, team, model_version, dataset, param):
    response = trainer.post("/api/jobs/", _finetune(team, model_version, dataset.pk, **{param: "nan"}), format="json")
    error = _error(response)
    assert error["code"] == "invalid_parameter" and error["field"] == param


@pytest.mark.parametrize("param", ["epochs", "seed", "dataset"])
def test_an_infinite_integer_job_parameter_is_a_400_naming_it(trainer, team, model_version, dataset, param):
    # 1e400 is valid JSON that Python reads as float('inf')
    params = {"model_version": model_version, "dataset": dataset.pk, param: "INFINITY"}
    text = json.dumps({"team": team.pk, "kind": "finetune", "params": params}).replace('"INFINITY"', "1e400")
    error = _error(_post_json(trainer, "/api/jobs/", text))
    assert error["code"] == "invalid_parameter" and error["field"] == param


# Query parameters: integers parsed by one helper that names the parameter.


_LISTS = [("/api/jobs/", "team"), ("/api/datasets/", "team"), ("/api/datasets/uploads/", "team")]
_PAGING = [
    ("/api/datasets/uploads/", "limit"),
    ("/api/datasets/{dataset}/items/", "page"),
    ("/api/datasets/{dataset}/items/", "page_size"),
]


@pytest.mark.parametrize(
    ("url", "param", "value"),
    [(url, param, value) for url, param in _LISTS + _PAGING for value in ("abc", "²")]
    + [(url, param, str(BIG)) for url, param in _LISTS],  # a huge limit or page size is capped
)
def test_a_malformed_integer_query_parameter_is_a_400_naming_it(trainer, dataset, url, param, value):
    response = trainer.get(url.format(dataset=dataset.pk), {param: value})
    error = _error(response)
    assert error["code"] == f"invalid_{param}" and error["field"] == param


@pytest.mark.parametrize("offset", ["²", "٣"])  # str.isdigit() takes both; int() only the second
def test_a_malformed_chunk_offset_is_a_400_naming_it(trainer, team, offset):
    session = trainer.post("/api/datasets/uploads/", _upload_body(team), format="json").json()
    response = trainer.put(f"{session['upload_url']}?offset={offset}", b"abc", content_type="application/octet-stream")
    error = _error(response)
    assert error["code"] == "invalid_offset" and error["field"] == "offset"


@pytest.mark.parametrize("page", [3, BIG])
def test_a_page_past_the_last_is_404_invalid_page(trainer, dataset, page):
    response = trainer.get(f"/api/datasets/{dataset.pk}/items/", {"page": page, "page_size": 2})  # 4 items: 2 pages
    error = _error(response, 404)
    assert error["code"] == "invalid_page" and error["field"] == "page"


# JSON bodies: nesting is limited (Python's parser would otherwise hit its recursion limit).


def _deep(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    "url",
    [
        "/api/jobs/",
        "/api/datasets/uploads/",
        "/api/datasets/",
        "/api/datasets/uploads/{upload}/confirm/",
    ],
)
def test_a_json_body_nested_20000_deep_is_a_400_parse_error(trainer, team, url):
    if "{upload}" in url:
        url = url.format(upload=trainer.post("/api/datasets/uploads/", _upload_body(team), format="json").json()["id"])
    error = _error(_post_json(trainer, url, _deep(20_000)))
    assert error["code"] == "parse_error" and "deep" in error["message"]


def test_a_mask_body_nested_20000_deep_is_a_400_parse_error(api):
    from tests.conftest import PORTRAIT_PNG

    with open(PORTRAIT_PNG, "rb") as file:
        image = api.post("/api/images/", {"file": file}, format="multipart").json()["id"]
    error = _error(_post_json(api, f"/api/images/{image}/masks/", _deep(20_000)))
    assert error["code"] == "parse_error" and "deep" in error["message"]


def test_a_json_body_nested_20000_deep_is_a_400_even_with_csrf_checks_enforced(trainer):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(trainer.user)
    token = "a" * 32  # a CSRF secret: cookie and header must match
    client.cookies["csrftoken"] = token
    response = client.post("/api/jobs/", _deep(20_000), content_type="application/json", HTTP_X_CSRFTOKEN=token)
    assert _error(response)["code"] == "parse_error"


def test_a_json_body_nested_deeper_than_the_limit_is_a_400_parse_error(trainer, team, model_version):
    from webapp.kdsam_studio.parsers import JSONParser

    body = json.dumps(_job(team, model_version)).replace(
        '"model_version"', f'"quantize": {_deep(JSONParser.max_depth)}, "model_version"'
    )
    error = _error(_post_json(trainer, "/api/jobs/", body))
    assert error["code"] == "parse_error" and str(JSONParser.max_depth) in error["message"]


# NUL characters: PostgreSQL stores no text containing U+0000 (psycopg raises before the query is sent), so a
# query parameter holding one is refused up front, naming it. (DRF's CharField refuses them in bodies; Django
# drops them from uploaded file names.)


def test_a_nul_character_in_a_query_parameter_is_a_400_naming_it(trainer, team):
    error = _error(trainer.get("/api/datasets/", {"state": "ready\x00"}))

    assert (error["code"], error["field"]) == ("invalid_characters", "state")
    assert "NUL" in error["message"]


def test_a_nul_character_in_a_query_parameter_name_is_a_400(trainer, team):
    error = _error(trainer.get("/api/datasets/?st%00ate=ready"))

    assert error["code"] == "invalid_characters"
