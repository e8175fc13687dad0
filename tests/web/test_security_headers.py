"""Short sessions and a Content-Security-Policy the app (onnxruntime-web: WASM threads in workers) lives with.

Sessions last ``KDSAM_SESSION_HOURS`` (default 12) from sign-in and end when the browser closes
(``KDSAM_SESSION_EXPIRE_AT_BROWSER_CLOSE``). Every response carries the CSP of
``webapp.kdsam_studio.middleware``; the pages checked here (the app, the studio, the sign-in page and the
admin) use nothing it forbids.
"""

from __future__ import annotations

import os
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client

from webapp.kdsam_studio.config import ConfigurationError, StudioConfig

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- sessions -------------------------------------------------------------------------------


def test_sessions_last_twelve_hours_and_end_with_the_browser_by_default(tmp_path):
    config = StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path)})
    assert config.session_hours == 12 and config.session_expire_at_browser_close is True


def test_session_length_and_browser_close_come_from_the_environment(tmp_path):
    config = StudioConfig.from_env(
        {"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_SESSION_HOURS": "3", "KDSAM_SESSION_EXPIRE_AT_BROWSER_CLOSE": "no"}
    )
    assert config.session_hours == 3 and config.session_expire_at_browser_close is False


@pytest.mark.parametrize("value", ["0", "-1", "half a day"])
def test_an_invalid_session_length_names_the_variable(tmp_path, value):
    with pytest.raises(ConfigurationError, match="KDSAM_SESSION_HOURS"):
        StudioConfig.from_env({"KDSAM_DATA_DIR": str(tmp_path), "KDSAM_SESSION_HOURS": value})


def test_django_takes_the_session_settings_from_the_config(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "KDSAM_"))}
    env.update(
        {
            "KDSAM_ENV": "test",
            "KDSAM_DATA_DIR": str(tmp_path),
            "KDSAM_SESSION_HOURS": "3",
            "KDSAM_SESSION_EXPIRE_AT_BROWSER_CLOSE": "0",
            "DJANGO_SETTINGS_MODULE": "webapp.kdsam_studio.settings",
        }
    )
    code = (
        "from django.conf import settings; print(settings.SESSION_COOKIE_AGE, settings.SESSION_EXPIRE_AT_BROWSER_CLOSE)"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["10800", "False"]


@pytest.mark.django_db
def test_signing_in_gives_a_browser_session_cookie_that_the_server_expires_after_the_configured_hours(
    django_user_model, settings
):
    django_user_model.objects.create_user("reader", password="a-long-password-1")
    client = Client()
    response = client.post("/accounts/login/", {"username": "reader", "password": "a-long-password-1"})
    assert response.status_code == 302
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["max-age"] == "" and cookie["expires"] == ""  # gone when the browser closes
    assert client.session.get_expiry_age() == 12 * 3600


# --- Content-Security-Policy ----------------------------------------------------------------


def _csp(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class _PageNeeds(HTMLParser):
    """What a page uses that a CSP may forbid: inline scripts, event-handler attributes, inline styles."""

    def __init__(self):
        super().__init__()
        self.inline_scripts = 0
        self.handler_attributes: list[str] = []
        self.inline_styles = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handler_attributes += [name for name in attrs if name.startswith("on")]
        self.inline_styles += "style" in attrs or tag == "style"
        executable = attrs.get("type") in (None, "", "module", "text/javascript")
        self._in_script = tag == "script" and "src" not in attrs and executable

    def handle_data(self, data):
        self.inline_scripts += self._in_script and bool(data.strip())

    def handle_endtag(self, tag):
        self._in_script = False


def _assert_csp_allows_the_page(response):
    assert response.status_code == 200
    csp = _csp(response)
    needs = _PageNeeds()
    needs.feed(response.content.decode())
    assert needs.inline_scripts == 0 and not needs.handler_attributes, "the CSP blocks inline scripts"
    if needs.inline_styles:
        assert "'unsafe-inline'" in csp["style-src"]


@pytest.fixture
def signed_in(django_user_model):
    user = django_user_model.objects.create_user("viewer", password=None)
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/", "/studio/"])
def test_app_pages_carry_a_csp_that_lets_onnxruntime_web_run_wasm_threads_in_workers(signed_in, page, settings):
    response = signed_in.get(page)
    if (settings.FRONTEND_DIST / "index.html").is_file():  # else a 503 "not built" page, with the same headers
        _assert_csp_allows_the_page(response)
    csp = _csp(response)
    assert csp["script-src"] == ["'self'", "'wasm-unsafe-eval'"]  # WebAssembly.compile, no eval, no inline
    assert csp["worker-src"] == ["'self'", "blob:"]
    assert csp["img-src"] == ["'self'", "blob:", "data:"]
    assert csp["object-src"] == ["'none'"] and csp["frame-ancestors"] == ["'none'"]
    # WASM threads need cross-origin isolation, which the CSP leaves as it was
    assert response["Cross-Origin-Opener-Policy"] == "same-origin"
    assert response["Cross-Origin-Embedder-Policy"] == "require-corp"


@pytest.mark.django_db
def test_the_csp_allows_the_live_feed_websocket_of_the_same_host_only(signed_in):
    connect = _csp(signed_in.get("/api/session/"))["connect-src"]
    assert connect == ["'self'", "ws://testserver", "wss://testserver"]


@pytest.mark.django_db
def test_every_response_carries_the_csp_api_and_errors_too(signed_in):
    for response in (signed_in.get("/api/session/"), signed_in.get("/api/images/999999/")):
        assert "'wasm-unsafe-eval'" in _csp(response)["script-src"]


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/accounts/login/", "/admin/login/"])
def test_sign_in_pages_render_under_the_csp(client, page):
    _assert_csp_allows_the_page(client.get(page))


@pytest.mark.django_db
@pytest.mark.parametrize("page", ["/admin/", "/admin/segmentation/image/", "/admin/auth/user/add/"])
def test_admin_pages_render_under_the_csp(admin_client, page):
    _assert_csp_allows_the_page(admin_client.get(page))


def test_signing_out_tells_the_browser_to_clear_its_caches_and_storage(client, django_user_model):
    user = django_user_model.objects.create_user("leaving", password=None)
    client.force_login(user)
    response = client.post("/accounts/logout/")
    assert response.status_code in (200, 302)
    assert response["Clear-Site-Data"] == '"cache", "storage"'
    assert "_auth_user_id" not in client.session
