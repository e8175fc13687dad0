/**
 * SAM's mask post-processing, in the browser: low-res mask logits → logits at the original size.
 *
 * The decoder the server hands the browser (webapp/segmentation/browser_decoder.py) stops at the
 * low-res logits [1, M, 4G, 4G] (256² for SAM) and the client does the rest, as SAM's
 * `postprocess_masks` does in Python:
 *
 *   up   = F.interpolate(low, (img, img), bilinear, align_corners=False)   img = 4 · 256 = 1024
 *   crop = up[..., :inH, :inW]                                             ResizeLongestSide size
 *   out  = F.interpolate(crop, (H, W), bilinear, align_corners=False)
 *
 * Bilinear resizing is separable and each step is linear, so per axis the two resizes compose into
 * one set of at most 4 taps into the low-res grid: the whole thing costs 4 multiply-adds per
 * low-res row × output column plus 4 per output pixel, with no 1024² intermediate. Equal to the
 * Python/ONNX post-processing up to float rounding (frontend/tests/mask-upsample.test.ts).
 */
import { getPreprocessShape } from './transforms';

/** Per output index: 4 source indices and weights into the low-res axis. */
export interface AxisTaps {
  index: Int32Array;
  weight: Float32Array;
}

/** PyTorch's 1-D linear resize (align_corners=False): two taps per output index. */
export function linearTaps(inSize: number, outSize: number): { i0: Int32Array; i1: Int32Array; l1: Float64Array } {
  const scale = inSize / outSize;
  const i0 = new Int32Array(outSize);
  const i1 = new Int32Array(outSize);
  const l1 = new Float64Array(outSize);
  for (let d = 0; d < outSize; d++) {
    const src = Math.max((d + 0.5) * scale - 0.5, 0);
    const a = Math.min(Math.floor(src), inSize - 1);
    i0[d] = a;
    i1[d] = a < inSize - 1 ? a + 1 : a;
    l1[d] = src - a;
  }
  return { i0, i1, l1 };
}

/** low (lowSize) → up (upSize) → crop to cropSize → out (outSize), composed into 4 taps per output. */
export function composedTaps(lowSize: number, upSize: number, cropSize: number, outSize: number): AxisTaps {
  const first = linearTaps(lowSize, upSize);
  const second = linearTaps(cropSize, outSize);
  const index = new Int32Array(outSize * 4);
  const weight = new Float32Array(outSize * 4);
  for (let d = 0; d < outSize; d++) {
    const ks = [second.i0[d], second.i1[d]];
    const ws = [1 - second.l1[d], second.l1[d]];
    for (let t = 0; t < 2; t++) {
      const k = ks[t];
      index[d * 4 + 2 * t] = first.i0[k];
      index[d * 4 + 2 * t + 1] = first.i1[k];
      weight[d * 4 + 2 * t] = ws[t] * (1 - first.l1[k]);
      weight[d * 4 + 2 * t + 1] = ws[t] * first.l1[k];
    }
  }
  return { index, weight };
}

const tapCache = new Map<string, { rows: AxisTaps; cols: AxisTaps }>();

function tapsFor(lowH: number, lowW: number, imgSize: number, origH: number, origW: number) {
  const key = `${lowH}x${lowW}:${imgSize}:${origH}x${origW}`;
  let taps = tapCache.get(key);
  if (!taps) {
    const [inH, inW] = getPreprocessShape(origH, origW, imgSize);
    taps = {
      rows: composedTaps(lowH, imgSize, inH, origH),
      cols: composedTaps(lowW, imgSize, inW, origW),
    };
    if (tapCache.size > 16) tapCache.clear();
    tapCache.set(key, taps);
  }
  return taps;
}

/**
 * Upsample masks [M, lowH, lowW] (logits, row-major, M stacked) to [M, origH, origW].
 * `imgSize` is the encoder's input side (SAM: 1024 = 4 × the low-res side).
 */
export function upsampleMasks(
  lowRes: Float32Array,
  count: number,
  lowH: number,
  lowW: number,
  origH: number,
  origW: number,
  imgSize = 4 * Math.max(lowH, lowW),
): Float32Array {
  const { rows, cols } = tapsFor(lowH, lowW, imgSize, origH, origW);
  const out = new Float32Array(count * origH * origW);
  const tmp = new Float32Array(lowH * origW);
  const ci = cols.index;
  const cw = cols.weight;
  const ri = rows.index;
  const rw = rows.weight;
  for (let m = 0; m < count; m++) {
    const src = m * lowH * lowW;
    // columns: every low-res row to the output width
    for (let r = 0; r < lowH; r++) {
      const row = src + r * lowW;
      const dst = r * origW;
      for (let x = 0, t = 0; x < origW; x++, t += 4) {
        tmp[dst + x] =
          cw[t] * lowRes[row + ci[t]] +
          cw[t + 1] * lowRes[row + ci[t + 1]] +
          cw[t + 2] * lowRes[row + ci[t + 2]] +
          cw[t + 3] * lowRes[row + ci[t + 3]];
      }
    }
    // rows: output rows from 4 width-resized low-res rows
    const base = m * origH * origW;
    for (let y = 0, t = 0; y < origH; y++, t += 4) {
      const r0 = ri[t] * origW;
      const r1 = ri[t + 1] * origW;
      const r2 = ri[t + 2] * origW;
      const r3 = ri[t + 3] * origW;
      const w0 = rw[t];
      const w1 = rw[t + 1];
      const w2 = rw[t + 2];
      const w3 = rw[t + 3];
      const dst = base + y * origW;
      for (let x = 0; x < origW; x++) {
        out[dst + x] = w0 * tmp[r0 + x] + w1 * tmp[r1 + x] + w2 * tmp[r2 + x] + w3 * tmp[r3 + x];
      }
    }
  }
  return out;
}
