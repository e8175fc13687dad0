"""ONNX export of KD-SAM parts."""

from kdsam_core.export.decoder_onnx import DecoderOnnxModel, export_decoder_onnx
from kdsam_core.export.encoder_onnx import export_encoder_onnx
from kdsam_core.export.quantize import quantize_dynamic_onnx

__all__ = ["DecoderOnnxModel", "export_decoder_onnx", "export_encoder_onnx", "quantize_dynamic_onnx"]
