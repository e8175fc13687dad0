/**
 * Window/level (VOI LUT) of DICOM modality values for display, as DICOM PS3.3
 * C.11.2.1.2 defines the linear function (the same formula the server uses for
 * the default display): values below center - width/2 are black, above
 * center + width/2 white. MONOCHROME1 images are inverted.
 */

export interface Window {
  center: number;
  width: number;
}

export interface WindowPreset extends Window {
  name: string;
}

/** The `display` object of a DICOM image (docs/api.md). */
export interface DisplayInfo {
  modality?: string;
  windowing?: boolean;
  photometric?: string;
  range?: [number, number];
  window?: Window;
  presets?: WindowPreset[];
}

/** One value through the window, 0..255 (DICOM linear function). */
export function windowValue(v: number, w: Window): number {
  if (w.width <= 1) return v <= w.center - 0.5 ? 0 : 255;
  const scaled = ((v - (w.center - 0.5)) / (w.width - 1) + 0.5) * 255;
  return Math.min(255, Math.max(0, Math.floor(scaled + 0.5)));
}

/** Opaque grey RGBA pixels of `values` through the window. */
export function windowToRgba(values: Float32Array, w: Window, invert = false): Uint8ClampedArray<ArrayBuffer> {
  const out = new Uint8ClampedArray(values.length * 4);
  for (let i = 0; i < values.length; i++) {
    let g = windowValue(values[i], w);
    if (invert) g = 255 - g;
    const o = i * 4;
    out[o] = out[o + 1] = out[o + 2] = g;
    out[o + 3] = 255;
  }
  return out;
}

/** The window after a drag of (dx, dy) CSS pixels from `start`: right widens, down raises the level. */
export function dragWindow(start: Window, dx: number, dy: number, range: [number, number] | undefined): Window {
  const span = range ? Math.max(1, range[1] - range[0]) : Math.max(1, start.width);
  return {
    width: Math.max(1, start.width * Math.exp(dx / 150)),
    center: start.center + (dy * span) / 400,
  };
}
