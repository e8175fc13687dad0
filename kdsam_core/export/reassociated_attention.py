"""SAM's decoder cross-attentions computed in the cheaper of the two associativity orders.

SAM's two-way transformer attends between a handful of prompt tokens (``n`` = 5 output tokens +
the prompt's points/box corners, typically 7–8) and the ``HW`` = 4096 image tokens. The reference
:class:`segment_anything.modeling.transformer.Attention` first projects all 4096 image tokens
(``HW × C → HW × I``, C = 256, I = 128), which costs ``HW·C·I`` multiply-adds per projection and is
80 % of the decoder's FLOPs. Because the head dimension ``d = I / h`` is projected from ``C`` and
there are few tokens, the same result can be obtained by moving the token side through the weight
matrix instead (exact algebra, only float rounding differs):

* token → image (queries = tokens): ``scores_h = q_h W_k,hᵀ Kᵀ`` with ``G = q_h W_k,h`` (``h·n × C``),
  so the image side costs ``HW·C·h·n``; the ``q_h · b_k,h`` term is constant along the softmax axis
  and drops out. Values: ``A_h (V W_v,hᵀ + b_v,h) = (A_h V) W_v,hᵀ + b_v,h`` (rows of ``A`` sum to 1).
* image → token (queries = image): ``scores_h = Q (W_q,hᵀ k_hᵀ) + b_q,h k_hᵀ`` and the output
  ``Σ_h A_h (v_h W_o,h)`` + ``b_o``: again ``HW·C·h·n`` per product.

With ``h = 8`` heads, ``h·n`` = 56 for one click versus ``I`` = 128: each big product is 2.3× cheaper,
the decoder's total FLOPs fall from 3.6 to about 2.1 GFLOPs. For ``h·n ≥ I`` (more than 11 points)
the reference order is cheaper; the prompt UI never sends that many (``MAX_POINTS_FOR_REASSOCIATION``
documents the break-even), and the result is identical either way.

Both modules take a reference ``Attention`` and share its parameters (no copy), so a fine-tuned
checkpoint is exported exactly.
"""

from __future__ import annotations

import copy
import math

import torch
from segment_anything.modeling import Sam
from segment_anything.modeling.transformer import Attention
from torch import Tensor, nn

# h·n < I  ⇔  n < 16 tokens (5 output tokens + up to 10 points/corners + padding)
MAX_POINTS_FOR_REASSOCIATION = 10


class TokenToImageAttention(nn.Module):
    """``Attention(q=tokens, k=image, v=image)`` with the image-side projections reassociated.

    Shapes: ``q`` (B, n, C) tokens; ``k``, ``v`` (B, HW, C) image tokens → (B, n, C).
    """

    def __init__(self, reference: Attention) -> None:
        super().__init__()
        self.reference = reference

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        ref = self.reference
        heads = ref.num_heads
        b, n, c = q.shape
        d = ref.internal_dim // heads
        qh = ref.q_proj(q).reshape(b, n, heads, d).transpose(1, 2)  # (B, h, n, d)
        w_k = ref.k_proj.weight.reshape(heads, d, c)  # k_proj(x) = x W_kᵀ + b_k, per head (h, d, C)
        g = (qh @ w_k) * (1.0 / math.sqrt(d))  # (B, h, n, C)
        scores = g.reshape(b, heads * n, c) @ k.transpose(1, 2)  # (B, h·n, HW)
        attn = torch.softmax(scores, dim=-1)
        av = (attn @ v).reshape(b, heads, n, c)  # (B, h, n, C)
        w_v = ref.v_proj.weight.reshape(heads, d, c)
        out = av @ w_v.transpose(1, 2) + ref.v_proj.bias.reshape(heads, 1, d)  # (B, h, n, d)
        out = out.transpose(1, 2).reshape(b, n, heads * d)
        projected: Tensor = ref.out_proj(out)
        return projected


class ImageToTokenAttention(nn.Module):
    """``Attention(q=image, k=tokens, v=tokens)`` with the image-side projections reassociated.

    Shapes: ``q`` (B, HW, C) image tokens; ``k``, ``v`` (B, n, C) tokens → (B, HW, C).
    """

    def __init__(self, reference: Attention) -> None:
        super().__init__()
        self.reference = reference

    def forward(self, q: Tensor, k: Tensor, v: Tensor) -> Tensor:
        ref = self.reference
        heads = ref.num_heads
        b, n, c = k.shape
        hw = q.shape[1]
        d = ref.internal_dim // heads
        scale = 1.0 / math.sqrt(d)
        kh = ref.k_proj(k).reshape(b, n, heads, d).transpose(1, 2)  # (B, h, n, d)
        w_q = ref.q_proj.weight.reshape(heads, d, c)  # (h, d, C)
        m = (w_q.transpose(1, 2) @ kh.transpose(2, 3)) * scale  # (B, h, C, n)
        m = m.permute(0, 2, 1, 3).reshape(b, c, heads * n)  # (B, C, h·n)
        bias = (ref.q_proj.bias.reshape(heads, 1, d) @ kh.transpose(2, 3)) * scale  # (B, h, 1, n)
        scores = q @ m + bias.reshape(b, 1, heads * n)  # (B, HW, h·n)
        attn = torch.softmax(scores.reshape(b, hw, heads, n), dim=-1).reshape(b, hw, heads * n)
        vh = ref.v_proj(v).reshape(b, n, heads, d).transpose(1, 2)  # (B, h, n, d)
        w_o = ref.out_proj.weight.transpose(0, 1).reshape(heads, d, c)  # out_proj(x) = x W_oᵀ + b_o
        u = (vh @ w_o).reshape(b, heads * n, c)  # (B, h·n, C)
        result: Tensor = attn @ u + ref.out_proj.bias
        return result


def _shallow_copy(module: nn.Module) -> nn.Module:
    """A copy whose child-module table can be changed without touching ``module``'s."""
    new = copy.copy(module)
    new._modules = dict(module._modules)
    return new


def reassociate_decoder_attention(model: Sam) -> Sam:
    """A shallow copy of ``model`` whose mask decoder uses the reassociated cross-attentions.

    Parameters are shared with ``model`` (nothing is copied but the module tree of the
    transformer); the returned model computes the same masks up to float rounding.
    """
    fast = _shallow_copy(model)
    fast.mask_decoder = _shallow_copy(model.mask_decoder)
    transformer = _shallow_copy(model.mask_decoder.transformer)
    transformer.layers = nn.ModuleList()
    for layer in model.mask_decoder.transformer.layers:
        new = _shallow_copy(layer)
        new.cross_attn_token_to_image = TokenToImageAttention(layer.cross_attn_token_to_image)
        new.cross_attn_image_to_token = ImageToTokenAttention(layer.cross_attn_image_to_token)
        transformer.layers.append(new)
    transformer.final_attn_token_to_image = TokenToImageAttention(
        model.mask_decoder.transformer.final_attn_token_to_image
    )
    fast.mask_decoder.transformer = transformer
    return fast
