"""Writes a random-weight KD-SAM decoder ONNX for the frontend smoke test.

Uses the project's own export (kdsam_core.export.export_decoder_onnx: the official
segment-anything I/O contract, size-correct), so the smoke test runs the same kind of
graph the server hands out. From the repository root:

    .venv/bin/python frontend/scripts/make_test_decoder.py /tmp/kdsam-smoke/decoder.onnx
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # repository root

from kdsam_core.export import export_decoder_onnx
from kdsam_core.modeling import build_kdsam


def main(out: str) -> None:
    print(export_decoder_onnx(build_kdsam(seed=0).eval(), Path(out)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "decoder.onnx")
