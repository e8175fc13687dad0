"""A trainer uploads a dataset archive on the studio page, reads the report, confirms, and browses it."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import log_in
from tests.web.datasets_support import generic_files, png, zip_bytes

pytestmark = pytest.mark.e2e

# Records what the two progress bars of the upload page showed (the page moves on once validated).
WATCH_PROGRESS = """() => {
  window.__seen = {transfer: 0, validation: []};
  const bar = document.querySelector('#transfer-progress');
  const text = document.querySelector('#validation-text');
  new MutationObserver(() => { window.__seen.transfer = Math.max(window.__seen.transfer, bar.value); })
    .observe(bar, {attributes: true});
  new MutationObserver(() => { window.__seen.validation.push(text.textContent); })
    .observe(text, {childList: true, characterData: true, subtree: true});
}"""


@pytest.fixture
def dataset_zip(tmp_path):
    files = generic_files(5)
    files["data/images/no_mask.png"] = png(seed=4242, width=21)
    path = tmp_path / "e2e-polyps.zip"
    path.write_bytes(zip_bytes(files))
    return path


def test_upload_report_confirm_and_browse_a_dataset(page, studio, dataset_zip):
    log_in(page, studio)
    page.console_messages.clear()  # only the studio page's own messages count (the login page has no favicon)
    failed = []
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(studio.url + "/studio/#/datasets/upload")
    page.wait_for_selector("body[data-studio-state=ready]", state="attached", timeout=30_000)
    page.set_input_files("#upload-file", str(dataset_zip))
    page.fill("#upload-name", "e2e polyps")
    page.evaluate(WATCH_PROGRESS)
    page.click("#upload-submit")

    # transfer, validation, then the report with the problem and the choice to skip it
    page.wait_for_selector("#dataset-report", timeout=60_000)
    seen = page.evaluate("() => window.__seen")
    assert seen["transfer"] == 1 and any(text.startswith("Validat") for text in seen["validation"]), seen
    assert page.get_attribute("#dataset-state", "data-state") == "awaiting_confirmation"
    summary = page.inner_text("#report-summary")
    assert "Generic" in summary or "generic" in summary
    problems = page.inner_text("#problem-list")
    assert "image_without_mask" in problems and "data/images/no_mask.png" in problems
    page.check("#skip-choices input[value=image_without_mask]")
    page.click("#confirm-import")

    # the dataset page: counts, split and thumbnails with mask overlays
    page.wait_for_selector("#dataset-state[data-state=ready]", timeout=60_000)
    counts = page.inner_text("#dataset-counts")
    assert "Images\n5" in counts or "Images\t5" in counts, counts
    split_total = page.eval_on_selector_all(
        "#dataset-split tbody tr td:nth-child(2)", "cells => cells.reduce((s, c) => s + Number(c.textContent), 0)"
    )
    assert split_total == 5
    page.wait_for_function(
        "() => { const imgs = [...document.querySelectorAll('#thumbnail-grid img')];"
        " return imgs.length === 10 && imgs.every(i => i.complete && i.naturalWidth > 0); }",
        timeout=30_000,
    )
    assert page.locator("#thumbnail-grid .thumb").count() == 5

    # jobs start from the dataset page: the fine-tuning form opens with this dataset chosen
    dataset_id = page.url.rstrip("/").split("/")[-1]
    page.click("#start-finetune")
    page.wait_for_url(f"**/jobs/new/finetune?*dataset={dataset_id}*", timeout=10_000)
    errors = [m for m in page.console_messages if m.startswith(("error", "pageerror"))]
    assert not errors, (errors, failed)


def test_a_failed_upload_shows_its_reason_and_creates_no_dataset(page, studio, tmp_path):
    from tests.web.datasets_support import png as png_bytes

    bad = tmp_path / "e2e-evil.zip"
    bad.write_bytes(zip_bytes({**generic_files(2), "../../evil.png": png_bytes()}))
    log_in(page, studio)
    page.goto(studio.url + "/studio/#/datasets/upload")
    page.wait_for_selector("body[data-studio-state=ready]", state="attached", timeout=30_000)
    page.set_input_files("#upload-file", str(bad))
    page.fill("#upload-name", "e2e evil")
    page.click("#upload-submit")

    # the upload session's page: failed, with the reason and the report; nothing was imported
    page.wait_for_selector("#dataset-state[data-state=failed]", timeout=60_000)
    assert "archive_path_traversal" in page.inner_text("#dataset-error")
    assert "../../evil.png" in page.inner_text("#problem-list")
    assert "/datasets/uploads/" in page.url

    # the datasets page lists no dataset, and the failed upload with its reason
    page.goto(studio.url + "/studio/#/datasets")
    page.wait_for_selector("#upload-list", timeout=10_000)
    row = page.locator("#upload-list tr[data-state=failed]").filter(has_text="e2e evil")
    assert "archive_path_traversal" in row.inner_text()
    assert page.locator("#dataset-list tr", has_text="e2e evil").count() == 0
