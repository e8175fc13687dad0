"""ONNX exports: decoder parity at several sizes (fp32 and int8), student encoder parity, CLI."""

from __future__ import annotations

import json

import pytest

from kdsam_core.cli import main
from kdsam_core.export import export_decoder_onnx, export_encoder_onnx, quantize_dynamic_onnx
from kdsam_core.export.parity import decoder_parity, encoder_parity
from kdsam_core.modeling.checkpoint import save_kdsam
from tests.core.kdsam_testutil import tiny_kdsam


@pytest.fixture(scope="module")
def model():
    return tiny_kdsam(seed=4)


@pytest.mark.parametrize("multimask", [False, True])
def test_decoder_fp32_and_int8_parity_at_several_sizes(model, tmp_path, multimask):
    path = export_decoder_onnx(model, tmp_path / "decoder.onnx", multimask=multimask)
    fp32 = decoder_parity(model, path, multimask=multimask)
    assert fp32["max_abs_diff"] < 1e-3
    assert set(fp32["sizes"]) == {"480x640", "777x513", "1024x1024", "97x211"}
    # int8 quantises weight × activation products: SAM's reference order has them, the fast one not
    reference = export_decoder_onnx(model, tmp_path / "reference.onnx", multimask=multimask, reassociate=False)
    assert decoder_parity(model, reference, multimask=multimask)["max_abs_diff"] < 1e-3
    int8 = quantize_dynamic_onnx(reference, tmp_path / "decoder_int8.onnx")
    assert int8.stat().st_size < 0.6 * reference.stat().st_size  # tiny decoder: convs stay float
    assert decoder_parity(model, int8, multimask=multimask)["min_mask_iou"] >= 0.99


def test_encoder_parity(model, tmp_path):
    path = export_encoder_onnx(model, tmp_path / "encoder.onnx")
    result = encoder_parity(model, path, batch=2)
    assert result["shape"] == [2, 256, 8, 8]
    assert result["max_abs_diff"] < 1e-3


def test_export_cli_writes_variants_and_checks_parity(model, tmp_path, capsys):
    checkpoint = save_kdsam(model, tmp_path / "kdsam.pt")
    code = main(
        [
            "export",
            "--model",
            f"kdsam={checkpoint}",
            "--out",
            str(tmp_path / "out"),
            "--encoder",
            "--quantize",
            "--check",
            "--device",
            "cpu",
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "out" / "export.json").read_text())
    assert set(report["files"]) == {
        "decoder_single",
        "decoder_single_int8",
        "decoder_multimask",
        "decoder_multimask_int8",
        "encoder",
    }
    assert report["parity"]["decoder_single"]["max_abs_diff"] < 1e-3
    assert report["parity"]["encoder"]["max_abs_diff"] < 1e-3
    assert report["parity"]["decoder_multimask_int8"]["min_mask_iou"] >= 0.99
    capsys.readouterr()
    assert main(["export", "--model", f"kdsam={tmp_path / 'missing.pt'}"]) == 2
    assert "missing.pt" in capsys.readouterr().err
