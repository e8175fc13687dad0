/**
 * Drawing: the image at its natural resolution on one canvas, the decoder's
 * mask on a second canvas of the same size stacked on top. Mask pixels get a
 * semi-transparent colour, every other overlay pixel stays alpha 0 exactly
 * (putImageData writes pixels as given, no compositing).
 */
import type { Box, Click } from './prompts';

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

/** Binary mask (1 inside) of `logits[offset .. offset + n)` > threshold. */
export function binaryFromLogits(logits: ArrayLike<number>, offset: number, n: number, threshold = 0.0): Uint8Array {
  if (logits.length < offset + n) throw new RangeError(`mask has ${logits.length - offset} values, expected ${n}`);
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = logits[offset + i] > threshold ? 1 : 0;
  return out;
}

/** "#rrggbb" → [r, g, b]. */
export function hexToRgb(hex: string): [number, number, number] {
  const m = /^#?([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(hex);
  if (!m) return [30, 144, 255];
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

export interface MaskStyle {
  color: string;
  /** 0..1 fill opacity. */
  opacity: number;
  /** Only the boundary pixels (opaque). */
  outline: boolean;
}

/**
 * RGBA pixels of a binary mask: inside pixels get the colour at the style's
 * opacity (or, in outline mode, only boundary pixels, opaque); every other
 * pixel is transparent black. Writes into `pixels` when given (compositing
 * several masks: later ones win where they are drawn).
 */
export function binaryToRgba(
  mask: ArrayLike<number>,
  width: number,
  height: number,
  style: MaskStyle,
  pixels: Uint8ClampedArray<ArrayBuffer> = new Uint8ClampedArray(width * height * 4),
): Uint8ClampedArray<ArrayBuffer> {
  const [r, g, b] = hexToRgb(style.color);
  const alpha = style.outline ? 255 : Math.max(1, Math.round(255 * Math.min(1, Math.max(0, style.opacity))));
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!mask[i]) continue;
      if (style.outline) {
        const edge =
          x === 0 || y === 0 || x === width - 1 || y === height - 1 ||
          !mask[i - 1] || !mask[i + 1] || !mask[i - width] || !mask[i + width];
        if (!edge) continue;
      }
      const o = i * 4;
      pixels[o] = r;
      pixels[o + 1] = g;
      pixels[o + 2] = b;
      pixels[o + 3] = alpha;
    }
  }
  return pixels;
}

/** Replaces the canvas content with the given binary masks (each in its own style). */
export function drawBinaryMasks(
  canvas: HTMLCanvasElement,
  width: number,
  height: number,
  masks: readonly { mask: ArrayLike<number>; style: MaskStyle }[],
): void {
  resetOverlay(canvas, width, height);
  if (!masks.length) return;
  const pixels = new Uint8ClampedArray(width * height * 4);
  for (const m of masks) binaryToRgba(m.mask, width, height, m.style, pixels);
  context(canvas).putImageData(new ImageData(pixels, width, height), 0, 0);
}

/** Click markers plus the box prompt (solid) and a box being dragged (dashed). */
export function drawPromptMarkers(
  markers: HTMLCanvasElement,
  width: number,
  height: number,
  clicks: readonly Click[],
  box: Box | null,
  dragging: Box | null = null,
): void {
  drawClicks(markers, width, height, clicks);
  const ctx = context(markers);
  const line = Math.max(1, Math.round(Math.max(width, height) / 400));
  for (const [b, dashed] of [[box, false], [dragging, true]] as const) {
    if (!b) continue;
    ctx.save();
    ctx.lineWidth = line;
    ctx.strokeStyle = '#facc15';
    if (dashed) ctx.setLineDash([4 * line, 3 * line]);
    ctx.strokeRect(Math.min(b[0], b[2]), Math.min(b[1], b[3]), Math.abs(b[2] - b[0]), Math.abs(b[3] - b[1]));
    ctx.restore();
  }
}
