"""The one table of teacher models (like segment-anything's ``sam_model_registry``).

Every teacher is named here once: its *kind* (what ``kdsam distill --teacher`` and the distill job's
``teacher`` parameter take, and the key of the upstream ``sam_model_registry``), its *model name*
(what ``kdsam params/evaluate/export/embed --model`` take, and the web registry's
``ModelVersion.architecture``), its human label, its builder, the file name of its official
checkpoint and its architecture. The CLI choices, the job-parameter schema, the registry's
architecture choices, the missing-weights messages and the benchmarks all derive from it.

This module imports neither torch nor Django, so that argument parsers, Django models and reports
can read it cheaply; the builders import their model code when called.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from torch import nn

#: Model name of the KD-SAM student (``--model kdsam=FILE``, ``ModelVersion.architecture``).
KDSAM = "kdsam"
#: Human label of the KD-SAM student.
KDSAM_LABEL = "KD-SAM (ResNet-50 student)"

#: Families: which upstream package builds the teacher.
SAM_FAMILY = "SAM"
MOBILESAM_FAMILY = "MobileSAM"
TEST_FAMILY = "test"


@dataclass(frozen=True)
class Teacher:
    """One teacher model: SAM ViT-H/L/B, MobileSAM's TinyViT or the tiny test ViT."""

    #: Teacher kind: ``kdsam distill --teacher``, the distill job's ``teacher``, ``ModelVersion.teacher``;
    #: also the key of the upstream ``sam_model_registry``.
    kind: str
    #: Model name: ``--model NAME=FILE`` of the CLI and ``ModelVersion.architecture``.
    name: str
    #: Human name (error messages, the registry's architecture choices).
    label: str
    #: Name of its image encoder in benchmark tables.
    encoder_label: str
    #: :data:`SAM_FAMILY`, :data:`MOBILESAM_FAMILY` or :data:`TEST_FAMILY`.
    family: str
    #: ``builder(teacher, img_size)``: a randomly initialised model (no weights), not yet in eval mode.
    builder: Callable[[Teacher, int | None], nn.Module]
    #: File name of the official checkpoint, as published (``None``: no official file, test only).
    checkpoint: str | None
    #: Width of the image encoder (ViT embedding dimension; TinyViT: its last stage).
    embed_dim: int
    #: Input size (pixels, square) of the default build.
    img_size: int = 1024
    #: Built on the CPU rather than the meta device (TinyViT calls ``.item()`` while building).
    build_on_cpu: bool = False

    @property
    def official(self) -> bool:
        """An official, published teacher (not the test-only one)."""
        return self.checkpoint is not None

    def build(self, img_size: int | None = None) -> nn.Module:
        """A randomly initialised model of this kind, in eval mode; ``img_size`` only for the test ViT."""
        return self.builder(self, img_size).eval()


def _build_segment_anything(teacher: Teacher, img_size: int | None) -> nn.Module:
    from segment_anything import sam_model_registry

    return sam_model_registry[teacher.kind](checkpoint=None)


def _build_mobile_sam(teacher: Teacher, img_size: int | None) -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mobile_sam warns about timm's moved modules on import
        import mobile_sam

    return mobile_sam.sam_model_registry[teacher.kind](checkpoint=None)


def _build_tiny(teacher: Teacher, img_size: int | None) -> nn.Module:
    from kdsam_core.modeling.tiny import build_tiny_teacher_sam

    return build_tiny_teacher_sam(img_size or teacher.img_size, embed_dim=teacher.embed_dim)


SAM_VIT_H = Teacher(
    kind="vit_h",
    name="sam_vit_h",
    label="SAM ViT-H",
    encoder_label="SAM ViT-H",
    family=SAM_FAMILY,
    builder=_build_segment_anything,
    checkpoint="sam_vit_h_4b8939.pth",
    embed_dim=1280,
)
SAM_VIT_L = Teacher(
    kind="vit_l",
    name="sam_vit_l",
    label="SAM ViT-L",
    encoder_label="SAM ViT-L",
    family=SAM_FAMILY,
    builder=_build_segment_anything,
    checkpoint="sam_vit_l_0b3195.pth",
    embed_dim=1024,
)
SAM_VIT_B = Teacher(
    kind="vit_b",
    name="sam_vit_b",
    label="SAM ViT-B",
    encoder_label="SAM ViT-B",
    family=SAM_FAMILY,
    builder=_build_segment_anything,
    checkpoint="sam_vit_b_01ec64.pth",
    embed_dim=768,
)
MOBILESAM = Teacher(
    kind="vit_t",
    name="mobilesam",
    label="MobileSAM (TinyViT)",
    encoder_label="MobileSAM TinyViT",
    family=MOBILESAM_FAMILY,
    builder=_build_mobile_sam,
    checkpoint="mobile_sam.pt",
    embed_dim=320,
    build_on_cpu=True,
)
#: A 256-px, 2-block ViT for tests and smoke runs only (pairs with ``KDSamConfig.tiny()``).
TINY = Teacher(
    kind="tiny",
    name="tiny_teacher",
    label="tiny test ViT",
    encoder_label="tiny test ViT (256 px)",
    family=TEST_FAMILY,
    builder=_build_tiny,
    checkpoint=None,
    embed_dim=64,
    img_size=256,
)

#: Teacher kind → teacher, in the order choices list them.
TEACHERS: dict[str, Teacher] = {t.kind: t for t in (SAM_VIT_H, SAM_VIT_L, SAM_VIT_B, MOBILESAM, TINY)}
#: The published teachers (those with an official checkpoint file).
OFFICIAL_TEACHERS: tuple[Teacher, ...] = tuple(t for t in TEACHERS.values() if t.official)
#: The teacher used when none is named (the paper's).
DEFAULT_TEACHER: str = SAM_VIT_H.kind
#: Model name → teacher kind (``None``: the KD-SAM student), for ``--model NAME=FILE``.
MODEL_NAMES: dict[str, str | None] = {KDSAM: None, **{t.name: t.kind for t in TEACHERS.values()}}


def teacher(kind: str) -> Teacher:
    """The teacher of ``kind``; ``ValueError`` listing the kinds when there is none."""
    try:
        return TEACHERS[kind]
    except KeyError:
        raise ValueError(f"unknown teacher kind {kind!r}; choose one of {sorted(TEACHERS)}") from None


def family_kinds(family: str) -> tuple[str, ...]:
    """The kinds of one family, e.g. ``("vit_h", "vit_l", "vit_b")`` for SAM."""
    return tuple(t.kind for t in TEACHERS.values() if t.family == family)


def architecture_choices() -> list[tuple[str, str]]:
    """``(model name, label)`` of the student and every teacher: ``ModelVersion.architecture``'s choices."""
    return [(KDSAM, KDSAM_LABEL), *((t.name, t.label) for t in TEACHERS.values())]
