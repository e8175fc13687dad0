"""Parameters and FLOPs of an encoder on the meta device (no memory, no compute): for models whose
timing did not run (prints ``BENCH-JSON``)."""

from __future__ import annotations

import sys

import torch

from bench.common import emit_child_json


def main(argv=None) -> None:
    name = (argv or sys.argv[1:])[0]
    from torch.utils.flop_counter import FlopCounterMode

    from bench.models import ENCODERS, build_encoder
    from kdsam_core.modeling.teachers import build_device

    device = build_device(ENCODERS[name][1])  # the meta device, or the CPU for TinyViT (.item() when built)
    with device:
        encoder = build_encoder(name)
    size = int(encoder.img_size)
    x = torch.empty(1, 3, size, size, device=device)
    with FlopCounterMode(display=False) as counter, torch.inference_mode():
        encoder(x)
    emit_child_json(
        {
            "model": name,
            "params": sum(p.numel() for p in encoder.parameters()),
            "flops": int(counter.get_total_flops()),
            "img_size": size,
            "flops_source": "meta device",
        }
    )


if __name__ == "__main__":
    main()
