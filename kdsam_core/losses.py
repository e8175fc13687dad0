"""The losses of the paper: MSE (eq. 2), perceptual (eq. 3), their sum (eq. 1) and Dice (eq. 4).

See ``docs/method.md`` for the mapping of each equation to these functions and for the choices
METHOD.md settles (the PCA rendering of embeddings for VGG, the random fixed-seed VGG fallback).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: Indices in ``torchvision.models.vgg16().features`` of the ReLUs the perceptual loss reads.
VGG16_LAYERS = {"relu1_2": 3, "relu2_2": 8, "relu3_3": 15, "relu4_3": 22}
#: ImageNet statistics expected by torchvision's VGG.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Seed of the random VGG used when no ImageNet weights file is given.
RANDOM_VGG_SEED = 1234


def mse_loss(student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean over every element of ``(f_T - f_S)²``."""
    return F.mse_loss(student.float(), teacher.float())


# --------------------------------------------------------------------------------------------------
# Rendering of 256-channel embeddings as 3-channel images (fixed PCA projection)
# --------------------------------------------------------------------------------------------------


class EmbeddingRenderer(nn.Module):
    """Fixed linear projection ``256 → 3`` of an embedding, normalised to VGG's input statistics.

    ``render(e)[:, k] = ((e - mean) · components[k]) / scale[k]`` gives each channel zero mean and
    unit variance over the teacher embeddings it was fitted on, which is the distribution of an
    ImageNet-normalised image (``(x - IMAGENET_MEAN) / IMAGENET_STD``) that VGG expects.
    The buffers are stored with the run (checkpoint + ``pca.pt``) so resumed runs use the same one.
    """

    mean: torch.Tensor
    components: torch.Tensor
    scale: torch.Tensor

    def __init__(self, mean: torch.Tensor, components: torch.Tensor, scale: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().float().reshape(-1))
        self.register_buffer("components", components.detach().float().reshape(3, -1))
        self.register_buffer("scale", scale.detach().float().reshape(3).clamp_min(1e-8))

    @classmethod
    def fit(cls, embeddings: torch.Tensor, max_vectors: int = 200_000, seed: int = 0) -> EmbeddingRenderer:
        """Top three principal components of ``(N, C, H, W)`` teacher embeddings (pixels as samples)."""
        vectors = embeddings.detach().float().permute(0, 2, 3, 1).reshape(-1, embeddings.shape[1])
        if vectors.shape[0] > max_vectors:
            generator = torch.Generator().manual_seed(seed)
            vectors = vectors[torch.randperm(vectors.shape[0], generator=generator)[:max_vectors]]
        mean = vectors.mean(0)
        centred = vectors - mean
        # Eigen-decomposition of the C×C covariance (deterministic, C = 256).
        cov = centred.double().T @ centred.double() / max(1, centred.shape[0] - 1)
        eigvals, eigvecs = torch.linalg.eigh(cov)
        order = torch.argsort(eigvals, descending=True)[:3]
        components = eigvecs[:, order].T.float()
        # Fix the sign of each component (largest-magnitude coefficient positive) for reproducibility.
        signs = torch.sign(components.gather(1, components.abs().argmax(1, keepdim=True))).clamp_min(0) * 2 - 1
        components = components * signs
        scale = (centred @ components.T).std(0)
        return cls(mean, components, scale)

    def forward(self, embedding: torch.Tensor) -> torch.Tensor:
        centred = embedding.float() - self.mean.view(1, -1, 1, 1)
        projected = torch.einsum("bchw,kc->bkhw", centred, self.components)
        return projected / self.scale.view(1, 3, 1, 1)

    def state(self) -> dict[str, torch.Tensor]:
        return {"mean": self.mean.cpu(), "components": self.components.cpu(), "scale": self.scale.cpu()}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> EmbeddingRenderer:
        return cls(state["mean"], state["components"], state["scale"])


# --------------------------------------------------------------------------------------------------
# VGG16 features and the perceptual loss (eq. 3)
# --------------------------------------------------------------------------------------------------


class VGG16Features(nn.Module):
    """VGG16 ``features`` up to ``relu4_3``, frozen; returns the activations of ``layers``.

    ``weights``: path of a local torchvision ``vgg16`` ImageNet state dict. Without it the network is
    randomly initialised with :data:`RANDOM_VGG_SEED` (``self.weights_source`` records which).
    """

    def __init__(self, weights: Path | str | None = None, layers: tuple[str, ...] = tuple(VGG16_LAYERS)) -> None:
        super().__init__()
        unknown = set(layers) - set(VGG16_LAYERS)
        if unknown:
            raise ValueError(f"unknown VGG16 layers {sorted(unknown)}; choose from {list(VGG16_LAYERS)}")
        self.layers = tuple(layers)
        last = max(VGG16_LAYERS[name] for name in self.layers)
        from torchvision.models.vgg import cfgs, make_layers

        rng = torch.random.get_rng_state()
        torch.manual_seed(RANDOM_VGG_SEED)
        try:
            # Only VGG16's convolutional part (building the 120M-parameter classifier costs seconds).
            features = make_layers(cfgs["D"], batch_norm=False)
            for module in features.modules():  # torchvision's own VGG initialisation of conv layers
                if isinstance(module, nn.Conv2d):
                    nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                    if module.bias is not None:  # always true for VGG16's convolutions
                        nn.init.constant_(module.bias, 0)
        finally:
            torch.random.set_rng_state(rng)
        if weights is not None:
            from kdsam_core.modeling.checkpoint import _read_file, verify_state_dict

            state_dict = _read_file(Path(weights), "torchvision VGG16 ImageNet")
            reference = {f"features.{k}": v for k, v in features.state_dict().items()}
            verify_state_dict(state_dict, reference, Path(weights), "torchvision VGG16", prefixes=("features.",))
            features.load_state_dict(
                {k[len("features.") :]: v for k, v in state_dict.items() if k.startswith("features.")}
            )
            self.weights_source = f"imagenet:{Path(weights).name}"
        else:
            self.weights_source = f"random(seed={RANDOM_VGG_SEED})"
        self.features = features[: last + 1]
        self.features.requires_grad_(False)
        self.features.eval()

    def train(self, mode: bool = True) -> VGG16Features:  # always frozen
        return super().train(False)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        wanted = {VGG16_LAYERS[name]: name for name in self.layers}
        out = {}
        for index, layer in enumerate(self.features):
            x = layer(x)
            if index in wanted:
                out[wanted[index]] = x
        return out


