"""SAM's mask decoder rewritten for fast inference export (same function, fewer and cheaper ops).

Two rewrites, both exact up to float rounding and sharing the reference parameters:

* the transformer's cross-attentions in the cheaper associativity order
  (:mod:`kdsam_core.export.reassociated_attention`);
* the output upscaling (``ConvTranspose2d(k=2, s=2) → LayerNorm2d → GELU → ConvTranspose2d(k=2,
  s=2) → GELU`` then the hypernetwork product) in channels-last layout: a 2×2 stride-2 transposed
  convolution is one matrix product per input pixel (``C → 4·O``), the channel LayerNorm becomes a
  last-axis ``LayerNormalization``, and the pixels are put in place once, on the final masks
  (``M`` channels instead of 32 or 64). onnxruntime spent about a third of the decoder's time in
  the two ``ConvTranspose`` nodes and the decomposed LayerNorm2d.

:func:`fast_decoder` returns a shallow copy of a ``Sam`` whose ``mask_decoder.predict_masks`` uses
both; the reference ``segment_anything`` model is left untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.modeling.mask_decoder import MaskDecoder
from torch import Tensor, nn

from kdsam_core.export.reassociated_attention import reassociate_decoder_attention


def _transposed_conv_as_matrix(conv: nn.ConvTranspose2d) -> tuple[Tensor, Tensor]:
    """``(C, 4·O)`` weights with columns ordered ``(a, b, o)`` and the ``(O,)`` bias of a k=2, s=2 layer."""
    if conv.kernel_size != (2, 2) or conv.stride != (2, 2) or conv.padding != (0, 0) or conv.groups != 1:
        raise ValueError(f"only 2×2 stride-2 transposed convolutions are rewritten, got {conv}")
    c, o = conv.weight.shape[:2]
    bias = conv.bias if conv.bias is not None else conv.weight.new_zeros(o)
    return conv.weight.permute(0, 2, 3, 1).reshape(c, 4 * o), bias


class ExportMaskDecoder(nn.Module):
    """Wraps a reference :class:`MaskDecoder` (parameters shared) with a faster ``predict_masks``."""

    def __init__(self, reference: MaskDecoder) -> None:
        super().__init__()
        self.reference = reference
        self.num_mask_tokens = reference.num_mask_tokens
        self.transformer = reference.transformer
        up = reference.output_upscaling
        self.conv1, self.norm1, self.act1, self.conv2, self.act2 = up[0], up[1], up[2], up[3], up[4]

    def predict_masks(
        self,
        image_embeddings: Tensor,
        image_pe: Tensor,
        sparse_prompt_embeddings: Tensor,
        dense_prompt_embeddings: Tensor,
    ) -> tuple[Tensor, Tensor]:
        """Same contract as ``MaskDecoder.predict_masks``: masks (B, M, 4H, 4W), iou_pred (B, M)."""
        ref = self.reference
        output_tokens = torch.cat([ref.iou_token.weight, ref.mask_tokens.weight], dim=0)
        output_tokens = output_tokens.unsqueeze(0).expand(sparse_prompt_embeddings.size(0), -1, -1)
        tokens = torch.cat((output_tokens, sparse_prompt_embeddings), dim=1)
        src = torch.repeat_interleave(image_embeddings, tokens.shape[0], dim=0) + dense_prompt_embeddings
        pos_src = torch.repeat_interleave(image_pe, tokens.shape[0], dim=0)
        b, _, h, w = src.shape

        hs, src = self.transformer(src, pos_src, tokens)  # src: (B, HW, C), rows in (i, j) order
        iou_token_out = hs[:, 0, :]
        mask_tokens_out = hs[:, 1 : (1 + self.num_mask_tokens), :]

        w1, b1 = _transposed_conv_as_matrix(self.conv1)
        o1 = b1.shape[0]
        x = (src @ w1).reshape(b, h * w * 4, o1) + b1  # rows (i, j, a, b)
        x = F.layer_norm(x, (o1,), self.norm1.weight, self.norm1.bias, self.norm1.eps)
        x = self.act1(x)
        w2, b2 = _transposed_conv_as_matrix(self.conv2)
        o2 = b2.shape[0]
        x = self.act2((x @ w2).reshape(b, h * w * 16, o2) + b2)  # rows (i, j, a, b, a2, b2)

        hyper_in = torch.stack(
            [mlp(mask_tokens_out[:, i, :]) for i, mlp in enumerate(ref.output_hypernetworks_mlps)], dim=1
        )  # (B, M, O2)
        m = hyper_in.shape[1]
        masks = (x @ hyper_in.transpose(1, 2)).reshape(b, h, w, 2, 2, 2, 2, m)
        # pixel (4i + 2a + a2, 4j + 2b + b2)
        masks = masks.permute(0, 7, 1, 3, 5, 2, 4, 6).reshape(b, m, 4 * h, 4 * w)
        iou_pred = ref.iou_prediction_head(iou_token_out)
        return masks, iou_pred


def fast_decoder(model: Sam) -> Sam:
    """A shallow copy of ``model`` with the reassociated attention and the channels-last upscaling."""
    fast = reassociate_decoder_attention(model)
    fast.mask_decoder = ExportMaskDecoder(fast.mask_decoder)
    return fast
