"""Schemathesis against the committed OpenAPI schema: no operation answers a server error, whatever it is sent.

Requests go in-process through Django's WSGI handler with the whole middleware stack (sessions, CSRF enforced:
the CSRF cookie and header are sent, security headers, body limits), as an admin of a team who is also site
staff (the widest reach: folder imports, deployment-wide model versions). The team has real objects: a dataset
with items, an upload session waiting for bytes and one waiting for confirmation, an image with an embedding
and a mask, jobs queued, failed and succeeded (with a result file), a team draft model version and the active
one. Generated path parameters and the ids in request bodies are mixed with the ids of these objects, and job
parameters are fuzzed per kind, so that the operations reach their real code paths, not only their 404s.

Examples are bounded and derandomized (reproducible; the file runs in a few minutes on 2 cores). Jobs are
never run (``enqueue`` is stubbed: they stay queued) and images are never encoded (a small stored embedding).
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import schemathesis
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error

from tests.web.datasets_support import FIXTURE_DATASETS, generic_files, upload, zip_bytes
from tests.web.jobs_fixtures import make_dataset

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = REPO_ROOT / "frontend" / "openapi.json"
#: Generated examples per operation (fuzzing phase; the coverage phase adds its own deterministic cases).
MAX_EXAMPLES = 100
CSRF_TOKEN = "schemathesisCsrfSecret0123456789"  # a CSRF secret (32 letters and digits): cookie and header

schema = schemathesis.openapi.from_path(
    SCHEMA_PATH,
    config=schemathesis.Config.from_dict(
        {
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "with-security-parameters": False},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)

#: The real objects of the running test (filled by the ``studio`` fixture): path parameter or body field
#: name → the values that address them.
REAL: dict[str, list] = {}
#: Body fields whose generated values are sometimes replaced by real ones (ids, a server folder, a mask).
BODY_FIELDS = ("team", "model_version", "dataset", "model_versions", "path", "filename", "rle")


def _real(name: str) -> st.SearchStrategy:
    """One of the real values of ``name``, looked up when drawn (the fixture fills :data:`REAL` per test)."""
    return st.integers(min_value=0, max_value=7).map(lambda i: REAL[name][i % len(REAL[name])])


@schema.hook
def flatmap_path_parameters(context, path_parameters):
    """About half the examples address the real objects, so that the operations get past their 404."""
    names = [name for name in path_parameters or {} if name in REAL]
    if not names:
        return st.just(path_parameters)
    real = st.fixed_dictionaries({name: _real(name) for name in names})
    return st.one_of(st.just(path_parameters), real.map(lambda values: {**path_parameters, **values}))


def _wild_json() -> st.SearchStrategy:
    scalars = st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=12), st.just(10**30), st.just("nan")
    )
    return st.one_of(scalars, st.lists(scalars, max_size=3), st.dictionaries(st.text(max_size=5), scalars, max_size=2))


def _job_params(kind: str) -> st.SearchStrategy:
    """A kind's parameters: each its default, one of its choices, a real id (for id fields) or any JSON value;
    the optional ones are sometimes absent."""
    from webapp.jobs.params import ID_KINDS, PARAMS_BY_KIND

    required, optional = {}, {}
    for field in dataclasses.fields(PARAMS_BY_KIND[kind]):
        choices = [_wild_json()]
        if field.metadata.get("kind") in ID_KINDS:
            choices.insert(0, _real(field.metadata["kind"]))
        if field.metadata.get("choices"):
            choices.append(st.sampled_from(field.metadata["choices"]))
        if field.default is dataclasses.MISSING:
            required[field.name] = st.one_of(*choices)
        else:
            optional[field.name] = st.one_of(st.just(field.default), *choices)
    return st.fixed_dictionaries(required, optional=optional)


@schema.hook
def flatmap_body(context, body):
    """About half the examples use real values in the body (and, for jobs, parameters fuzzed by kind)."""
    from webapp.jobs.params import PARAMS_BY_KIND

    if not isinstance(body, dict):
        return st.just(body)
    names = [name for name in BODY_FIELDS if name in body and name in REAL]
    real = st.fixed_dictionaries({name: _real(name) for name in names}).map(lambda values: {**body, **values})
    if context.operation.label == "POST /api/jobs/" and body.get("kind") in PARAMS_BY_KIND:
        real = st.tuples(real, _job_params(body["kind"])).map(lambda pair: {**pair[0], "params": pair[1]})
    return st.one_of(st.just(body), real)


_coverage_turn = itertools.count()


def _address_real_objects(case) -> None:
    """Coverage-phase cases (boundary values, wrong types, missing fields) address the real objects too.

    That phase builds its cases without the hooks; its path parameters become real ids, except the one a
    scenario is about (a string where an id belongs, say).
    """
    meta = case.meta
    if meta is None or meta.phase.name != "coverage":
        return
    mutated = meta.phase.data.parameter if meta.phase.data.parameter_location == "path" else None
    turn = next(_coverage_turn)
    for name in list(case.path_parameters or {}):
        if name in REAL and name != mutated:
            case.path_parameters[name] = REAL[name][turn % len(REAL[name])]


@pytest.fixture
def wsgi_app():
    """Django's WSGI handler, keeping the test's database connection (as Django's test client does)."""
    from django.core import signals
    from django.core.wsgi import get_wsgi_application
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _store_small_embedding(image) -> None:
    """A small stored embedding, so that the image is ready without running the encoder."""
    from kdsam_core.embedding_codec import encode_embedding
    from webapp.segmentation.models import Embedding, Image
    from webapp.segmentation.services import store_browser_encoding

    payload = encode_embedding(
        np.zeros((4, 4, 4), dtype=np.float16),
        "float16",
        image_size=[image.height, image.width],
        input_size=[64, 64],
        model_version=image.model_version_id,
    )
    path = default_storage.save(f"embeddings/test/{image.pk}.kdem", ContentFile(payload))
    Embedding.objects.create(
        image=image,
        model_version=image.model_version,
        file=path,
        browser_file=store_browser_encoding(path, payload),
        size_bytes=len(payload),
        seconds=0.0,
    )
    Image.objects.filter(pk=image.pk).update(status=Image.Status.READY)


def _jobs(user, team, version):
    """A succeeded job with a result file, a queued one and a failed one (nothing runs: enqueue is stubbed)."""
    from webapp.jobs import services as job_services
    from webapp.jobs.models import Job
    from webapp.jobs.runners import job_dir

    jobs = [job_services.submit_job(user, team.pk, "export", {"model_version": version.pk}) for _ in range(3)]
    Job.objects.filter(pk=jobs[0].pk).update(state=Job.State.SUCCEEDED, result={"files": {"report": "report.json"}})
    job_dir(jobs[0]).mkdir(parents=True, exist_ok=True)
    (job_dir(jobs[0]) / "report.json").write_text(json.dumps({"ok": True}))
    Job.objects.filter(pk=jobs[2].pk).update(state=Job.State.FAILED, error="out of memory")
    return [job.pk for job in jobs]


def _team_draft(version, team):
    """A team's draft model version, sharing the files of ``version`` (no export)."""
    draft = version.__class__.objects.get(pk=version.pk)
    draft.pk, draft.team, draft.state, draft.is_active = None, team, "draft", False
    draft.save()
    return draft


@pytest.fixture
def studio(staff, team, monkeypatch):
    """The session cookies of the team's admin, after creating the real objects (listed in :data:`REAL`)."""
    from tests.conftest import PORTRAIT_PNG
    from webapp.datasets.conf import DEFAULT_RATIOS
    from webapp.datasets.models import Dataset
    from webapp.jobs import services as job_services
    from webapp.registry.selectors import active_model_version
    from webapp.segmentation import services as segmentation_services

    monkeypatch.setattr(job_services, "enqueue", lambda job: None)  # jobs stay queued: no training runs
    monkeypatch.setattr(segmentation_services, "enqueue_embedding", lambda image: None)  # no encoder runs
    user = staff.user
    dataset = make_dataset(team, Path(settings.MEDIA_ROOT))
    Dataset.objects.filter(pk=dataset.pk).update(split_ratios=DEFAULT_RATIOS)  # as every real creation stores
    waiting = staff.post("/api/datasets/uploads/", {"team": team.pk, "filename": "a.zip", "size": 10}, format="json")
    assert waiting.status_code == 201, waiting.content
    validated, _ = upload(staff, team.pk, zip_bytes(generic_files(2)))  # eager Celery: validated, to confirm
    image = segmentation_services.upload_image(user, "portrait.png", PORTRAIT_PNG.read_bytes())
    _store_small_embedding(image)
    mask = segmentation_services.save_mask(
        user,
        image,
        label="lesion",
        color="#ff0000",
        rle={"size": [image.height, image.width], "counts": [image.height * image.width - 10, 10]},
        prompts={"points": [[5, 5, 1]], "box": None},
    )
    version = active_model_version()
    draft = _team_draft(version, team)
    REAL.clear()
    REAL.update(
        dataset_id=[dataset.pk],
        item_pk=[dataset.items.first().pk],
        upload_id=[waiting.json()["id"], validated],
        image_id=[image.pk],
        mask_id=[mask.pk],
        fmt=["png", "coco"],
        job_id=_jobs(user, team, version),
        name=["report.json"],
        version_id=[version.pk, draft.pk],
        team=[team.pk],
        model_version=[version.pk, draft.pk],
        dataset=[dataset.pk],
        model_versions=[[version.pk], [version.pk, draft.pk]],
        path=[str(FIXTURE_DATASETS / "isic2017")],
        filename=["polyps.zip", "scans.tar.gz"],
        rle=[{"size": [image.height, image.width], "counts": [image.height * image.width]}],
    )
    yield {settings.SESSION_COOKIE_NAME: staff.cookies[settings.SESSION_COOKIE_NAME].value, "csrftoken": CSRF_TOKEN}
    REAL.clear()


@pytest.mark.django_db
@schema.parametrize()
@hypothesis_settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_answers_a_server_error(case, studio, wsgi_app):
    _address_real_objects(case)
    response = case.call(app=wsgi_app, cookies=studio, headers={"X-CSRFToken": CSRF_TOKEN})
    case.validate_response(response, checks=[not_a_server_error])
