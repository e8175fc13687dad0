"""The encoders compared, built with random weights (speed does not depend on the weights)."""

from __future__ import annotations

import torch
from torch import nn

#: name → (label, teacher kind or None for the KD-SAM student)
ENCODERS = {
    "sam_vit_h": ("SAM ViT-H", "vit_h"),
    "sam_vit_l": ("SAM ViT-L", "vit_l"),
    "sam_vit_b": ("SAM ViT-B", "vit_b"),
    "mobilesam": ("MobileSAM TinyViT", "vit_t"),
    "kdsam": ("KD-SAM student (ResNet-50 + neck)", None),
    # tiny stand-ins for smoke tests (256 px)
    "tiny_vit": ("tiny test ViT (256 px)", "tiny"),
    "kdsam_tiny": ("tiny KD-SAM student (ResNet-18, 256 px)", None),
}
FULL_SET = ["sam_vit_h", "sam_vit_l", "sam_vit_b", "mobilesam", "kdsam"]
TINY_SET = ["tiny_vit", "kdsam_tiny"]


def build_sam_like(name: str, seed: int = 0) -> nn.Module:
    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling import build_kdsam
    from kdsam_core.modeling.teachers import build_teacher_sam

    torch.manual_seed(seed)
    _label, kind = ENCODERS[name]
    if name == "kdsam":
        return build_kdsam(KDSamConfig(), seed=seed)
    if name == "kdsam_tiny":
        return build_kdsam(KDSamConfig.tiny(), seed=seed)
    return build_teacher_sam(kind)


def build_encoder(name: str, seed: int = 0) -> nn.Module:
    return build_sam_like(name, seed).image_encoder.eval()
