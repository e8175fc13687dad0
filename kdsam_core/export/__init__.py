"""ONNX export of KD-SAM parts."""

from kdsam_core.export.decoder_onnx import DecoderOnnxModel, export_decoder_onnx

__all__ = ["DecoderOnnxModel", "export_decoder_onnx"]
