"""``kdsam export``: decoder ONNX (official contract, single + multi-mask, optional int8) and encoder ONNX."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from kdsam_core.cli import CliError
from kdsam_core.cli._training_args import add_device, load_model_spec, model_spec_forms


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the decoder (and the student encoder) to ONNX",
        description="Export the prompt encoder + mask decoder with segment-anything's official ONNX "
        "contract (correct for every orig_im_size), single-mask and multi-mask variants, "
        "optionally dynamically quantised to int8; and the KD-SAM student encoder.",
    )
    *others, last = model_spec_forms()
    p.add_argument("--model", required=True, metavar="NAME=CHECKPOINT", help=f"{', '.join(others)} or {last}")
    p.add_argument("--out", default="runs/export", help="output folder")
    p.add_argument("--variants", default="single,multimask", help="decoder variants: single, multimask (comma list)")
    p.add_argument("--encoder", action="store_true", help="also export the student image encoder (KD-SAM only)")
    p.add_argument("--no-decoder", action="store_true", help="skip the decoder")
    p.add_argument("--quantize", action="store_true", help="also write dynamically quantised int8 decoders")
    p.add_argument("--check", action="store_true", help="check ONNX/PyTorch parity after exporting")
    add_device(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kdsam_core.export import export_decoder_onnx, export_encoder_onnx, quantize_dynamic_onnx
    from kdsam_core.modeling.student import StudentEncoder

    label, model, info = load_model_spec(args.model)
    model = model.cpu().eval()
    out = Path(args.out)
    written: dict[str, str] = {}
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    for variant in variants:
        if variant not in ("single", "multimask"):
            raise CliError(f"unknown decoder variant {variant!r}; use single and/or multimask")
    if not args.no_decoder:
        for variant in variants:
            name = "decoder.onnx" if variant == "single" else "decoder_multimask.onnx"
            path = export_decoder_onnx(model, out / name, multimask=variant == "multimask")
            written[f"decoder_{variant}"] = str(path)
            if args.quantize:
                # dynamic int8 quantises weight × activation MatMuls: the reference graph order has them
                reference = export_decoder_onnx(
                    model,
                    out / name.replace(".onnx", "_reference.onnx"),
                    multimask=variant == "multimask",
                    reassociate=False,
                )
                qpath = quantize_dynamic_onnx(reference, out / name.replace(".onnx", "_int8.onnx"))
                reference.unlink()
                written[f"decoder_{variant}_int8"] = str(qpath)
    if args.encoder:
        if not isinstance(model.image_encoder, StudentEncoder):
            raise CliError("--encoder exports the KD-SAM student encoder; give --model kdsam=FILE")
        written["encoder"] = str(export_encoder_onnx(model, out / "encoder.onnx"))
    report: dict = {"model": label, "weights": info.get("weights"), "files": written}
    if args.check:
        from kdsam_core.export.parity import decoder_parity, encoder_parity

        checks = {}
        for key, file in written.items():
            if key.startswith("decoder"):
                checks[key] = decoder_parity(model, file, multimask="multimask" in key)
            elif key == "encoder":
                checks[key] = encoder_parity(model, file)
        report["parity"] = checks
    (out / "export.json").parent.mkdir(parents=True, exist_ok=True)
    (out / "export.json").write_text(json.dumps(report, indent=1))
    print(json.dumps(report, indent=1))
    return 0
