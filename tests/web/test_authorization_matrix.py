"""Authorisation matrix: every URL pattern of the URLconf × role × method, with team A's objects in the URL.

The patterns come from ``get_resolver()`` (recursively through includes), so a new endpoint is covered
automatically; a URL kwarg this module does not know fails the test (add it to ``KWARGS`` consciously).
One test per role loops over every pattern and method and collects every leak into one message.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.signals import request_finished
from django.db import close_old_connections, transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from tests.web.datasets_support import png
from tests.web.jobs_fixtures import make_dataset

pytestmark = pytest.mark.django_db

METHODS = ("get", "post", "put", "patch", "delete")
RATIOS = {"train": 0.7, "val": 0.15, "test": 0.15}

# Strings only team A (or the image's owner) may ever see in a response body.
SECRETS = (
    "secret-team-A",
    "secret-dataset-A",
    "secret-upload-A",
    "secret-scan-A.png",
    "secret-label-A",
    "secret-model-draft-A",
    "secret-model-published-A",
    "secret-job-A",
)

# URL kwarg -> fixture key, or {pattern name -> fixture key} where the kwarg means different objects.
# A list of keys runs the pattern once per object. Values that are no object are literal strings ("=...").
ADMIN = "admin:"  # prefix of the admin's pattern names (namespace)
KWARGS: dict[str, object] = {
    "image_id": "image",
    "mask_id": "mask",
    "dataset_id": "dataset",
    "upload_id": "upload",
    "item_pk": "item",
    "job_id": "job",
    "version_id": ["version_draft", "version_published", "version_deployment"],
    "fmt": "=png",
    "name": {"api-job-file": "=report.json"},  # a file the job's result lists
    # the Django admin (staff only: everyone here is answered with a login redirect before any lookup)
    "app_label": "=accounts",
    "url": "=no-such-page/",
    "content_type_id": "team_content_type",
    "object_id": "admin_object",
    "id": {"admin:auth_user_password_change": "user_a"},
}

# Pages anyone may request (anonymous included), with the methods: the login pages, the HTML shells, the
# session probe, the OpenAPI schema (it documents the API, it holds no data).
ALL = set(METHODS)
PUBLIC: dict[str, set[str]] = {
    "app": {"get"},  # the HTML shell; it asks /api/session/ who is signed in
    "studio": {"get"},  # the studio HTML shell
    "login": ALL,  # the login form: any method shows the form (with errors) or signs in
    "admin:login": {"get", "post"},
    "admin:logout": {"get"},  # Django sends a visitor who is no staff to the admin index (and so to its login)
    "api-session": {"get"},  # {"user": null} when signed out
    "api-schema": {"get"},
}
# Objects every signed-in user may read (GET, any pattern) whoever owns them. Their other methods (publish,
# archive) answer 403 to non-staff: they may see the object, their role does not allow the action.
PUBLIC_TO_SIGNED_IN = {
    "version_deployment": "the deployment-wide published version: any signed-in user sees it and segments with it",
}
# GETs the own-team member may still answer 404 on, and why (everything else must not be 404 for them):
# (pattern name, fixture key); key None = for every object.
OWN_404_EXPECTED = {
    ("segmentation-browser-encoder", "version_draft"): "a draft is not segmentable, so it has no browser encoder",
    ("model-decoder-onnx-int8", None): "the test model versions have no quantised decoder",
}
# Which own-team role owns which object (images and masks are their owner's, the rest the team's).
OWNER_OF = {"image": "clinician_a", "mask": "clinician_a"}


@dataclass(frozen=True)
class Pattern:
    name: str  # namespaced
    route: str  # the joined route / regex text
    callback: object


def _walk(resolvers, prefix: str = "", namespace: str = ""):
    for entry in resolvers:
        if isinstance(entry, URLResolver):
            ns = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), ns)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}{entry.name}" if entry.name else f"{namespace}<unnamed {prefix}{entry.pattern}>"
            yield Pattern(name, prefix + str(entry.pattern), entry.callback)


def all_patterns() -> list[Pattern]:
    return list(_walk(get_resolver().url_patterns))


REGEX_GROUP = re.compile(r"\(\?P<(\w+)>[^)]*\)")  # re_path: (?P<name>...)
ROUTE_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")  # path: <conv:name>


def _kwarg_names(route: str) -> list[str]:
    return REGEX_GROUP.findall(route) + ROUTE_PARAM.findall(REGEX_GROUP.sub("", route))


def _fill(route: str, values: dict[str, str]) -> str:
    url = REGEX_GROUP.sub(lambda m: values[m.group(1)], route)  # first, or ROUTE_PARAM would match its <name>
    url = ROUTE_PARAM.sub(lambda m: values[m.group(1)], url)
    return "/" + url.replace("^", "").replace("$", "").replace("\\", "")


def _methods(callback) -> list[str]:
    """GET, and every other method the view class implements (function views: GET only)."""
    view_class = getattr(callback, "view_class", None)  # as_view() of Django's View and DRF's APIView
    if view_class is None:
        return ["get"]
    allowed = [m for m in METHODS if m in view_class.http_method_names and hasattr(view_class, m)]
    if "get" not in allowed:
        allowed.insert(0, "get")  # GET for all: a 405 is fine, a 2xx would be a leak
    return allowed


def concrete_urls(objects: dict[str, str]) -> tuple[list[tuple[Pattern, str, str | None]], list[str]]:
    """(pattern, url, object key) for every pattern, and the patterns whose kwargs KWARGS does not know (or
    whose URL, once built, resolves to another view)."""
    cases, unknown = [], []
    for pattern in all_patterns():
        names = _kwarg_names(pattern.route)
        choices: list[dict[str, tuple[str, str | None]]] = [{}]
        for kwarg in names:
            entry = KWARGS.get(kwarg)
            if isinstance(entry, dict):
                entry = entry.get(pattern.name)
            if entry is None:
                unknown.append(f"{pattern.name} ({pattern.route}): kwarg {kwarg!r}")
                break
            keys = entry if isinstance(entry, list) else [entry]
            choices = [{**c, kwarg: (key, None if key.startswith("=") else key)} for c in choices for key in keys]
        else:
            for choice in choices:
                values = {k: (key[1:] if key.startswith("=") else objects[key]) for k, (key, _) in choice.items()}
                url = _fill(pattern.route, values)
                if resolve(url.split("?")[0]).func is not pattern.callback:
                    unknown.append(f"{pattern.name} ({pattern.route}): the URL built, {url}, resolves to another view")
                owned = [obj for _, obj in choice.values() if obj]
                cases.append((pattern, url, owned[-1] if owned else None))
    return cases, unknown


# Team A, its members, its objects; the other roles.


def _client(user=None) -> APIClient:
    client = APIClient(enforce_csrf_checks=False)
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def world(django_user_model):
    from django.contrib.contenttypes.models import ContentType

    from webapp.accounts.models import Membership, Team
    from webapp.accounts.services import add_member
    from webapp.datasets.models import DatasetUpload
    from webapp.jobs.models import Job
    from webapp.jobs.runners import job_dir
    from webapp.registry.models import ModelVersion
    from webapp.segmentation.models import Image, Mask

    def user(username, team=None, role=None):
        u = django_user_model.objects.create_user(username, password=None)
        if team is not None:
            add_member(team, u, role)
        return u

    team_a = Team.objects.create(name="secret-team-A")
    team_b = Team.objects.create(name="Team B")
    users = {
        "clinician_a": user("clinician-a", team_a, "clinician"),
        "trainer_a": user("trainer-a", team_a, "trainer"),
        "clinician_b": user("clinician-b", team_b, "clinician"),
        "trainer_b": user("trainer-b", team_b, "trainer"),
        "no_team": user("no-team"),
    }
    deployment = ModelVersion.objects.get(is_active=True)

    def team_version(name, state):
        version = ModelVersion.objects.get(pk=deployment.pk)
        version.pk, version.is_active, version.team, version.state, version.name = None, False, team_a, state, name
        version.save()
        return version

    draft = team_version("secret-model-draft-A", "draft")
    published = team_version("secret-model-published-A", "published")
    image = Image.objects.create(
        owner=users["clinician_a"],
        file=ContentFile(png(), name="secret-scan-A.png"),
        original_filename="secret-scan-A.png",
        content_type="image/png",
        width=16,
        height=12,
        sha256="0" * 64,
        model_version=deployment,
        status=Image.Status.READY,
    )
    mask = Mask.objects.create(
        image=image,
        label="secret-label-A",
        rle={"size": [12, 16], "counts": [0, 192]},
        area=192,
        model_version=deployment,
        author=users["clinician_a"],
    )
    dataset = make_dataset(team_a, Path(settings.MEDIA_ROOT), name="secret-dataset-A")
    dataset.split_ratios = RATIOS
    dataset.save()
    upload = DatasetUpload.objects.create(
        team=team_a, created_by=users["trainer_a"], name="secret-upload-A", split_ratios=RATIOS
    )
    job = Job.objects.create(kind="evaluate", team=team_a, owner=users["trainer_a"], params={"note": "secret-job-A"})
    (job_dir(job) / "report.json").write_text('{"note": "secret-job-A"}')
    job.result = {"files": {"report": "report.json"}}
    job.save()
    objects = {
        "image": str(image.pk),
        "mask": str(mask.pk),
        "dataset": str(dataset.pk),
        "upload": str(upload.pk),
        "item": str(dataset.items.first().pk),
        "job": str(job.pk),
        "version_draft": str(draft.pk),
        "version_published": str(published.pk),
        "version_deployment": str(deployment.pk),
        "user_a": str(users["trainer_a"].pk),
        "team_content_type": str(ContentType.objects.get_for_model(Team).pk),
        "admin_object": str(Membership.objects.filter(team=team_a).first().pk),
    }
    clients = {"anonymous": _client(), **{role: _client(u) for role, u in users.items()}}
    return objects, clients


def _request(client: APIClient, method: str, url: str) -> tuple[int, str, str]:
    """One request in a savepoint that is rolled back, so no case changes what the next one sees (a logout
    included: the session row comes back with the rollback, the cookie is put back here)."""
    cookies = client.cookies
    client.cookies = copy.copy(cookies)
    with transaction.atomic():
        response = client.get(url) if method == "get" else getattr(client, method)(url, {}, format="json")
        transaction.set_rollback(True)
    client.cookies = cookies
    content = b"".join(response.streaming_content) if response.streaming else response.content
    request_finished.disconnect(close_old_connections)  # as the test client does: keep the test's connection
    try:
        response.close()  # file responses' open files
    finally:
        request_finished.connect(close_old_connections)
    return response.status_code, content.decode("utf-8", "replace"), response.get("Location", "")


def _leaks(role: str, world, methods: tuple[str, ...] = METHODS) -> list[str]:
    objects, clients = world
    client = clients[role]
    cases, unknown = concrete_urls(objects)
    assert not unknown, "URL kwargs the authorisation matrix does not know (add them to KWARGS):\n" + "\n".join(unknown)
    found = []
    for pattern, url, owned in cases:
        for method in (m for m in _methods(pattern.callback) if m in methods):
            status, body, location = _request(client, method, url)
            to_login = status == 302 and "login" in location
            line = f"{role} {method.upper()} {url} [{pattern.name}] -> {status}"
            public = method in PUBLIC.get(pattern.name, ())
            if role == "anonymous":
                if not public and not (status in (401, 403, 405) or to_login):
                    found.append(line + f" (anonymous must get 401/403/405/login redirect; Location {location!r})")
            elif owned is not None:
                visible = owned in PUBLIC_TO_SIGNED_IN
                if visible and method == "get":
                    continue
                if 200 <= status < 300:
                    found.append(line + " (2xx on team A's private object)")
                elif status not in ((403, 405) if visible else (404, 405)) and not to_login:
                    found.append(line + f" (expected {'403' if visible else '404'}; Location {location!r})")
            leaked = [s for s in SECRETS if s in body]
            if leaked:
                found.append(line + f" (body contains {leaked})")
    return found


@pytest.mark.parametrize("role", ["anonymous", "no_team", "clinician_b", "trainer_b"])
def test_no_role_outside_team_a_gets_or_changes_team_a_objects(role, world):
    leaks = _leaks(role, world)
    assert not leaks, f"{len(leaks)} leak(s):\n" + "\n".join(leaks)


def test_team_a_members_see_their_own_objects_so_the_matrix_is_not_vacuous(world):
    objects, clients = world
    cases, unknown = concrete_urls(objects)
    assert not unknown
    missing = []
    checked = 0
    for pattern, url, owned in cases:
        expected_404 = (pattern.name, owned) in OWN_404_EXPECTED or (pattern.name, None) in OWN_404_EXPECTED
        if owned is None or pattern.name.startswith(ADMIN) or expected_404:
            continue
        role = OWNER_OF.get(owned, "trainer_a")
        status, _, _ = _request(clients[role], "get", url)
        checked += 1
        if status in (401, 403, 404):
            missing.append(f"{role} GET {url} [{pattern.name}] -> {status}")
    assert checked > 20
    assert not missing, "team A's own member was refused their own object:\n" + "\n".join(missing)


def test_the_matrix_reports_a_role_that_sees_team_a_objects(world):
    """Run for team A's own trainer, the matrix must flag their (legitimate) access: its checks do bite."""
    objects, _ = world
    leaks = "\n".join(_leaks("trainer_a", world, methods=("get",)))  # their writes would be real
    dataset = f"/api/datasets/{objects['dataset']}/"
    assert f"trainer_a GET {dataset} [api-dataset] -> 200 (2xx on team A's private object)" in leaks
    assert (
        f"trainer_a GET {dataset} [api-dataset] -> 200 (body contains ['secret-team-A', 'secret-dataset-A'])" in leaks
    )


def test_a_url_kwarg_missing_from_the_table_fails_the_matrix(world, monkeypatch):
    objects, _ = world
    monkeypatch.delitem(KWARGS, "job_id")
    _, unknown = concrete_urls(objects)
    assert "api-job (api/jobs/<int:job_id>/): kwarg 'job_id'" in unknown
