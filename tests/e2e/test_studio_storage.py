"""The datasets page shows each team's storage ("x of y used" with a bar), and an upload past a team's quota
is refused on the upload page with the server's message."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import uuid

import pytest

from tests.e2e.conftest import REPO_ROOT, log_in
from tests.web.datasets_support import generic_files, zip_bytes

pytestmark = pytest.mark.e2e

TEAM = "zz-quota-e2e"


def _manage_shell(studio, code: str) -> None:
    """Run ``code`` on the studio's own database, as an admin with a shell would."""
    env = {k: v for k, v in studio.env.items() if not k.startswith("PYTEST_")}
    subprocess.run([sys.executable, "manage.py", "shell", "-c", code], cwd=REPO_ROOT, env=env, check=True, timeout=120)


def test_the_datasets_page_shows_each_teams_storage_and_an_upload_past_the_quota_is_refused(page, studio, tmp_path):
    # a user of their own: images count toward every team of their uploader, and the shared studio's admin
    # has uploaded images in other tests
    member = dataclasses.replace(studio, username=f"quota-{uuid.uuid4().hex[:6]}", password=uuid.uuid4().hex)
    _manage_shell(
        studio,
        "from django.contrib.auth import get_user_model; from webapp.accounts.models import Team; "
        "from webapp.accounts.services import add_member; "
        f"team, _ = Team.objects.get_or_create(name={TEAM!r}); team.storage_quota_gb = 2048 / 1024**3; team.save(); "
        f"user = get_user_model().objects.create_user({member.username!r}, password={member.password!r}); "
        "add_member(team, user, 'admin')",
    )
    log_in(page, member)
    page.goto(studio.url + "/studio/#/datasets")
    row = page.locator("#team-storage .storage-row", has_text=TEAM)
    row.wait_for(timeout=30_000)
    assert row.locator(".storage-text").inner_text() == "0 B of 2.0 KB used"
    assert row.get_attribute("data-level") == "ok"
    bar_value = row.locator("progress.storage-bar").evaluate("bar => bar.value")
    assert bar_value == 0

    archive = tmp_path / "e2e-too-big.zip"
    archive.write_bytes(zip_bytes(generic_files(8)))
    assert archive.stat().st_size > 2048
    page.goto(studio.url + "/studio/#/datasets/upload")
    page.wait_for_selector("#upload-team", timeout=30_000)
    page.select_option("#upload-team", label=TEAM)
    assert page.inner_text("#upload-team-storage") == "0 B of 2.0 KB used"
    page.set_input_files("#upload-file", str(archive))
    page.click("#upload-submit")
    page.wait_for_function(
        "() => (document.body.innerText || '').includes('storage quota')", timeout=30_000, polling=200
    )
    body = page.inner_text("body")
    assert f"Team {TEAM} has 2.0 KB left of its 2.0 KB storage quota (0 B used): e2e-too-big.zip (" in body
    assert "Delete datasets or images the team no longer needs, or ask an admin" in body
