/**
 * Drawing: the image at its natural resolution on one canvas, the decoder's
 * mask on a second canvas of the same size stacked on top. Mask pixels get a
 * semi-transparent colour, every other overlay pixel stays alpha 0 exactly
 * (putImageData writes pixels as given, no compositing).
 */
import type { Click } from './prompts';

/** RGBA, each 0-255. */
export type Rgba = [number, number, number, number];

export const MASK_COLOR: Rgba = [30, 144, 255, 140];
export const POSITIVE_COLOR = '#22c55e';
export const NEGATIVE_COLOR = '#ef4444';

function context(canvas: HTMLCanvasElement): CanvasRenderingContext2D {
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('2D canvas is not available in this browser');
  return ctx;
}

/** Sizes the canvas to the image's natural size and draws it. */
export function drawImage(canvas: HTMLCanvasElement, image: CanvasImageSource & { width: number; height: number }): void {
  const w = 'naturalWidth' in image ? (image as HTMLImageElement).naturalWidth : image.width;
  const h = 'naturalHeight' in image ? (image as HTMLImageElement).naturalHeight : image.height;
  canvas.width = w;
  canvas.height = h;
  const ctx = context(canvas);
  ctx.clearRect(0, 0, w, h);
  ctx.drawImage(image, 0, 0, w, h);
}

/** Makes the overlay the same natural size as the image and fully transparent. */
export function resetOverlay(overlay: HTMLCanvasElement, width: number, height: number): void {
  if (overlay.width !== width) overlay.width = width;
  if (overlay.height !== height) overlay.height = height;
  context(overlay).clearRect(0, 0, width, height);
}

/**
 * RGBA pixels for a mask of logits: `color` where logit > threshold, transparent
 * black (0, 0, 0, 0) elsewhere. Returns the pixels and the mask pixel count.
 */
export function maskToRgba(
  logits: ArrayLike<number>,
  width: number,
  height: number,
  threshold = 0.0,
  color: Rgba = MASK_COLOR,
): { pixels: Uint8ClampedArray<ArrayBuffer>; area: number } {
  const n = width * height;
  if (logits.length < n) throw new RangeError(`mask has ${logits.length} values, expected ${n}`);
  const pixels = new Uint8ClampedArray(n * 4);
  const [r, g, b, a] = color;
  let area = 0;
  for (let i = 0; i < n; i++) {
    if (logits[i] > threshold) {
      const o = i * 4;
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
      pixels[o + 3] = a;
      area++;
    }
  }
  return { pixels, area };
}

/** Replaces the overlay's content with the thresholded mask; returns the mask area. */
export function drawMask(
  overlay: HTMLCanvasElement,
  logits: ArrayLike<number>,
  width: number,
  height: number,
  threshold = 0.0,
  color: Rgba = MASK_COLOR,
): number {
  resetOverlay(overlay, width, height);
  const { pixels, area } = maskToRgba(logits, width, height, threshold, color);
  context(overlay).putImageData(new ImageData(pixels, width, height), 0, 0);
  return area;
}

/** Clears the overlay to alpha 0 everywhere. */
export function clearMask(overlay: HTMLCanvasElement): void {
  context(overlay).clearRect(0, 0, overlay.width, overlay.height);
}

/**
 * Draws click markers on a separate markers canvas (kept apart from the mask
 * overlay so the overlay holds nothing but the mask).
 */
export function drawClicks(markers: HTMLCanvasElement, width: number, height: number, clicks: readonly Click[]): void {
  if (markers.width !== width) markers.width = width;
  if (markers.height !== height) markers.height = height;
  const ctx = context(markers);
  ctx.clearRect(0, 0, width, height);
  const radius = Math.max(3, Math.round(Math.max(width, height) / 120));
  for (const c of clicks) {
    ctx.beginPath();
    ctx.arc(c.x, c.y, radius, 0, Math.PI * 2);
    ctx.fillStyle = c.label === 1 ? POSITIVE_COLOR : NEGATIVE_COLOR;
    ctx.fill();
    ctx.lineWidth = Math.max(1, radius / 3);
    ctx.strokeStyle = '#ffffff';
    ctx.stroke();
  }
}
