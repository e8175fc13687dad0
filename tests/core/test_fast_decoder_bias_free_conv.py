"""The channels-last rewrite of a 2×2 stride-2 transposed convolution also covers one without bias."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kdsam_core.export.fast_decoder import _transposed_conv_as_matrix


def test_transposed_conv_without_bias_is_rewritten_with_a_zero_bias():
    torch.manual_seed(0)
    conv = nn.ConvTranspose2d(8, 4, kernel_size=2, stride=2, bias=False)
    x = torch.randn(1, 8, 3, 5)

    weight, bias = _transposed_conv_as_matrix(conv)
    rows = (x.permute(0, 2, 3, 1).reshape(1, 15, 8) @ weight).reshape(1, 60, 4) + bias  # rows (i, j, a, b)
    out = rows.reshape(1, 3, 5, 2, 2, 4).permute(0, 5, 1, 3, 2, 4).reshape(1, 4, 6, 10)

    torch.testing.assert_close(out, F.conv_transpose2d(x, conv.weight, None, stride=2))