class PerceptualLoss(nn.Module):
    """Eq. 3: ``Σ_l mean((φ_l(render(f_T)) − φ_l(render(f_S)))²)`` over VGG16 relu1_2…relu4_3."""

    def __init__(self, renderer: EmbeddingRenderer, vgg: VGG16Features | None = None) -> None:
        super().__init__()
        self.renderer = renderer
        self.vgg = vgg or VGG16Features()

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.renderer(student), self.renderer(teacher.detach())], 0)
        features = self.vgg(both)
        total = student.new_zeros((), dtype=torch.float32)
        for activation in features.values():
            s, t = activation.float().chunk(2, 0)
            total = total + F.mse_loss(s, t.detach())
        return total


@dataclass
class DistillationLossOutput:
    total: torch.Tensor
    mse: torch.Tensor
    perceptual: torch.Tensor | None

    def as_floats(self) -> dict[str, float]:
        out = {"loss": float(self.total.detach()), "mse": float(self.mse.detach())}
        if self.perceptual is not None:
            out["perceptual"] = float(self.perceptual.detach())
        return out


class DistillationLoss(nn.Module):
    """Eq. 1: ``L = L_MSE + λ·L_P`` (``mode="mse+perceptual"``) or ``L_MSE`` alone (``mode="mse"``)."""

    MODES = ("mse", "mse+perceptual")

    def __init__(
        self, mode: str = "mse+perceptual", perceptual_weight: float = 1.0, perceptual: PerceptualLoss | None = None
    ) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown distillation loss {mode!r}; choose one of {self.MODES}")
        if mode == "mse+perceptual" and perceptual is None:
            raise ValueError("mode 'mse+perceptual' needs a PerceptualLoss (with its PCA renderer)")
        self.mode = mode
        self.perceptual_weight = float(perceptual_weight)
        self.perceptual = perceptual if mode == "mse+perceptual" else None

    def forward(self, student: torch.Tensor, teacher: torch.Tensor) -> DistillationLossOutput:
        mse = mse_loss(student, teacher)
        if self.perceptual is None:
            return DistillationLossOutput(mse, mse, None)
        perceptual = self.perceptual(student.float(), teacher.float())
        return DistillationLossOutput(mse + self.perceptual_weight * perceptual, mse, perceptual)

    def describe(self) -> dict[str, Any]:
        info: dict[str, Any] = {"mode": self.mode}
        if self.perceptual is not None:
            info.update(
                perceptual_weight=self.perceptual_weight,
                vgg=self.perceptual.vgg.weights_source,
                vgg_layers=list(self.perceptual.vgg.layers),
                rendering="pca256to3",
            )
        return info


# --------------------------------------------------------------------------------------------------
# Dice loss (eq. 4)
# --------------------------------------------------------------------------------------------------


def dice_loss(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-6, reduction: str = "mean") -> torch.Tensor:
    """Eq. 4 per mask: ``1 − 2Σ p g / (Σ p + Σ g)`` with ``p = sigmoid(logits)``.

    ``logits`` and ``target`` are ``(B, ...)``; sums run over everything but the batch dimension.
    ``eps`` keeps an empty prediction on an empty target at loss 0.
    """
    p = torch.sigmoid(logits.float()).flatten(1)
    g = target.float().flatten(1)
    intersection = (p * g).sum(1)
    loss = 1.0 - (2.0 * intersection + eps) / (p.sum(1) + g.sum(1) + eps)
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def segmentation_loss(
    logits: torch.Tensor, target: torch.Tensor, mode: str = "dice", bce_weight: float = 1.0
) -> torch.Tensor:
    """Fine-tuning loss: ``dice`` (eq. 4) or ``dice+bce`` (Dice + ``bce_weight``·binary cross-entropy)."""
    loss = dice_loss(logits, target)
    if mode == "dice":
        return loss
    if mode == "dice+bce":
        return loss + bce_weight * F.binary_cross_entropy_with_logits(logits.float(), target.float())
    raise ValueError(f"unknown fine-tuning loss {mode!r}; choose 'dice' or 'dice+bce'")
