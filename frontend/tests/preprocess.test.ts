import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { normalizeAndPad, preprocess, preprocessShape, resizeRgb, type ResampleFilter } from '../src/preprocess';

// written by tests/fixtures/make_preprocess_reference.py (Pillow + kdsam_core.transforms)
const ref = JSON.parse(readFileSync(new URL('./fixtures/preprocess-reference.json', import.meta.url), 'utf8')) as {
  small: { height: number; width: number; long_side: number; filter: ResampleFilter; out_size: [number, number]; resized_b64: string }[];
  full: {
    height: number;
    width: number;
    input_size: [number, number];
    resized_sha256: string;
    tensor_sha256: string;
    tensor_samples: [number, number, number, number][];
  }[];
};

/** The same deterministic image as make_preprocess_reference.synthetic, as RGB or RGBA. */
function synthetic(height: number, width: number, channels: 3 | 4 = 3): Uint8Array {
  const out = new Uint8Array(height * width * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++)
        out[(y * width + x) * channels + c] =
          (x * 7 + y * 13 + c * 29 + ((x * y) % 17) + ((Math.floor(x / 5) + Math.floor(y / 3)) % 2) * 90) % 256;
      if (channels === 4) out[(y * width + x) * 4 + 3] = 255;
    }
  return out;
}

const sha256 = (a: ArrayBufferView) => createHash('sha256').update(new Uint8Array(a.buffer, a.byteOffset, a.byteLength)).digest('hex');

describe('resizeRgb matches Pillow exactly', () => {
  for (const c of ref.small) {
    it(`${c.height}×${c.width} → ${c.out_size.join('×')} ${c.filter}`, () => {
      const [h, w] = preprocessShape(c.height, c.width, c.long_side);
      expect([h, w]).toEqual(c.out_size);
      const out = resizeRgb(synthetic(c.height, c.width), c.width, c.height, w, h, c.filter, 3);
      const expected = new Uint8Array(Buffer.from(c.resized_b64, 'base64'));
      expect(out.length).toBe(expected.length);
      let mismatches = 0;
      for (let i = 0; i < out.length; i++) if (out[i] !== expected[i]) mismatches++;
      expect(mismatches).toBe(0);
    });
  }
});

describe('preprocess matches kdsam_core.transforms.prepare_image bit for bit', () => {
  for (const c of ref.full) {
    it(`${c.height}×${c.width} at 1024`, () => {
      const rgba = synthetic(c.height, c.width, 4);
      const [h, w] = preprocessShape(c.height, c.width);
      expect([h, w]).toEqual(c.input_size);
      expect(sha256(resizeRgb(rgba, c.width, c.height, w, h, 'bilinear', 4))).toBe(c.resized_sha256);
      const p = preprocess(rgba, c.width, c.height);
      expect(p.inputSize).toEqual(c.input_size);
      expect(p.originalSize).toEqual([c.height, c.width]);
      expect(p.dims).toEqual([1, 3, 1024, 1024]);
      for (const [ch, y, x, v] of c.tensor_samples) expect(p.tensor[ch * 1024 * 1024 + y * 1024 + x]).toBe(Math.fround(v));
      expect(sha256(p.tensor)).toBe(c.tensor_sha256);
    });
  }
});

describe('normalizeAndPad', () => {
  it('uses SAM mean/std and pads with zeros', () => {
    const rgb = new Uint8Array([255, 0, 128]);
    const t = normalizeAndPad(rgb, 1, 1, 4);
    expect(t[0]).toBeCloseTo((255 - 123.675) / 58.395, 5);
    expect(t[16]).toBeCloseTo((0 - 116.28) / 57.12, 5);
    expect(t[32]).toBeCloseTo((128 - 103.53) / 57.375, 5);
    expect(t[1]).toBe(0);
    expect(t[15]).toBe(0);
  });
});
