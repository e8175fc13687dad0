/**
 * Prompt state (clicks and an optional box, in original image pixels) and its
 * translation into the SAM ONNX decoder's inputs, exactly as SAM's official web
 * demo (demo/src/components/helpers/onnxModelAPI.tsx) and the predictor do it:
 *
 *  - point_coords [1, N, 2] in the 1024 input space, point_labels [1, N]:
 *    clicks first (1 positive, 0 negative), then the box corners (labels 2, 3)
 *    when there is a box, otherwise one padding point (0, 0) with label -1
 *  - mask_input zeros [1, 1, 256, 256] and has_mask_input [0] unless a previous
 *    low-res mask is given
 *  - orig_im_size [height, width] as float32
 */
import { imageToInput, type HW } from './transforms';

export const LABEL_NEGATIVE = 0;
export const LABEL_POSITIVE = 1;
export const LABEL_BOX_TOP_LEFT = 2;
export const LABEL_BOX_BOTTOM_RIGHT = 3;
export const LABEL_PADDING = -1;

export type ClickLabel = typeof LABEL_NEGATIVE | typeof LABEL_POSITIVE;

export interface Click {
  x: number;
  y: number;
  label: ClickLabel;
}

/** [x0, y0, x1, y1] in image pixels. */
export type Box = [number, number, number, number];

export interface Prompt {
  points: Click[];
  box: Box | null;
}

export const LOW_RES_MASK_SIZE = 256;

/** A tensor as plain data, turned into an ort.Tensor inside the worker. */
export interface FeedTensor {
  data: Float32Array;
  dims: number[];
}

/** The decoder inputs other than image_embeddings (which the worker holds). */
export interface PromptFeeds {
  point_coords: FeedTensor;
  point_labels: FeedTensor;
  mask_input: FeedTensor;
  has_mask_input: FeedTensor;
  orig_im_size: FeedTensor;
}

export function emptyPrompt(): Prompt {
  return { points: [], box: null };
}

export function isEmptyPrompt(p: Prompt): boolean {
  return p.points.length === 0 && p.box === null;
}

export function addClick(p: Prompt, click: Click): Prompt {
  return { points: [...p.points, { ...click }], box: p.box };
}

export function setBox(p: Prompt, box: Box | null): Prompt {
  if (box === null) return { points: p.points, box: null };
  const [ax, ay, bx, by] = box;
  // normalise so (x0, y0) is the top-left corner whatever way it was dragged
  return {
    points: p.points,
    box: [Math.min(ax, bx), Math.min(ay, by), Math.max(ax, bx), Math.max(ay, by)],
  };
}

/**
 * The `data-last-prompt` JSON of the DOM contract:
 * {"points": [[x, y, label], ...], "box": null | [x0, y0, x1, y1]} in image pixels.
 */
export function promptToJSON(p: Prompt): string {
  return JSON.stringify({
    points: p.points.map((c) => [c.x, c.y, c.label]),
    box: p.box ? [...p.box] : null,
  });
}

/**
 * Decoder feeds for a prompt on an image of imageSize [h, w] whose embedding was
 * computed at inputSize [h, w] (the resize of the longest side to 1024).
 */
export function buildPromptFeeds(
  prompt: Prompt,
  imageSize: HW,
  inputSize: HW,
  previousLowResMask?: Float32Array | null,
): PromptFeeds {
  const n = prompt.points.length;
  const total = n + (prompt.box ? 2 : 1);
  const coords = new Float32Array(2 * total);
  const labels = new Float32Array(total);

  prompt.points.forEach((c, i) => {
    const q = imageToInput(c, imageSize, inputSize);
    coords[2 * i] = q.x;
    coords[2 * i + 1] = q.y;
    labels[i] = c.label;
  });

  if (prompt.box) {
    const [x0, y0, x1, y1] = prompt.box;
    const tl = imageToInput({ x: x0, y: y0 }, imageSize, inputSize);
    const br = imageToInput({ x: x1, y: y1 }, imageSize, inputSize);
    coords.set([tl.x, tl.y, br.x, br.y], 2 * n);
    labels.set([LABEL_BOX_TOP_LEFT, LABEL_BOX_BOTTOM_RIGHT], n);
  } else {
    coords[2 * n] = 0.0;
    coords[2 * n + 1] = 0.0;
    labels[n] = LABEL_PADDING;
  }

  const maskSize = LOW_RES_MASK_SIZE * LOW_RES_MASK_SIZE;
  const hasMask = previousLowResMask != null;
  if (hasMask && previousLowResMask.length !== maskSize) {
    throw new RangeError(`previous mask must have ${maskSize} values, got ${previousLowResMask.length}`);
  }

  return {
    point_coords: { data: coords, dims: [1, total, 2] },
    point_labels: { data: labels, dims: [1, total] },
    mask_input: {
      data: hasMask ? Float32Array.from(previousLowResMask) : new Float32Array(maskSize),
      dims: [1, 1, LOW_RES_MASK_SIZE, LOW_RES_MASK_SIZE],
    },
    has_mask_input: { data: new Float32Array([hasMask ? 1 : 0]), dims: [1] },
    orig_im_size: { data: new Float32Array([imageSize[0], imageSize[1]]), dims: [2] },
  };
}
