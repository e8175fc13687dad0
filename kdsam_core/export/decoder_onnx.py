"""Decoder ONNX export with the official ``segment-anything`` contract, correct at every image size.

The published ``segment_anything.utils.onnx.SamOnnxModel.mask_postprocessing`` crops the upscaled
masks with ``int(prepadded_size[0])``, which the tracer records as a constant: the exported model
keeps cropping to the padded size of the *dummy* ``orig_im_size`` used at export time and returns
distorted masks for every other image size. :class:`DecoderOnnxModel` replaces that step with a
bilinear resize whose source and target sizes are computed from the ``orig_im_size`` input inside
the graph, reproducing ``F.interpolate(..., mode="bilinear", align_corners=False)`` exactly.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from segment_anything.modeling import Sam
from segment_anything.utils.onnx import SamOnnxModel

from kdsam_core.export.fast_decoder import fast_decoder
from kdsam_core.export.onnx_file import write_onnx

INPUT_NAMES = ["image_embeddings", "point_coords", "point_labels", "mask_input", "has_mask_input", "orig_im_size"]
OUTPUT_NAMES = ["masks", "iou_predictions", "low_res_masks"]
# the browser variant: no post-processing in the graph (the client upsamples, see LowResDecoderOnnxModel)
LOW_RES_INPUT_NAMES = INPUT_NAMES[:5]
LOW_RES_OUTPUT_NAMES = ["iou_predictions", "low_res_masks"]


def _source_indices(in_size: torch.Tensor, out_size: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gather indices and weights of a 1-D bilinear resize ``in_size → out_size`` (align_corners=False)."""
    # float32 like PyTorch's kernel; its fused multiply-add may round source indices 1 ulp apart,
    # which moves interpolated values by < 1e-4 of their range at the largest sizes.
    scale = in_size.to(torch.float32) / out_size.to(torch.float32)
    # traced as an ONNX Range over a dynamic size; the stubs omit the 0-dim tensor ``end`` arange accepts
    dst = torch.arange(out_size, dtype=torch.float32)  # type: ignore[call-overload]
    src = ((dst + 0.5) * scale - 0.5).clamp(min=0.0)
    last = in_size.to(torch.int64) - 1
    i0 = torch.minimum(src.floor().to(torch.int64), last)
    i1 = torch.minimum(i0 + 1, last)
    weight = (src - i0.to(torch.float32)).clamp(0.0, 1.0)
    return i0, i1, weight


def resize_bilinear_dynamic(
    x: torch.Tensor, in_h: torch.Tensor, in_w: torch.Tensor, out_h: torch.Tensor, out_w: torch.Tensor
) -> torch.Tensor:
    """Resize the top-left ``in_h × in_w`` crop of ``x`` (``(B, C, H, W)``) to ``out_h × out_w``.

    Equals ``F.interpolate(x[..., :in_h, :in_w], (out_h, out_w), mode="bilinear",
    align_corners=False)`` but with every size a tensor, so it exports to ONNX with dynamic shapes.
    """
    y0, y1, wy = _source_indices(in_h, out_h)
    x0, x1, wx = _source_indices(in_w, out_w)
    top = torch.index_select(x, 2, y0)
    bottom = torch.index_select(x, 2, y1)
    rows = top + (bottom - top) * wy.view(1, 1, -1, 1)  # (B, C, out_h, W)
    left = torch.index_select(rows, 3, x0)
    right = torch.index_select(rows, 3, x1)
    return left + (right - left) * wx.view(1, 1, 1, -1)  # (B, C, out_h, out_w)


class DecoderOnnxModel(SamOnnxModel):
    """``SamOnnxModel`` with a size-correct ``mask_postprocessing``.

    Inputs: ``image_embeddings`` (1, 256, G, G), ``point_coords`` (1, N, 2) in the input space,
    ``point_labels`` (1, N), ``mask_input`` (1, 1, 4G, 4G), ``has_mask_input`` (1,),
    ``orig_im_size`` (2,) as ``(H, W)``. Outputs: ``masks`` (1, M, H, W) logits at the original
    size, ``iou_predictions`` (1, M), ``low_res_masks`` (1, M, 4G, 4G); M = 1 for the single-mask
    variant, 4 otherwise.
    """

    def mask_postprocessing(self, masks: torch.Tensor, orig_im_size: torch.Tensor) -> torch.Tensor:
        masks = F.interpolate(masks, size=(self.img_size, self.img_size), mode="bilinear", align_corners=False)
        prepadded = self.resize_longest_image_size(orig_im_size, self.img_size)
        out = orig_im_size.to(torch.int64)
        return resize_bilinear_dynamic(masks, prepadded[0], prepadded[1], out[0], out[1])


