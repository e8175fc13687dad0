"""Losses (eqs. 1–4) and metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from kdsam_core.evaluation.metrics import bootstrap_ci, dice_score, iou_score, summarize
from kdsam_core.losses import (
    DistillationLoss,
    EmbeddingRenderer,
    PerceptualLoss,
    VGG16Features,
    dice_loss,
    mse_loss,
    segmentation_loss,
)
from kdsam_core.modeling.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def perceptual():
    torch.manual_seed(0)
    sample = torch.randn(4, 256, 8, 8)
    return PerceptualLoss(EmbeddingRenderer.fit(sample), VGG16Features())


def test_mse_is_the_mean_squared_difference():
    a, b = torch.zeros(1, 256, 2, 2), torch.zeros(1, 256, 2, 2)
    b[0, 0, 0, 0] = 2.0
    assert float(mse_loss(a, b)) == pytest.approx(4.0 / (256 * 4))


def test_perceptual_loss_is_zero_for_identical_inputs_and_positive_otherwise(perceptual):
    x = torch.randn(2, 256, 8, 8)
    assert float(perceptual(x, x.clone())) == 0.0
    assert float(perceptual(x, x + 0.1 * torch.randn_like(x))) > 0.0


def test_perceptual_loss_sums_the_four_vgg16_layers_and_backpropagates(perceptual):
    assert perceptual.vgg.layers == ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
    assert perceptual.vgg.weights_source == "random(seed=1234)"
    assert not any(p.requires_grad for p in perceptual.vgg.parameters())
    student = torch.randn(1, 256, 8, 8, requires_grad=True)
    perceptual(student, torch.randn(1, 256, 8, 8)).backward()
    assert student.grad is not None and float(student.grad.abs().sum()) > 0


def test_random_vgg_is_the_same_every_time():
    a, b = VGG16Features(), VGG16Features()
    for (_ka, va), (_kb, vb) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.equal(va, vb)


def test_vgg_weights_file_is_loaded_and_a_wrong_one_named(tmp_path):
    import torchvision

    torch.manual_seed(7)
    # a torchvision vgg16 state dict: features.* (what the loss uses) + classifier.* (ignored)
    from torchvision.models.vgg import cfgs, make_layers

    state = {f"features.{k}": torch.randn_like(v) for k, v in make_layers(cfgs["D"]).state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)
    good = tmp_path / "vgg16.pth"
    torch.save(state, good)
    loaded = VGG16Features(good)
    assert loaded.weights_source == "imagenet:vgg16.pth"
    assert torch.equal(loaded.features[0].weight, state["features.0.weight"])
    bad = tmp_path / "resnet.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), bad)
    with pytest.raises(CheckpointError, match=r"resnet\.pth.*VGG16.*missing keys"):
        VGG16Features(bad)


def test_pca_renderer_gives_unit_variance_channels():
    torch.manual_seed(0)
    basis = torch.randn(256, 3)
    latent = torch.randn(16, 3, 8, 8) * torch.tensor([5.0, 2.0, 1.0]).view(1, 3, 1, 1)
    embeddings = torch.einsum("ck,bkhw->bchw", basis, latent) + 0.01 * torch.randn(16, 256, 8, 8)
    renderer = EmbeddingRenderer.fit(embeddings)
    rendered = renderer(embeddings)
    assert rendered.shape == (16, 3, 8, 8)
    assert rendered.mean(dim=(0, 2, 3)).abs().max() < 1e-3
    assert torch.allclose(rendered.std(dim=(0, 2, 3)), torch.ones(3), atol=1e-2)
    again = EmbeddingRenderer.from_state(renderer.state())
    assert torch.equal(again(embeddings), rendered)


def test_combined_loss_is_mse_plus_lambda_perceptual(perceptual):
    s, t = torch.randn(2, 256, 8, 8), torch.randn(2, 256, 8, 8)
    out = DistillationLoss("mse+perceptual", 0.5, perceptual)(s, t)
    assert float(out.total) == pytest.approx(float(mse_loss(s, t)) + 0.5 * float(perceptual(s, t)), rel=1e-5)
    mse_only = DistillationLoss("mse")(s, t)
    assert mse_only.perceptual is None and float(mse_only.total) == pytest.approx(float(mse_loss(s, t)))
    with pytest.raises(ValueError):
        DistillationLoss("l1")


def test_dice_loss_matches_hand_computation():
    # p = sigmoid(logits): 0.5 everywhere on a 2x2 mask with 1 foreground pixel
    logits = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    # 1 - 2*0.5 / (2.0 + 1) = 1 - 1/3
    assert float(dice_loss(logits, target, eps=0.0)) == pytest.approx(2.0 / 3.0)
    perfect = torch.tensor([[[[50.0, -50.0], [-50.0, -50.0]]]])
    assert float(dice_loss(perfect, target)) == pytest.approx(0.0, abs=1e-6)
    assert float(dice_loss(torch.full((1, 1, 2, 2), -50.0), torch.zeros(1, 1, 2, 2))) == pytest.approx(0.0, abs=1e-6)
    both = segmentation_loss(logits, target, "dice+bce")
    assert float(both) == pytest.approx(2.0 / 3.0 + math.log(2.0), rel=1e-4)


def test_dice_and_iou_metrics_match_hand_computation():
    pred = np.array([[1, 1, 0], [0, 0, 0]])
    gt = np.array([[1, 0, 0], [1, 0, 0]])
    assert dice_score(pred, gt) == pytest.approx(2 * 1 / (2 + 2))
    assert iou_score(pred, gt) == pytest.approx(1 / 3)
    empty = np.zeros((2, 3))
    assert dice_score(empty, empty) == 1.0 and iou_score(empty, empty) == 1.0
    assert dice_score(pred, empty) == 0.0


def test_summary_has_mean_median_and_a_bootstrap_interval_around_the_mean():
    values = np.linspace(0.5, 1.0, 41)
    s = summarize(values, resamples=2000)
    assert s["n"] == 41 and s["mean"] == pytest.approx(0.75) and s["median"] == pytest.approx(0.75)
    assert s["ci_low"] < 0.75 < s["ci_high"] and s["ci_high"] - s["ci_low"] < 0.15
    assert bootstrap_ci(values, resamples=2000) == bootstrap_ci(values, resamples=2000)
    assert summarize([])["mean"] is None
