/**
 * Coordinate transforms between the three spaces the viewer deals with:
 *
 *  - image:  original image pixels (what the server and the prompt JSON use)
 *  - input:  SAM's 1024 input space after ResizeLongestSide
 *  - canvas: the on-screen drawing surface, given a zoom factor and a pan offset
 *
 * getPreprocessShape and imageToInput replicate
 * segment_anything/utils/transforms.py (ResizeLongestSide) exactly.
 */

export type Point = { x: number; y: number };
/** [height, width], the order SAM uses. */
export type HW = [number, number];

export const SAM_INPUT_SIZE = 1024;

/**
 * ResizeLongestSide.get_preprocess_shape:
 *   scale = long_side_length * 1.0 / max(oldh, oldw)
 *   newh, neww = oldh * scale, oldw * scale
 *   return (int(newh + 0.5), int(neww + 0.5))
 * Same operation order, so the same double rounding; int() of a positive float is floor.
 */
export function getPreprocessShape(oldh: number, oldw: number, longSideLength = SAM_INPUT_SIZE): HW {
  if (!(oldh > 0 && oldw > 0)) throw new RangeError(`invalid image size ${oldh}x${oldw}`);
  const scale = (longSideLength * 1.0) / Math.max(oldh, oldw);
  const newh = oldh * scale;
  const neww = oldw * scale;
  return [Math.floor(newh + 0.5), Math.floor(neww + 0.5)];
}

/**
 * ResizeLongestSide.apply_coords: x * (new_w / old_w), y * (new_h / old_h), with
 * separate ratios for x and y (ratio computed first, as numpy does).
 */
export function imageToInput(p: Point, imageSize: HW, inputSize: HW = getPreprocessShape(imageSize[0], imageSize[1])): Point {
  const [oldh, oldw] = imageSize;
  const [newh, neww] = inputSize;
  return { x: p.x * (neww / oldw), y: p.y * (newh / oldh) };
}

/** Inverse of imageToInput. */
export function inputToImage(p: Point, imageSize: HW, inputSize: HW = getPreprocessShape(imageSize[0], imageSize[1])): Point {
  const [oldh, oldw] = imageSize;
  const [newh, neww] = inputSize;
  return { x: p.x / (neww / oldw), y: p.y / (newh / oldh) };
}

/**
 * How the image is placed on the canvas: canvas = image * zoom + pan.
 * zoom is canvas pixels per image pixel; pan is the canvas position of image (0, 0).
 */
export interface ViewTransform {
  zoom: number;
  panX: number;
  panY: number;
}

export const IDENTITY_VIEW: ViewTransform = { zoom: 1, panX: 0, panY: 0 };

export function imageToCanvas(p: Point, view: ViewTransform): Point {
  return { x: p.x * view.zoom + view.panX, y: p.y * view.zoom + view.panY };
}

export function canvasToImage(p: Point, view: ViewTransform): Point {
  return { x: (p.x - view.panX) / view.zoom, y: (p.y - view.panY) / view.zoom };
}

/** Zooms by `factor` keeping the image point under canvas point `anchor` fixed. */
export function zoomAt(view: ViewTransform, anchor: Point, factor: number): ViewTransform {
  const fixed = canvasToImage(anchor, view);
  const zoom = view.zoom * factor;
  return { zoom, panX: anchor.x - fixed.x * zoom, panY: anchor.y - fixed.y * zoom };
}

/** A view that fits an image of w x h into a viewport, centred. */
export function fitView(imageW: number, imageH: number, viewportW: number, viewportH: number): ViewTransform {
  const zoom = Math.min(viewportW / imageW, viewportH / imageH);
  return { zoom, panX: (viewportW - imageW * zoom) / 2, panY: (viewportH - imageH * zoom) / 2 };
}

/**
 * Image pixel under a pointer, for an element that shows the whole image
 * stretched over its bounding box (the CSS-scaled canvases of the viewer).
 * Separate x and y ratios, so a box rounded to whole CSS pixels stays exact.
 */
export function clientToImage(
  clientX: number,
  clientY: number,
  rect: { left: number; top: number; width: number; height: number },
  imageW: number,
  imageH: number,
): Point {
  return {
    x: ((clientX - rect.left) * imageW) / rect.width,
    y: ((clientY - rect.top) * imageH) / rect.height,
  };
}

/** Clamps a point into [0, w] x [0, h]. */
export function clampToImage(p: Point, imageW: number, imageH: number): Point {
  return { x: Math.min(Math.max(p.x, 0), imageW), y: Math.min(Math.max(p.y, 0), imageH) };
}
