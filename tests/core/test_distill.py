"""Phase 1 (encoder distillation): the loss falls, resume equals an uninterrupted run, caching."""

from __future__ import annotations

import json

import pytest
import torch

from kdsam_core.modeling.checkpoint import load_kdsam
from kdsam_core.training.caches import EmbeddingCache, teacher_identity
from kdsam_core.training.common import PreparedImages
from kdsam_core.training.distill import DistillConfig, distill
from kdsam_core.training.progress import ProgressEvent, StopTraining
from tests.core.kdsam_testutil import SIZE, all_samples, set_threads, tiny_kdsam, tiny_teacher


def embedding_mse(model, teacher, samples) -> float:
    images = PreparedImages(samples, SIZE)
    x = torch.stack([images.tensor(i) for i in range(len(images))])
    with torch.no_grad():
        return float(torch.mean((model.image_encoder.eval()(x) - teacher.image_encoder.eval()(x)) ** 2))


def test_distillation_loss_falls_and_student_mse_halves(tmp_path):
    set_threads()
    samples = all_samples()
    teacher, model = tiny_teacher(), tiny_kdsam()
    before = embedding_mse(model, teacher, samples)
    events: list[ProgressEvent] = []
    config = DistillConfig(epochs=12, batch_size=4, lr=1e-3, early_stopping_patience=50, loss="mse+perceptual")
    result = distill(
        model, teacher, samples, [], tmp_path / "run", config, teacher_kind="tiny", device="cpu", callback=events.append
    )
    losses = [h["train_loss"] for h in result.history]
    assert losses[-1] < 0.6 * losses[0]
    trained, metadata = load_kdsam(result.checkpoint)
    after = embedding_mse(trained, teacher, samples)
    assert after <= 0.5 * before, (before, after)
    # metadata, progress events, run files
    assert metadata["teacher"]["kind"] == "tiny"
    assert metadata["training"]["loss"]["vgg"].startswith("random(seed=")
    kinds = {e.kind for e in events}
    assert {"cache", "step", "epoch"} <= kinds
    step = next(e for e in events if e.kind == "step")
    assert step.lr == pytest.approx(1e-3) and step.throughput > 0 and step.steps == 2
    assert set(step.losses) == {"loss", "mse", "perceptual"}
    json.dumps(step.to_dict())
    assert (tmp_path / "run" / "pca.pt").is_file() and (tmp_path / "run" / "result.json").is_file()


def _run(tmp_path, name, epochs, resume=False, callback=None, cache=None):
    samples = all_samples()
    config = DistillConfig(
        epochs=epochs, batch_size=3, lr=1e-3, early_stopping_patience=50, plateau_patience=0, loss="mse+perceptual"
    )
    return distill(
        tiny_kdsam(),
        tiny_teacher(),
        samples[:6],
        samples[6:],
        tmp_path / name,
        config,
        cache_dir=cache or tmp_path / "cache",
        teacher_kind="tiny",
        device="cpu",
        resume=resume,
        callback=callback,
    )


def test_resume_equals_uninterrupted_and_cache_is_reused(tmp_path):
    set_threads()
    full = _run(tmp_path, "full", 3)
    assert full.cache["misses"] == 8 and full.cache["hits"] == 0

    def interrupt(event: ProgressEvent) -> None:
        if event.kind == "step" and event.epoch == 3:
            raise StopTraining  # killed in the middle of epoch 3: last.pt holds epoch 2

    _run(tmp_path, "split", 3, callback=interrupt)
    state = torch.load(tmp_path / "split" / "last.pt", weights_only=False)
    assert state["epoch"] == 2
    resumed = _run(tmp_path, "split", 3, resume=True)
    assert resumed.cache["hits"] == 8 and resumed.cache["misses"] == 0 and resumed.cache["hit_rate"] == 1.0
    assert [h["val_loss"] for h in resumed.history] == [h["val_loss"] for h in full.history]
    a = load_kdsam(full.checkpoint)[0].state_dict()
    b = load_kdsam(resumed.checkpoint)[0].state_dict()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def test_cache_is_float16_and_keyed_by_content_teacher_and_preprocessing(tmp_path):
    teacher = tiny_teacher()
    cache = EmbeddingCache(tmp_path, teacher_identity(teacher, "tiny"), SIZE)
    other = EmbeddingCache(tmp_path, teacher_identity(tiny_teacher(seed=1), "tiny"), SIZE)
    other_prep = EmbeddingCache(tmp_path, teacher_identity(teacher, "tiny"), SIZE, preprocessing="v2")
    assert len({cache.folder, other.folder, other_prep.folder}) == 3
    cache.put("ab" * 32, torch.randn(1, 256, 8, 8))
    assert cache.get("ab" * 32).dtype.name == "float16"
    assert ("ab" * 32) in cache and ("ab" * 32) not in other


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"last\.pt"):
        _run(tmp_path, "none", 1, resume=True)


def test_progress_renderers_accept_every_event_kind():
    import io

    from kdsam_core.training.progress import JsonLinesProgress, TqdmProgress

    events = [
        ProgressEvent(kind="cache", phase="distill", step=3, steps=8, extra={"what": "teacher embeddings", "hits": 3}),
        ProgressEvent(
            kind="step",
            phase="distill",
            epoch=1,
            epochs=2,
            step=1,
            steps=2,
            losses={"loss": 1.5},
            lr=1e-4,
            throughput=12.0,
            eta_s=75.0,
        ),
        ProgressEvent(kind="epoch", phase="distill", epoch=1, epochs=2, losses={"train_loss": 1.2, "val_loss": 1.3}),
    ]
    bar_stream, json_stream = io.StringIO(), io.StringIO()
    bar, lines = TqdmProgress(bar_stream), JsonLinesProgress(json_stream)
    for event in events:
        bar(event)
        lines(event)
    bar.close()
    assert "epoch 1/2" in bar_stream.getvalue() and "val_loss=1.3" in bar_stream.getvalue()
    parsed = [json.loads(line) for line in json_stream.getvalue().splitlines()]
    assert [p["kind"] for p in parsed] == ["cache", "step", "epoch"] and parsed[1]["eta_s"] == 75.0