class LowResDecoderOnnxModel(DecoderOnnxModel):
    """The decoder without its post-processing: for clients that upsample the mask themselves.

    Inputs: the official ones except ``orig_im_size``. Outputs: ``iou_predictions`` (1, M) and
    ``low_res_masks`` (1, M, 4G, 4G) logits. The mask at the original size is
    ``mask_postprocessing(low_res_masks, orig_im_size)`` — bilinear to ``img_size``², crop to the
    resized image, bilinear to the original size — which the browser computes for the masks it
    shows (frontend/src/mask-upsample.ts) instead of the graph computing it for every candidate:
    that step was about a quarter of the decoder's run time in onnxruntime.
    """

    def forward(
        self,
        image_embeddings: torch.Tensor,
        point_coords: torch.Tensor,
        point_labels: torch.Tensor,
        mask_input: torch.Tensor,
        has_mask_input: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        sparse_embedding = self._embed_points(point_coords, point_labels)
        dense_embedding = self._embed_masks(mask_input, has_mask_input)
        masks, scores = self.model.mask_decoder.predict_masks(
            image_embeddings=image_embeddings,
            image_pe=self.model.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse_embedding,
            dense_prompt_embeddings=dense_embedding,
        )
        if self.return_single_mask:
            masks, scores = self.select_masks(masks, scores, point_coords.shape[1])
        return scores, masks


def dummy_decoder_inputs(model: Sam, num_points: int = 5) -> dict[str, torch.Tensor]:
    """Example inputs for tracing (the values don't matter: every size is dynamic)."""
    grid = model.prompt_encoder.image_embedding_size
    embed_dim = model.prompt_encoder.embed_dim
    return {
        "image_embeddings": torch.randn(1, embed_dim, *grid, dtype=torch.float),
        "point_coords": torch.randint(
            low=0, high=model.image_encoder.img_size, size=(1, num_points, 2), dtype=torch.float
        ),
        "point_labels": torch.randint(low=0, high=4, size=(1, num_points), dtype=torch.float),
        "mask_input": torch.randn(1, 1, 4 * grid[0], 4 * grid[1], dtype=torch.float),
        "has_mask_input": torch.tensor([1], dtype=torch.float),
        "orig_im_size": torch.tensor([1500, 2250], dtype=torch.float),
    }


def export_decoder_onnx(
    model: Sam,
    path: Path,
    *,
    multimask: bool = False,
    opset: int = 17,
    reassociate: bool = True,
    postprocess: bool = True,
) -> Path:
    """Export ``model``'s prompt encoder + mask decoder to ``path`` (ONNX).

    ``postprocess`` (default) gives the official contract (``INPUT_NAMES`` → ``OUTPUT_NAMES``,
    masks at the original size); ``False`` the browser variant (:class:`LowResDecoderOnnxModel`:
    ``LOW_RES_INPUT_NAMES`` → ``LOW_RES_OUTPUT_NAMES``). ``reassociate`` (default) computes the
    transformer's cross-attentions in the cheaper order
    (:mod:`kdsam_core.export.reassociated_attention`: same outputs up to float rounding, about
    40 % fewer FLOPs); ``False`` exports SAM's reference graph.
    """
    if reassociate:
        model = fast_decoder(model)
    inputs = dummy_decoder_inputs(model)
    if not postprocess:
        low_res = LowResDecoderOnnxModel(model, return_single_mask=not multimask).eval()
        del inputs["orig_im_size"]
        return write_onnx(
            low_res,
            list(inputs.values()),
            path,
            input_names=LOW_RES_INPUT_NAMES,
            output_names=LOW_RES_OUTPUT_NAMES,
            dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}},
            opset=opset,
        )
    onnx_model = DecoderOnnxModel(model, return_single_mask=not multimask).eval()
    return write_onnx(
        onnx_model,
        list(inputs.values()),
        path,
        input_names=INPUT_NAMES,
        output_names=OUTPUT_NAMES,
        dynamic_axes={"point_coords": {1: "num_points"}, "point_labels": {1: "num_points"}},
        opset=opset,
    )
