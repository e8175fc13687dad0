"""Phase 2 (decoder fine-tuning) and prompt simulation."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort
import pytest
import torch

from kdsam_core.evaluation.evaluate import evaluate_model
from kdsam_core.inference import decode
from kdsam_core.modeling.checkpoint import load_kdsam
from kdsam_core.training.finetune import FinetuneConfig, _decode_many, finetune
from kdsam_core.training.prompts import (
    EVAL_PROTOCOL,
    Prompt,
    PromptConfig,
    box_from_mask,
    correction_click,
    simulate_prompt,
    to_model_space,
)
from tests.core.kdsam_testutil import all_samples, set_threads, tiny_kdsam


def test_box_from_mask_jitter_and_points():
    mask = np.zeros((50, 80), dtype=np.uint8)
    mask[10:20, 30:60] = 1
    assert box_from_mask(mask).tolist() == [30, 10, 59, 19]
    rng = np.random.default_rng(0)
    exact = simulate_prompt(mask, EVAL_PROTOCOL, rng)
    assert exact.box.tolist() == [30, 10, 59, 19] and exact.points is None
    for _ in range(20):
        jittered = simulate_prompt(mask, PromptConfig(box_jitter=5), rng).box
        assert np.abs(jittered - [30, 10, 59, 19]).max() <= 5
        assert 0 <= jittered[0] <= jittered[2] <= 79 and 0 <= jittered[1] <= jittered[3] <= 49
    pts = simulate_prompt(mask, PromptConfig(mode="points", positive_points=3, negative_points=2), rng)
    assert pts.labels.tolist() == [1, 1, 1, 0, 0]
    for (x, y), label in zip(pts.points.astype(int), pts.labels):
        assert mask[y, x] == label
    assert box_from_mask(np.zeros((4, 4))) is None


def test_correction_click_goes_to_the_centre_of_the_larger_error():
    gt = np.zeros((40, 40), dtype=bool)
    gt[5:35, 5:35] = True
    pred = np.zeros_like(gt)
    pred[5:35, 5:20] = True  # right half missed → positive click in it
    (x, y), label = correction_click(pred, gt)
    assert label == 1 and 20 <= x < 35 and 5 <= y < 35
    assert correction_click(gt, gt) is None


def test_box_prompt_in_model_space_uses_onnx_corner_labels():
    coords, labels = to_model_space(Prompt(box=np.array([0.0, 0.0, 99.0, 49.0])), (50, 100), 128)
    assert labels.tolist() == [[2.0, 3.0]]
    assert coords[0, 1].tolist() == pytest.approx([99 * 1.28, 49 * 1.28])


def test_batched_decoder_equals_one_image_at_a_time():
    model = tiny_kdsam()
    rng = np.random.default_rng(0)
    masks = [s.load_mask() for s in all_samples()[:3]]
    prompts = [simulate_prompt(m, PromptConfig(mode="box+points", box_jitter=3), rng) for m in masks]
    embeddings = [torch.randn(1, 256, 8, 8) for _ in masks]
    originals = [m.shape for m in masks]
    with torch.no_grad():
        batched = _decode_many(model, embeddings, prompts, originals)
        for e, p, o, b in zip(embeddings, prompts, originals, batched):
            single, _ = decode(model, e, p, o)
            assert torch.allclose(single, b, atol=1e-5)


def test_finetuning_raises_dice_on_a_tiny_overfit_set(tmp_path):
    set_threads()
    samples = all_samples()[2:6]  # two polyps, two skin lesions
    model = tiny_kdsam()
    before = np.mean([r["dice"] for r in evaluate_model(model, samples)])
    config = FinetuneConfig(
        epochs=25,
        batch_size=4,
        lr=1e-3,
        prompts=PromptConfig(box_jitter=0),
        early_stopping_patience=100,
        export_onnx=True,
    )
    result = finetune(model, samples, samples, tmp_path / "ft", config, device="cpu")
    tuned, metadata = load_kdsam(result.checkpoint)
    after = np.mean([r["dice"] for r in evaluate_model(tuned, samples)])
    assert after > before + 0.15, (before, after)
    assert result.evaluation["dice"]["mean"] == pytest.approx(after)
    assert metadata["metrics"]["val_dice_mean"] == pytest.approx(after)
    # the encoder is frozen: identical to the starting model
    start = tiny_kdsam().image_encoder.state_dict()
    for key, value in tuned.image_encoder.state_dict().items():
        assert torch.equal(value, start[key]), key
    # a new decoder version + its ONNX exports, which run in onnxruntime
    assert set(result.onnx) == {"single", "multimask"}
    session = ort.InferenceSession(result.onnx["single"], providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["masks", "iou_predictions", "low_res_masks"]
    saved = json.loads((tmp_path / "ft" / "evaluation.json").read_text())
    assert saved["split"] == "val" and len(saved["per_image"]) == 4
    # second run over the same images: student embeddings come from the cache
    again = finetune(
        tiny_kdsam(),
        samples,
        [],
        tmp_path / "ft2",
        FinetuneConfig(epochs=1, export_onnx=False),
        cache_dir=tmp_path / "ft" / "cache",
        device="cpu",
    )
    assert again.cache["hit_rate"] == 1.0


def test_iterative_clicks_and_dice_bce_train(tmp_path):
    samples = all_samples()[:2]
    config = FinetuneConfig(
        epochs=1,
        batch_size=2,
        loss="dice+bce",
        export_onnx=False,
        evaluate=False,
        prompts=PromptConfig(mode="box+points", iterative_clicks=2),
    )
    result = finetune(tiny_kdsam(), samples, [], tmp_path / "ft", config, device="cpu")
    assert np.isfinite(result.history[0]["train_loss"])


def test_finetune_resume_equals_uninterrupted(tmp_path):
    from kdsam_core.training.progress import StopTraining

    samples = all_samples()[:3]
    config = FinetuneConfig(
        epochs=3,
        batch_size=2,
        lr=1e-3,
        export_onnx=False,
        evaluate=False,
        early_stopping_patience=50,
        prompts=PromptConfig(box_jitter=5),
    )
    full = finetune(
        tiny_kdsam(), samples, samples[:1], tmp_path / "full", config, cache_dir=tmp_path / "c", device="cpu"
    )

    def interrupt(event):
        if event.kind == "step" and event.epoch == 3:
            raise StopTraining

    finetune(
        tiny_kdsam(),
        samples,
        samples[:1],
        tmp_path / "split",
        config,
        cache_dir=tmp_path / "c",
        device="cpu",
        callback=interrupt,
    )
    resumed = finetune(
        tiny_kdsam(),
        samples,
        samples[:1],
        tmp_path / "split",
        config,
        cache_dir=tmp_path / "c",
        device="cpu",
        resume=True,
    )
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    a, b = load_kdsam(full.checkpoint)[0].state_dict(), load_kdsam(resumed.checkpoint)[0].state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
