"""The encoders compared, built with random weights (speed does not depend on the weights)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from kdsam_core.modeling.registry import KDSAM, OFFICIAL_TEACHERS, SAM_VIT_H, TINY

if TYPE_CHECKING:
    from torch import nn

#: The KD-SAM student.
STUDENT = KDSAM
#: The teacher of the headline ratios (``vit_h_over_kdsam_*``).
HEADLINE_TEACHER = SAM_VIT_H.name
#: Tiny stand-ins for smoke tests (256 px): the test ViT and a ResNet-18 student.
TINY_TEACHER = "tiny_vit"
TINY_STUDENT = "kdsam_tiny"

#: name → (label, teacher kind or None for the KD-SAM student)
ENCODERS = {
    **{t.name: (t.encoder_label, t.kind) for t in OFFICIAL_TEACHERS},
    STUDENT: ("KD-SAM student (ResNet-50 + neck)", None),
    TINY_TEACHER: (TINY.encoder_label, TINY.kind),
    TINY_STUDENT: ("tiny KD-SAM student (ResNet-18, 256 px)", None),
}
#: The real encoders, largest first (the order of the tables).
FULL_SET = [*(t.name for t in OFFICIAL_TEACHERS), STUDENT]
TINY_SET = [TINY_TEACHER, TINY_STUDENT]


def build_sam_like(name: str, seed: int = 0) -> nn.Module:
    import torch

    from kdsam_core.config import KDSamConfig
    from kdsam_core.modeling import build_kdsam
    from kdsam_core.modeling.teachers import build_teacher_sam

    torch.manual_seed(seed)
    _label, kind = ENCODERS[name]
    if name == STUDENT:
        return build_kdsam(KDSamConfig(), seed=seed)
    if name == TINY_STUDENT:
        return build_kdsam(KDSamConfig.tiny(), seed=seed)
    return build_teacher_sam(kind)


def build_encoder(name: str, seed: int = 0) -> nn.Module:
    return build_sam_like(name, seed).image_encoder.eval()
