"""KD-SAM: knowledge distillation of Segment Anything for medical image segmentation.

The method lives here as plain PyTorch, independent of the web application (this package never
imports Django). Sub-packages:

- ``kdsam_core.modeling``: student encoder, teachers, the KD-SAM model and its registry.
- ``kdsam_core.transforms``: SAM's preprocessing (longest-side resize, normalisation, padding).
- ``kdsam_core.export``: ONNX export of the decoder with the official segment-anything contract.
- ``kdsam_core.embedding_codec``: the compact binary embedding format served to browsers.
- ``kdsam_core.datasets``: readers, validation and splitting of medical segmentation datasets.
- ``kdsam_core.cli``: the ``kdsam`` command line.
"""

__version__ = "0.1.0"
