"""A team admin starts an ONNX export of the deployment's default model from the studio's job form,
watches the job list until it succeeded, and opens the job."""

from __future__ import annotations

import re

import pytest

from tests.e2e.conftest import log_in

pytestmark = pytest.mark.e2e


def test_start_an_export_job_and_watch_it_succeed(page, studio):
    log_in(page, studio)
    # errors of the studio page (the login page's missing /favicon.ico is not ours)
    studio_errors = []
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and not m.location.get("url", "").endswith("/favicon.ico")
            and studio_errors.append(f"{m.text} ({m.location.get('url')})")
        ),
    )
    page.on("pageerror", lambda error: studio_errors.append(f"pageerror: {error}"))
    page.goto(studio.url + "/studio/#/jobs")
    page.wait_for_selector("body[data-studio-state=ready]", state="attached", timeout=30_000)
    page.wait_for_selector("#job-list", timeout=30_000)

    # "New job" → export: the form is generated from /api/jobs/schemas/ with the defaults filled in
    page.click("#new-job")
    page.click("#kind-export")
    page.wait_for_selector("#job-form[data-kind=export]", timeout=30_000)
    default_model = page.context.request.get(studio.url + "/api/models/active/").json()
    assert page.input_value("#param-model_version") == str(default_model["id"])  # the deployment's default model
    assert page.is_checked("#param-quantize")  # default: also write the int8 decoder
    assert page.locator("#job-team option:checked").inner_text().startswith("Studio")
    assert page.locator("#param-dataset").count() == 0  # an export needs no dataset
    page.click("#job-submit")

    # the job's page opens; the list shows the job until it succeeded
    page.wait_for_url(re.compile(r".*#/jobs/\d+$"), timeout=30_000)
    job_id = int(page.url.rsplit("/", 1)[1])
    page.click("#studio-nav a[href='#/jobs']")
    row = f"#job-list tr[data-job-id='{job_id}']"
    page.wait_for_selector(row, timeout=30_000)
    page.wait_for_selector(f"{row}[data-state=succeeded]", timeout=180_000)
    assert "Succeeded" in page.inner_text(f"{row} .state-badge")

    # open it: state, progress, the exported model version and its int8 decoder, the log
    page.click(f"{row} a.job-link")
    page.wait_for_selector("#job-state[data-state=succeeded]", timeout=30_000)
    assert page.inner_text("#job-title").startswith(f"Job #{job_id}")
    job = page.context.request.get(f"{studio.url}/api/jobs/{job_id}/").json()
    assert job["state"] == "succeeded" and job["params"] == {"model_version": default_model["id"], "quantize": True}
    # the deployment-wide default never changes: the int8 decoder lands on a new version of the team's
    derived = job["result"]["model_version"]
    assert job["result"]["source_version"] == default_model["id"] and derived != default_model["id"]
    assert page.get_attribute("#job-export-model", "href") == f"#/models/{derived}"
    assert page.get_attribute("#job-export-int8", "href") == f"/models/{derived}/decoder_int8.onnx"
    assert page.locator("#job-progress").evaluate("bar => bar.value") == 1
    assert "succeeded" in page.inner_text("#job-log")
    assert page.is_hidden("#job-cancel") and page.is_hidden("#job-retry")

    # the model page links back: lineage, downloads, and the forms to fine-tune / evaluate / export it
    page.click("#job-export-model")
    page.wait_for_selector("#model-state", timeout=30_000)
    assert page.get_attribute("#model-decoder-int8", "href") == f"/models/{derived}/decoder_int8.onnx"
    # a team's version: its forms start in that team
    assert (
        page.get_attribute("#model-export", "href") == f"#/jobs/new/export?team={job['team']}&model_version={derived}"
    )
    assert not studio_errors, studio_errors
