"""The test-only teacher: a 256-px, 2-block SAM ViT (``registry.TINY``) and the KD-SAM config it pairs with.

Kept apart from :mod:`kdsam_core.modeling.teachers` so that the registry's builder for ``tiny`` imports
model code only, not the checkpoint loaders that themselves read the registry.
"""

from __future__ import annotations

import torch
from torch import nn

from kdsam_core.config import KDSamConfig, StudentConfig
from kdsam_core.modeling.build import assemble_sam


def tiny_config(img_size: int = 256) -> KDSamConfig:
    """``KDSamConfig.tiny()`` at another input size (a multiple of 32): pairs with the tiny teacher."""
    base = KDSamConfig.tiny()
    if img_size == base.img_size:
        return base
    return KDSamConfig(
        student=StudentConfig(trunk=base.student.trunk, img_size=img_size, out_chans=256),
        decoder_mlp_dim=base.decoder_mlp_dim,
    )


def build_tiny_teacher_sam(img_size: int = 256, embed_dim: int = 64, seed: int | None = 0) -> nn.Module:
    """A small SAM (ViT encoder with 2 blocks) for tests: ``img_size`` input, ``img_size/16`` grid."""
    from segment_anything.modeling import ImageEncoderViT

    config = tiny_config(img_size)
    rng = torch.random.get_rng_state()
    if seed is not None:
        torch.manual_seed(seed)
    try:
        encoder = ImageEncoderViT(
            img_size=img_size,
            patch_size=16,
            embed_dim=embed_dim,
            depth=2,
            num_heads=2,
            out_chans=256,
            window_size=4,
            global_attn_indexes=(1,),
            qkv_bias=True,
            use_rel_pos=True,
        )
        # ImageEncoderViT starts its absolute position embedding at zero; give it something to teach.
        nn.init.normal_(encoder.pos_embed, std=0.02)
        model = assemble_sam(encoder, config)
    finally:
        if seed is not None:
            torch.random.set_rng_state(rng)
    return model.eval()
