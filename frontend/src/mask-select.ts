/**
 * Which of the decoder's mask candidates to show, following SAM's rule
 * (segment_anything/utils/onnx.py, SamOnnxModel.select_masks): with the
 * multimask decoder (4 outputs), one click or one box (≤ 2 prompt points
 * counting the padding point) offers candidates 1–3 and defaults to the one of
 * highest predicted IoU; more prompts use output 0, SAM's single-mask token.
 * A single-output decoder has only output 0.
 */
import type { Prompt } from './prompts';

export interface Selection {
  /** Indices the user may choose from (in the decoder's mask order). */
  candidates: number[];
  /** The default choice. */
  chosen: number;
}

/** Prompt points as the decoder sees them: clicks plus 2 box corners or 1 padding point. */
export function decoderPointCount(prompt: Prompt): number {
  return prompt.points.length + (prompt.box ? 2 : 1);
}

export function selectMasks(iou: ArrayLike<number>, prompt: Prompt): Selection {
  const count = iou.length;
  if (count <= 1) return { candidates: [0], chosen: 0 };
  if (decoderPointCount(prompt) > 2) return { candidates: [0], chosen: 0 };
  const candidates = Array.from({ length: count - 1 }, (_, i) => i + 1);
  let chosen = candidates[0];
  for (const i of candidates) if (iou[i] > iou[chosen]) chosen = i;
  return { candidates, chosen };
}
