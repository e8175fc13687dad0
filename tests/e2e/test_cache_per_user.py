"""Cached embeddings (patient data) are per session: a sign-out leaves none, the next user gets none.

The app deletes its Cache Storage itself (frontend/src/session-caches.ts), so these tests strip the
server's ``Clear-Site-Data`` from the sign-out answer, as a browser that ignores it would.
"""

from __future__ import annotations

import time
import uuid

import pytest
from PIL import Image as PILImage

from tests.conftest import SQUARE_JPEG
from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e

#: Every cache of the page's origin: name → paths of its entries.
READ_CACHES = """async () => {
  const out = {};
  for (const name of await caches.keys()) {
    const cache = await caches.open(name);
    out[name] = (await cache.keys()).map((r) => new URL(r.url).pathname);
  }
  return out;
}"""


def _embedding_path(image: dict) -> str:
    return f"/__kdsam-cache__/embeddings/v{image['model_version']}/{image['sha256']}.kdem"


def _holding(caches: dict, path: str) -> list[str]:
    return [name for name, paths in caches.items() if path in paths]


def _wait_until_cached(page, path: str, timeout_s: float = 30) -> dict:
    """The viewer stores the embedding after showing it (asynchronously): poll Cache Storage, bounded."""
    deadline = time.monotonic() + timeout_s
    while True:
        caches = page.evaluate(READ_CACHES)
        if _holding(caches, path) or time.monotonic() > deadline:
            return caches
        time.sleep(0.2)


def _sign_in(page, username: str, password: str) -> None:
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_selector("body[data-app-state=ready]", state="attached", timeout=30_000)


def _unique_image(tmp_path, name: str):
    """A PNG no other test uploaded (a fresh embedding; an upload of known content reuses the stored one)."""
    image = PILImage.open(SQUARE_JPEG).convert("RGB")
    image.putpixel((0, 0), tuple(uuid.uuid4().bytes[:3]))
    path = tmp_path / f"{name}.png"
    image.save(path)
    return path


def _open_uploaded_image(page, studio, path) -> dict:
    """Uploads ``path`` and waits until the viewer shows it with its embedding; returns its image object."""
    page.set_input_files("#upload-input", str(path))
    page.wait_for_selector("#viewer[data-state=ready]", timeout=180_000)
    image_id = page.get_attribute("#viewer", "data-image-id")
    return page.context.request.get(f"{studio.url}/api/images/{image_id}/").json()


def _without_clear_site_data(page) -> list[str]:
    """Serves the sign-out answer without Clear-Site-Data; returns the sign-outs it saw."""
    seen: list[str] = []

    def strip(route):
        response = route.fetch(max_redirects=0)
        seen.append(response.headers.get("clear-site-data", ""))
        headers = {k: v for k, v in response.headers.items() if k.lower() != "clear-site-data"}
        route.fulfill(response=response, headers=headers)

    page.route("**/accounts/logout/", strip)
    return seen


@pytest.fixture
def second_user(browser, studio) -> tuple[str, str]:
    """A clinician made through the Django admin (the admin signs in on a context of its own)."""
    username, password = f"ben-{uuid.uuid4().hex[:6]}", "e2e-" + uuid.uuid4().hex
    context = browser.new_context()
    try:
        admin = context.new_page()
        admin.goto(studio.url + "/admin/auth/user/add/")
        admin.fill("#id_username", studio.username)
        admin.fill("#id_password", studio.password)
        admin.click("input[type=submit]")
        admin.wait_for_selector("#id_password1", timeout=30_000)
        admin.fill("#id_username", username)
        admin.fill("#id_password1", password)
        admin.fill("#id_password2", password)
        admin.click("input[name=_save]")
        admin.wait_for_url("**/admin/auth/user/*/change/**", timeout=30_000)
    finally:
        context.close()
    return username, password


def test_signing_out_in_the_app_deletes_the_cached_embedding_and_the_next_user_gets_none(
    page, studio, second_user, tmp_path
):
    log_in(page, studio)
    image = _open_uploaded_image(page, studio, _unique_image(tmp_path, "first"))
    path = _embedding_path(image)
    before = _wait_until_cached(page, path)
    assert _holding(before, path), f"the embedding was never cached: {before}"
    assert all(name.startswith("kdsam-embeddings-v2-") for name in _holding(before, path))

    sign_outs = _without_clear_site_data(page)
    page.click("#sign-out-button")
    page.wait_for_url("**/accounts/login/**", timeout=30_000)
    assert sign_outs == ['"cache", "storage"']  # the server asked, and the browser never saw it
    after = page.evaluate(READ_CACHES)
    assert not _holding(after, path), f"signed out, yet the embedding is still cached: {after}"
    assert not [name for name in after if name.startswith("kdsam-")]

    _sign_in(page, *second_user)
    assert page.inner_text("#user-name") == second_user[0]
    assert not _holding(page.evaluate(READ_CACHES), path)


def test_a_user_who_did_not_sign_out_leaves_no_cached_embedding_to_the_next(page, studio, second_user, tmp_path):
    log_in(page, studio)
    image = _open_uploaded_image(page, studio, _unique_image(tmp_path, "first"))
    path = _embedding_path(image)
    (first_cache,) = _holding(_wait_until_cached(page, path), path)

    # the next user signs in on the same browser profile; the first never signed out
    page.goto(studio.url + "/accounts/login/")
    _sign_in(page, *second_user)
    assert page.inner_text("#user-name") == second_user[0]
    caches = page.evaluate(READ_CACHES)
    assert not _holding(caches, path), f"the previous user's embedding is still cached: {caches}"
    assert first_cache not in caches

    # the next user's embeddings go to a cache of their own session
    own = _open_uploaded_image(page, studio, _unique_image(tmp_path, "second"))
    assert page.get_attribute("#viewer", "data-embedding-source") == "network"
    (second_cache,) = _holding(_wait_until_cached(page, _embedding_path(own)), _embedding_path(own))
    assert second_cache.startswith("kdsam-embeddings-v2-") and second_cache != first_cache
