"""Smoke tests of the benchmark scripts: each starts and writes valid JSON on a tiny input.

No timing is asserted and nothing here measures anything: ``--tiny`` swaps in 256-px models, one
repetition and a handful of prompts. The benchmarks that start the real server or Chromium are
``e2e``. The suite itself runs only through ``make bench`` / ``python -m bench.run_all``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import run_all

REQUIRED_META = ("date", "git", "machine", "versions")


def _check(path: Path) -> dict:
    data = json.loads(path.read_text())
    for key in ("benchmark", "description", "method", "meta", "notes"):
        assert key in data, f"{path.name} lacks {key!r}"
    for key in REQUIRED_META:
        assert key in data["meta"], f"{path.name} meta lacks {key!r}"
    assert data["meta"]["tiny"] is True
    assert data["meta"]["machine"]["threads"] >= 1
    assert "torch" in data["meta"]["versions"]
    return data


def _run(module, tmp_path: Path, *extra: str) -> dict:
    assert module.main(["--tiny", "--out", str(tmp_path), *extra]) == 0
    return _check(tmp_path / f"{module.NAME}.json")


def test_encoder(tmp_path):
    from bench import encoder

    data = _run(encoder, tmp_path, "--models", "kdsam_tiny")
    row = data["models"][0]
    assert row["params"] > 0 and row["flops"] > 0 and row["latency"]["n"] == 1
    assert data["matmul_peak"]["peak_gflops"] > 0


def test_allocator(tmp_path):
    from bench import allocator
    from bench.common import SERVING_MALLOC

    data = _run(allocator, tmp_path)
    assert {r["allocator"] for r in data["rows"]} == {"glibc-default", SERVING_MALLOC}


def test_serving(tmp_path):
    from bench import serving

    data = _run(serving, tmp_path)
    assert "eager_fp32" in data["paths"] and data["recommended_default"]["path"] in data["paths"]
    assert data["paths"]["eager_fp32"]["mask_iou_min"] == 1.0


def test_decoder(tmp_path):
    from bench import decoder

    data = _run(decoder, tmp_path, "--prompts", "3")
    assert set(data["rows"]) == {"pytorch_fp32", "ort_fp32_reference", "ort_fp32", "ort_fp32_lowres", "ort_int8"}
    assert data["gflops"]["fast"] < data["gflops"]["reference"]


def test_payload(tmp_path):
    from bench import payload

    data = _run(payload, tmp_path)
    assert data["rows"]["float32"]["iou_min"] == 1.0
    assert data["rows"]["float16"]["bytes_mean"] * 2 == data["rows"]["float32"]["bytes_mean"]


def test_training(tmp_path):
    from bench import training

    data = _run(training, tmp_path)
    if "status" not in data:
        assert data["finetune"]["cached"]["cache"]["hits"] > 0
        assert data["distill"]["warm_cache"]["cache"]["hits"] > 0


def test_report_renders_every_section(tmp_path):
    from bench import decoder, payload, report

    _run(decoder, tmp_path, "--prompts", "2")
    _run(payload, tmp_path)
    out = tmp_path / "BENCHMARKS.md"
    assert report.main(["--results", str(tmp_path), "--output", str(out)]) == 0
    text = out.read_text()
    assert "## Mask decoder per prompt" in text and "**How measured.**" in text
    assert "_Not measured yet" in text  # the encoder was not run here
    assert (tmp_path / "plots" / "decoder.png").is_file()


def test_run_all_lists_every_benchmark_module():
    modules = {p.stem for p in Path(run_all.__file__).parent.glob("*.py")}
    assert set(run_all.CPU_SUITE) <= modules
    with pytest.raises(SystemExit):
        run_all.main(["--only", "no_such_benchmark"])


@pytest.mark.e2e
def test_decoder_browser(tmp_path):
    from bench import decoder_browser

    data = _run(decoder_browser, tmp_path, "--prompts", "3")
    assert data.get("status") or all("latency" in r for r in data["rows"].values()), data["rows"]
    if not data.get("status"):
        # the WASM float32 ceiling of the same browser, per thread count
        assert all(v["peak_gflops"] > 0 for v in data["wasm_matmul_peak"].values()), data["wasm_matmul_peak"]


@pytest.mark.e2e
def test_privacy(tmp_path):
    from bench import privacy

    data = _run(privacy, tmp_path, "--runs", "1")
    assert data.get("status") or all("run" in r for r in data["rows"].values()), data["rows"]


@pytest.mark.e2e
def test_server(tmp_path):
    from bench import server

    data = _run(server, tmp_path)
    assert data.get("status") or data["rows"]["upload_to_first_mask"]["total_s"]["n"] == 2


@pytest.mark.e2e
def test_api_load(tmp_path):
    from bench import api_load

    data = _run(api_load, tmp_path, "--duration", "1")
    assert data["levels"][0]["requests"] > 0
    assert data["upload_burst"]["accepted"] == data["upload_burst"]["uploads"]
    # nginx (make test installs it) served the same file, directly and as the studio's X-Accel-Redirect proxy
    assert data["headline"]["embedding_vs_nginx"] > 0
    assert data["headline"]["embedding_vs_nginx_without_proxy"] > 0
