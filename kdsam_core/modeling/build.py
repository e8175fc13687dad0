"""Builders for the KD-SAM model (student encoder + SAM prompt encoder + SAM mask decoder)."""

from __future__ import annotations

import torch
from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from torch import nn

from kdsam_core.config import SAM_PIXEL_MEAN, SAM_PIXEL_STD, KDSamConfig
from kdsam_core.modeling.student import StudentEncoder


def build_prompt_encoder(config: KDSamConfig) -> PromptEncoder:
    """SAM's prompt encoder for an ``embedding_size``² grid and an ``img_size``² input."""
    grid = config.embedding_size
    return PromptEncoder(
        embed_dim=config.prompt_embed_dim,
        image_embedding_size=(grid, grid),
        input_image_size=(config.img_size, config.img_size),
        mask_in_chans=config.mask_in_chans,
    )


def build_mask_decoder(config: KDSamConfig) -> MaskDecoder:
    """SAM's mask decoder (two-way transformer, 3 multimask outputs + 1 single)."""
    return MaskDecoder(
        num_multimask_outputs=config.num_multimask_outputs,
        transformer=TwoWayTransformer(
            depth=config.decoder_transformer_depth,
            embedding_dim=config.prompt_embed_dim,
            mlp_dim=config.decoder_mlp_dim,
            num_heads=config.decoder_num_heads,
        ),
        transformer_dim=config.prompt_embed_dim,
        iou_head_depth=config.iou_head_depth,
        iou_head_hidden_dim=config.iou_head_hidden_dim,
    )


def assemble_sam(image_encoder: nn.Module, config: KDSamConfig) -> Sam:
    """A ``Sam`` from an image encoder and the prompt encoder + mask decoder ``config`` describes."""
    return Sam(
        image_encoder=image_encoder,
        prompt_encoder=build_prompt_encoder(config),
        mask_decoder=build_mask_decoder(config),
        pixel_mean=list(SAM_PIXEL_MEAN),
        pixel_std=list(SAM_PIXEL_STD),
    )


def build_kdsam(config: KDSamConfig | None = None, seed: int | None = None) -> Sam:
    """Build a randomly initialised KD-SAM model.

    The result is a ``segment_anything.modeling.Sam`` whose ``image_encoder`` is the
    :class:`StudentEncoder`, so SAM's own ``SamPredictor``, preprocessing and postprocessing work on
    it unchanged. ``seed`` makes the random initialisation reproducible.
    """
    config = config or KDSamConfig()
    if seed is not None:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    try:
        model = assemble_sam(StudentEncoder(config.student), config)
    finally:
        if seed is not None:
            torch.random.set_rng_state(generator_state)
    model.kdsam_config = config
    return model.eval()


def count_parameters(model: nn.Module) -> dict[str, int]:
    """Parameter counts: ``total`` and one per top-level part of a SAM-like model."""
    counts = {"total": sum(p.numel() for p in model.parameters())}
    for part in ("image_encoder", "prompt_encoder", "mask_decoder"):
        module = getattr(model, part, None)
        if module is not None:
            counts[part] = sum(p.numel() for p in module.parameters())
    return counts
