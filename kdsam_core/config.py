"""Typed configuration of the KD-SAM models.

Every architectural number lives here, in one place, so that a checkpoint's metadata can record the
exact configuration it was trained with and rebuild the same module tree.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: SAM's pixel normalisation (ImageNet statistics on the 0..255 scale).
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)
SAM_PIXEL_STD = (58.395, 57.12, 57.375)

#: Version of the preprocessing pipeline; part of every embedding-cache key.
PREPROCESSING_VERSION = "sam-resize-longest-pil-bilinear-v1"


@dataclass(frozen=True)
class StudentConfig:
    """ResNet trunk + neck producing SAM's embedding.

    ``trunk`` is a torchvision ResNet name; with ``resnet50`` at ``img_size=1024`` the trunk's last
    stage is 2048×32×32 and the neck turns it into 256×64×64, exactly SAM's embedding.
    """

    trunk: str = "resnet50"
    img_size: int = 1024
    out_chans: int = 256
    #: Upsampling factor of the neck: trunk stride 32 → embedding stride 16.
    upsample: int = 2


@dataclass(frozen=True)
class KDSamConfig:
    """The KD-SAM model: a student encoder and SAM's prompt encoder + mask decoder."""

    student: StudentConfig = field(default_factory=StudentConfig)
    prompt_embed_dim: int = 256
    mask_in_chans: int = 16
    decoder_transformer_depth: int = 2
    decoder_mlp_dim: int = 2048
    decoder_num_heads: int = 8
    num_multimask_outputs: int = 3
    iou_head_depth: int = 3
    iou_head_hidden_dim: int = 256

    @property
    def img_size(self) -> int:
        return self.student.img_size

    @property
    def embedding_size(self) -> int:
        """Side of the square embedding grid (64 at 1024 input)."""
        return self.student.img_size // 16

    @classmethod
    def tiny(cls) -> KDSamConfig:
        """A small configuration for tests: 256-px input, ResNet-18 trunk, 16×16 embedding."""
        return cls(
            student=StudentConfig(trunk="resnet18", img_size=256, out_chans=256),
            decoder_mlp_dim=256,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KDSamConfig:
        data = dict(data)
        student = StudentConfig(**data.pop("student", {}))
        return cls(student=student, **data)
