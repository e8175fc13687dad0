"""Model comparison: identical prompts, per-dataset statistics, JSON + Table 1 + figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from kdsam_core.evaluation.evaluate import compare_models, evaluate_model, predict
from kdsam_core.evaluation.reports import markdown_table, write_reports
from kdsam_core.training.data import Sample
from kdsam_core.training.prompts import Prompt
from tests.core.kdsam_testutil import isic, kvasir, tiny_kdsam, tiny_teacher


def test_predict_returns_a_mask_at_the_original_size():
    sample = kvasir()[0]
    image = sample.load_image()
    mask = predict(tiny_kdsam(), image, Prompt(box=np.array([100.0, 100.0, 400.0, 300.0])), torch.device("cpu"))
    assert mask.shape == image.shape[:2] and mask.dtype == bool


def test_records_have_valid_scores_and_the_protocol_box():
    samples = isic()[:2]
    records = evaluate_model(tiny_kdsam(), samples)
    assert [r["id"] for r in records] == [s.id for s in samples]
    for r in records:
        assert 0.0 <= r["dice"] <= 1.0 and 0.0 <= r["iou"] <= r["dice"] + 1e-9
        assert r["prompt"]["box"] is not None and r["prompt"]["points"] is None


def test_comparison_writes_json_table1_and_figures(tmp_path):
    models = {"SAM-tiny": tiny_teacher(), "KD-SAM": tiny_kdsam(seed=1), "random": tiny_kdsam(seed=2)}
    comparison = compare_models(
        models,
        {"Kvasir-SEG": kvasir()[:3], "ISIC 2017": isic()[:3]},
        model_info={"random": {"weights": "random (seed 2)"}},
    )
    # every model saw the same prompts
    for _dataset, by_model in comparison.records.items():
        prompts = [[r["prompt"] for r in records] for records in by_model.values()]
        assert all(p == prompts[0] for p in prompts)
    summary = comparison.summary()
    assert summary["Kvasir-SEG"]["KD-SAM"]["dice"]["n"] == 3
    s = summary["ISIC 2017"]["SAM-tiny"]["dice"]
    assert s["ci_low"] <= s["mean"] <= s["ci_high"]
    paths = write_reports(comparison, tmp_path, models=models)
    data = json.loads((tmp_path / "results.json").read_text())
    assert data["protocol"]["description"] == "one box = ground-truth bounding box, no jitter"
    assert len(data["per_image"]["ISIC 2017"]["random"]) == 3
    table = (tmp_path / "table1.md").read_text()
    assert "| Dataset | SAM-tiny | KD-SAM | random |" in table
    assert "| Kvasir-SEG |" in table and "| Parameters |" in table and "95% CI" in table
    assert "random (seed 2)" in table
    for key in ("figure2", "figure3"):
        png = tmp_path / paths[key].split("/")[-1]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
    assert markdown_table(comparison, "iou").startswith("Table 1. IoU")


def test_a_sample_without_a_mask_is_an_error_not_a_score_against_an_empty_mask():
    sample = Sample(image=kvasir()[0].load_image(), mask=None, id="no-mask")
    prompt = Prompt(box=np.array([100.0, 100.0, 400.0, 300.0]))
    with pytest.raises(ValueError, match="no-mask has none"):
        evaluate_model(tiny_kdsam(), [sample], prompts=[prompt])
