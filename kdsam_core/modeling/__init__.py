"""Model definitions: the student encoder, the KD-SAM model and teachers, and their registry."""

from kdsam_core.modeling.build import build_kdsam, count_parameters
from kdsam_core.modeling.student import StudentEncoder

__all__ = ["StudentEncoder", "build_kdsam", "count_parameters"]
