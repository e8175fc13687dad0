import { describe, expect, it } from 'vitest';
import { composedTaps, linearTaps, upsampleMasks } from '../src/mask-upsample';
import cases from './fixtures/mask-upsample.json';

describe('mask upsampling (SAM postprocess_masks in the browser)', () => {
  it('linear taps follow PyTorch bilinear with align_corners=False', () => {
    // 4 → 8: src = (d + 0.5) / 2 - 0.5, clamped at 0
    const { i0, i1, l1 } = linearTaps(4, 8);
    expect(Array.from(i0)).toEqual([0, 0, 0, 1, 1, 2, 2, 3]);
    expect(Array.from(i1)).toEqual([1, 1, 1, 2, 2, 3, 3, 3]);
    expect(Array.from(l1)).toEqual([0, 0.25, 0.75, 0.25, 0.75, 0.25, 0.75, 0.25]);
  });

  it('composed taps of each output index sum to one', () => {
    const taps = composedTaps(256, 1024, 881, 529);
    for (let d = 0; d < 529; d++) {
      const w = taps.weight.slice(d * 4, d * 4 + 4).reduce((a, b) => a + b, 0);
      expect(w).toBeCloseTo(1, 6);
    }
  });

  it.each(cases.map((c) => [`${c.lowSize}² → ${c.original.join('×')}`, c] as const))(
    'equals Python postprocess_masks for %s',
    (_, c) => {
      const [h, w] = c.original;
      const out = upsampleMasks(new Float32Array(c.low), 2, c.lowSize, c.lowSize, h, w);
      expect(out.length).toBe(c.expected.length);
      let maxDiff = 0;
      for (let i = 0; i < out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(out[i] - c.expected[i]));
      expect(maxDiff).toBeLessThan(1e-4);
    },
  );

  it('a constant mask stays constant at any size', () => {
    const low = new Float32Array(256 * 256).fill(-3.5);
    const out = upsampleMasks(low, 1, 256, 256, 529, 622);
    expect(out.length).toBe(529 * 622);
    expect(Math.min(...out.subarray(0, 5000))).toBeCloseTo(-3.5, 5);
    expect(Math.max(...out.subarray(out.length - 5000))).toBeCloseTo(-3.5, 5);
  });
});
