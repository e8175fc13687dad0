"""Writing an ONNX file from a PyTorch module: the one place that calls ``torch.onnx.export``."""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch


def write_onnx(
    module: torch.nn.Module,
    inputs: Sequence[torch.Tensor],
    path: Path | str,
    *,
    input_names: list[str],
    output_names: list[str],
    dynamic_axes: Mapping[str, Mapping[int, str]],
    opset: int = 17,
) -> Path:
    """Trace ``module`` with the classic exporter (``dynamo=False``) into ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        torch.onnx.export(
            module,
            tuple(inputs),
            str(tmp),
            export_params=True,
            opset_version=opset,
            do_constant_folding=True,
            input_names=input_names,
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            dynamo=False,
        )
    tmp.replace(path)
    return path
