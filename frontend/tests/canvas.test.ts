import { describe, expect, it } from 'vitest';
import { MASK_COLOR, maskToRgba } from '../src/canvas';

describe('mask overlay pixels', () => {
  it('colours logits > 0 with alpha > 0 and leaves every other pixel alpha exactly 0', () => {
    const logits = new Float32Array([-1, 0, 0.0001, 5, -0, NaN]);
    const { pixels, area } = maskToRgba(logits, 3, 2, 0.0);
    const alpha = Array.from({ length: 6 }, (_, i) => pixels[i * 4 + 3]);
    expect(alpha).toEqual([0, 0, MASK_COLOR[3], MASK_COLOR[3], 0, 0]);
    expect(MASK_COLOR[3]).toBeGreaterThan(0);
    expect(MASK_COLOR[3]).toBeLessThan(255); // semi-transparent
    expect(area).toBe(2);
    expect(Array.from(pixels.subarray(0, 4))).toEqual([0, 0, 0, 0]);
  });

  it('uses the model threshold', () => {
    const { area } = maskToRgba(new Float32Array([0.5, 1.5]), 2, 1, 1.0);
    expect(area).toBe(1);
  });

  it('rejects a mask smaller than the image', () => {
    expect(() => maskToRgba(new Float32Array(3), 2, 2)).toThrow(RangeError);
  });
});
