"""The student image encoder: a ResNet trunk and a neck to SAM's 256×64×64 embedding."""

from __future__ import annotations

import torch
import torch.nn.functional as F
import torchvision
from segment_anything.modeling.common import LayerNorm2d
from torch import nn

from kdsam_core.config import StudentConfig

#: Channels of the last stage of each supported torchvision ResNet.
TRUNK_CHANNELS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "resnet101": 2048}


class StudentEncoder(nn.Module):
    """ResNet trunk (torchvision layout, no pooling or classifier) followed by a neck.

    Input: ``(B, 3, S, S)`` normalised, padded images (``S = config.img_size``, 1024 by default).
    Output: ``(B, 256, S/16, S/16)`` embeddings, a drop-in replacement for SAM's ``ImageEncoderViT``
    (it also exposes ``img_size``, which ``segment_anything.modeling.Sam`` reads).

    Neck (METHOD.md: "reduce the channel dimensions from 2048 to 256 and incorporate upsampling"):
    1×1 conv 2048→256, LayerNorm2d, bilinear ×2 upsampling (stride 32 → 16), 3×3 conv 256→256,
    LayerNorm2d; the LayerNorm2d matches the normalisation at the end of SAM's own neck.
    """

    def __init__(self, config: StudentConfig | None = None) -> None:
        super().__init__()
        config = config or StudentConfig()
        if config.trunk not in TRUNK_CHANNELS:
            raise ValueError(f"unknown student trunk {config.trunk!r}; choose one of {sorted(TRUNK_CHANNELS)}")
        if config.img_size % 32:
            raise ValueError(f"student img_size must be a multiple of 32, got {config.img_size}")
        self.config = config
        self.img_size = config.img_size
        resnet = getattr(torchvision.models, config.trunk)(weights=None)
        self.trunk = nn.Sequential(
            resnet.conv1,
            resnet.bn1,
            resnet.relu,
            resnet.maxpool,
            resnet.layer1,
            resnet.layer2,
            resnet.layer3,
            resnet.layer4,
        )
        in_chans = TRUNK_CHANNELS[config.trunk]
        self.neck_reduce = nn.Sequential(
            nn.Conv2d(in_chans, config.out_chans, kernel_size=1, bias=False),
            LayerNorm2d(config.out_chans),
        )
        self.neck_refine = nn.Sequential(
            nn.Conv2d(config.out_chans, config.out_chans, kernel_size=3, padding=1, bias=False),
            LayerNorm2d(config.out_chans),
        )
        self.upsample = config.upsample

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, S, S)`` → ``(B, 256, S/16, S/16)``."""
        features = self.trunk(images)  # (B, C, S/32, S/32)
        features = self.neck_reduce(features)
        if self.upsample != 1:
            features = F.interpolate(features, scale_factor=self.upsample, mode="bilinear", align_corners=False)
        embedding: torch.Tensor = self.neck_refine(features)
        return embedding

    def load_imagenet_trunk(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Initialise the trunk from a torchvision ImageNet ResNet state dict (``fc.*`` ignored)."""
        names = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
        remapped = {}
        for key, value in state_dict.items():
            prefix, _, rest = key.partition(".")
            if prefix in names:
                remapped[f"{names.index(prefix)}.{rest}"] = value
        missing, _unexpected = self.trunk.load_state_dict(remapped, strict=False)
        if missing:
            raise ValueError(
                f"ImageNet {self.config.trunk} weights are missing {len(missing)} trunk keys, e.g. {missing[:5]}"
            )
