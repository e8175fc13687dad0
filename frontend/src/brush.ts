/** Painting into a binary mask: a round brush (value 1) or eraser (value 0) along a stroke. */
import type { Point } from './transforms';

/** Sets every pixel whose centre lies within `radius` of `c` to `value`; returns whether anything changed. */
export function paintDisc(mask: Uint8Array, width: number, height: number, c: Point, radius: number, value: 0 | 1): boolean {
  let changed = false;
  const r2 = radius * radius;
  const y0 = Math.max(0, Math.floor(c.y - radius));
  const y1 = Math.min(height - 1, Math.ceil(c.y + radius));
  const x0 = Math.max(0, Math.floor(c.x - radius));
  const x1 = Math.min(width - 1, Math.ceil(c.x + radius));
  for (let y = y0; y <= y1; y++) {
    const dy = y + 0.5 - c.y;
    for (let x = x0; x <= x1; x++) {
      const dx = x + 0.5 - c.x;
      if (dx * dx + dy * dy <= r2) {
        const i = y * width + x;
        if (mask[i] !== value) {
          mask[i] = value;
          changed = true;
        }
      }
    }
  }
  return changed;
}

/** Paints discs along the segment a→b, spaced at most radius/2 apart. */
export function paintStroke(
  mask: Uint8Array, width: number, height: number, a: Point, b: Point, radius: number, value: 0 | 1,
): boolean {
  const dist = Math.hypot(b.x - a.x, b.y - a.y);
  const steps = Math.max(1, Math.ceil(dist / Math.max(0.5, radius / 2)));
  let changed = false;
  for (let s = 0; s <= steps; s++) {
    const t = s / steps;
    changed = paintDisc(mask, width, height, { x: a.x + (b.x - a.x) * t, y: a.y + (b.y - a.y) * t }, radius, value) || changed;
  }
  return changed;
}
