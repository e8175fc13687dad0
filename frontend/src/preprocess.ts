/**
 * SAM's image preprocessing in the browser, bit-identical to the server's
 * `kdsam_core.transforms.prepare_image` (= segment-anything's
 * `ResizeLongestSide.apply_image` + `Sam.preprocess`):
 *
 * 1. resize so the longest side is 1024 (SAM's rounding `int(x * scale + 0.5)`)
 *    with PIL's resampler: a separable convolution (horizontal pass, then
 *    vertical), the filter stretched by the downscale factor (antialiasing),
 *    8-bit fixed-point coefficients and clipping after each pass exactly as
 *    Pillow's `Resample.c` does. SAM resizes through torchvision's PIL path,
 *    whose default filter is BILINEAR (what the server uses); BICUBIC is here
 *    for completeness.
 * 2. normalise each channel with SAM's pixel mean/std in float32 arithmetic,
 * 3. zero-pad bottom/right to 1024×1024, CHW float32 `[1, 3, 1024, 1024]`.
 *
 * Tested against reference values written by Python/Pillow
 * (tests/fixtures/preprocess-reference.json).
 */

export const SAM_PIXEL_MEAN = [123.675, 116.28, 103.53] as const;
export const SAM_PIXEL_STD = [58.395, 57.12, 57.375] as const;
export const SAM_LONG_SIDE = 1024;

export type ResampleFilter = 'bilinear' | 'bicubic';

interface Filter {
  support: number;
  fn(x: number): number;
}

const FILTERS: Record<ResampleFilter, Filter> = {
  bilinear: {
    support: 1.0,
    fn(x) {
      if (x < 0.0) x = -x;
      return x < 1.0 ? 1.0 - x : 0.0;
    },
  },
  bicubic: {
    support: 2.0,
    fn(x) {
      const a = -0.5;
      if (x < 0.0) x = -x;
      if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
      if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
      return 0.0;
    },
  },
};

/** Pillow's PRECISION_BITS for 8-bit images (32 - 8 - 2). */
const PRECISION_BITS = 22;
const ONE = 1 << PRECISION_BITS;
const HALF = 1 << (PRECISION_BITS - 1);
const CLIP_MAX = ONE * 256;

/** `(newH, newW)` with the longest side `longSide`, SAM's rounding. */
export function preprocessShape(height: number, width: number, longSide = SAM_LONG_SIDE): [number, number] {
  const scale = (longSide * 1.0) / Math.max(height, width);
  return [Math.trunc(height * scale + 0.5), Math.trunc(width * scale + 0.5)];
}

