"""GET /api/session/: who is signed in, and the key that names this session's browser caches.

The browser keeps embeddings (patient data) in Cache Storage under a name made from ``cache_key``
(frontend/src/session-caches.ts), so the app of one session never reads another session's entries and
deletes them when a session begins.
"""

from __future__ import annotations

import re

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def _session(client: Client) -> dict:
    response = client.get("/api/session/")
    assert response.status_code == 200
    return response.json()


def _signed_in(django_user_model, username: str) -> Client:
    client = Client()
    client.force_login(django_user_model.objects.create_user(username, password=None))
    return client


def test_the_session_names_the_signed_in_user_and_an_opaque_cache_key(django_user_model):
    body = _session(_signed_in(django_user_model, "ana"))
    assert body["user"] == {"username": "ana", "is_staff": False}
    assert re.fullmatch(r"[A-Za-z0-9_-]{22,}", body["cache_key"]), body["cache_key"]


def test_the_cache_key_stays_the_same_for_the_whole_session(django_user_model):
    client = _signed_in(django_user_model, "ana")
    assert _session(client)["cache_key"] == _session(client)["cache_key"]


def test_two_users_get_different_cache_keys(django_user_model):
    ana = _session(_signed_in(django_user_model, "ana"))["cache_key"]
    ben = _session(_signed_in(django_user_model, "ben"))["cache_key"]
    assert ana != ben


def test_signing_in_again_gives_a_new_cache_key(django_user_model):
    client = _signed_in(django_user_model, "ana")
    before = _session(client)["cache_key"]
    client.post("/accounts/logout/")
    client.force_login(django_user_model.objects.get(username="ana"))
    assert _session(client)["cache_key"] != before


def test_the_cache_key_is_not_the_session_id_nor_the_user(django_user_model):
    client = _signed_in(django_user_model, "ana")
    key = _session(client)["cache_key"]
    user = django_user_model.objects.get(username="ana")
    assert key != client.session.session_key and "ana" not in key and key != str(user.pk)
