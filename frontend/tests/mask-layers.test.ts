import { describe, expect, it } from 'vitest';
import { DEFAULT_STYLE, PREVIEW_OPACITY, maskStyle } from '../src/mask-layers';

describe('mask layers', () => {
  it('styles an object with its colour, the opacity percent and the outline choice', () => {
    expect(maskStyle({ color: '#ff0000' }, '40', true)).toEqual({ color: '#ff0000', opacity: 0.4, outline: true });
  });

  it('uses the default style without an active object', () => {
    expect(maskStyle(null, '90', true)).toEqual(DEFAULT_STYLE);
  });

  it('draws a preview no more opaque than the preview opacity', () => {
    expect([maskStyle({ color: '#fff' }, '80', false, true).opacity, maskStyle({ color: '#fff' }, '20', false, true).opacity]).toEqual([PREVIEW_OPACITY, 0.2]);
  });

  it('never changes the default style', () => {
    maskStyle(null, '50', false, true);
    expect(DEFAULT_STYLE.opacity).toBe(0.5);
  });
});