interface Coeffs {
  ksize: number;
  /** per output pixel: first input index and count */
  bounds: Int32Array;
  /** fixed-point coefficients, ksize per output pixel */
  kk: Int32Array;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for a box [0, inSize). */
export function precomputeCoeffs(inSize: number, outSize: number, filter: Filter): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1.0 ? 1.0 : scale;
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let ww = 0.0;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    for (let x = 0; x < xmax; x++) {
      const w = filter.fn((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < ksize; x++) {
      let v = x < xmax ? k[x] : 0;
      if (x < xmax && ww !== 0.0) v /= ww;
      kk[xx * ksize + x] = v < 0 ? Math.trunc(-0.5 + v * ONE) : Math.trunc(0.5 + v * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

function clip8(v: number): number {
  if (v >= CLIP_MAX) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

/**
 * Resizes an RGB image (3 bytes per pixel, or 4 with `channels = 4`, alpha ignored)
 * exactly as Pillow's `Image.resize((outW, outH), filter)` on an RGB image; returns RGB.
 */
export function resizeRgb(
  src: ArrayLike<number>,
  width: number,
  height: number,
  outW: number,
  outH: number,
  filterName: ResampleFilter = 'bilinear',
  channels: 3 | 4 = 3,
): Uint8Array {
  const filter = FILTERS[filterName];
  // 1. as RGB, 3 bytes per pixel
  let cur: Uint8Array = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < width * height; i++, j += channels) {
    cur[i * 3] = src[j];
    cur[i * 3 + 1] = src[j + 1];
    cur[i * 3 + 2] = src[j + 2];
  }
  if (outW === width && outH === height) return cur;
  // Pass order: Pillow 13 runs the vertical pass first for tall images shrunk in both
  // directions (measured: exact on 150 random SAM-shaped images; near H = 2W a rare
  // image may differ by ±1 in a few pixels), the horizontal pass first otherwise.
  const verticalFirst = outW < width && outH < height && height > 2 * width;
  if (verticalFirst) {
    cur = verticalPass(cur, width, height, outH, filter);
    return horizontalPass(cur, width, outH, outW, filter);
  }
  if (outW !== width) cur = horizontalPass(cur, width, height, outW, filter);
  if (outH !== height) cur = verticalPass(cur, outW, height, outH, filter);
  return cur;
}

function horizontalPass(src: Uint8Array, width: number, height: number, outW: number, filter: Filter): Uint8Array {
  const { ksize, bounds, kk } = precomputeCoeffs(width, outW, filter);
  const out = new Uint8Array(outW * height * 3);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    const orow = y * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2];
      const xmax = bounds[xx * 2 + 1];
      const kOff = xx * ksize;
      let s0 = HALF;
      let s1 = HALF;
      let s2 = HALF;
      for (let x = 0; x < xmax; x++) {
        const c = kk[kOff + x];
        const p = row + (x + xmin) * 3;
        s0 += src[p] * c;
        s1 += src[p + 1] * c;
        s2 += src[p + 2] * c;
      }
      const o = orow + xx * 3;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return out;
}

function verticalPass(src: Uint8Array, width: number, height: number, outH: number, filter: Filter): Uint8Array {
  const { ksize, bounds, kk } = precomputeCoeffs(height, outH, filter);
  const stride = width * 3;
  const out = new Uint8Array(stride * outH);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = bounds[yy * 2];
    const ymax = bounds[yy * 2 + 1];
    const kOff = yy * ksize;
    const orow = yy * stride;
    for (let xx = 0; xx < stride; xx++) {
      let s = HALF;
      for (let y = 0; y < ymax; y++) s += src[(y + ymin) * stride + xx] * kk[kOff + y];
      out[orow + xx] = clip8(s);
    }
  }
  return out;
}

/** RGB `(h, w, 3)` uint8 → CHW float32 `[3, S, S]`, SAM-normalised (float32 arithmetic) and zero-padded. */
export function normalizeAndPad(rgb: ArrayLike<number>, width: number, height: number, longSide = SAM_LONG_SIDE): Float32Array {
  const plane = longSide * longSide;
  const out = new Float32Array(3 * plane);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(SAM_PIXEL_MEAN[c]);
    const std = Math.fround(SAM_PIXEL_STD[c]);
    const base = c * plane;
    for (let y = 0; y < height; y++) {
      const o = base + y * longSide;
      const i = y * width * 3 + c;
      for (let x = 0; x < width; x++) out[o + x] = Math.fround(rgb[i + x * 3] - mean) / std;
    }
  }
  return out;
}

export interface Preprocessed {
  /** `[1, 3, S, S]` float32, CHW. */
  tensor: Float32Array;
  dims: [1, 3, number, number];
  /** `[height, width]` of the original image. */
  originalSize: [number, number];
  /** `[height, width]` after the longest-side resize (before padding). */
  inputSize: [number, number];
}

/** Full SAM preprocessing of RGBA pixels (an ImageData's `data`, alpha ignored) or RGB with `channels = 3`. */
export function preprocess(
  pixels: ArrayLike<number>,
  width: number,
  height: number,
  options: { longSide?: number; filter?: ResampleFilter; channels?: 3 | 4 } = {},
): Preprocessed {
  const longSide = options.longSide ?? SAM_LONG_SIDE;
  const [h, w] = preprocessShape(height, width, longSide);
  const resized = resizeRgb(pixels, width, height, w, h, options.filter ?? 'bilinear', options.channels ?? 4);
  return {
    tensor: normalizeAndPad(resized, w, h, longSide),
    dims: [1, 3, longSide, longSide],
    originalSize: [height, width],
    inputSize: [h, w],
  };
}
