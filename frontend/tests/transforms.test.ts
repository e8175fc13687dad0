import { describe, expect, it } from 'vitest';
import reference from './fixtures/preprocess-shapes.json';
import {
  canvasToImage,
  clientToImage,
  fitView,
  getPreprocessShape,
  imageToCanvas,
  imageToInput,
  inputToImage,
  zoomAt,
  type ViewTransform,
} from '../src/transforms';

describe('getPreprocessShape (ResizeLongestSide)', () => {
  it.each([
    [529, 622, 871, 1024],
    [1024, 768, 1024, 768],
    [300, 200, 1024, 683],
    [683, 1024, 683, 1024],
    [1024, 683, 1024, 683],
    [640, 480, 1024, 768],
    [1080, 1920, 576, 1024],
    [512, 512, 1024, 1024],
    [1, 1, 1024, 1024],
  ])('maps %i x %i (h x w) to %i x %i like segment_anything', (h, w, nh, nw) => {
    expect(getPreprocessShape(h, w, 1024)).toEqual([nh, nw]);
  });

  it('rounds exact halves up like int(x + 0.5), not to even like round()', () => {
    // 5 * 1024/2048 = 2.5 -> 3 (Python round() would give 2); 3 * 0.5 = 1.5 -> 2; 1 * 0.5 -> 1
    expect(getPreprocessShape(5, 2048)).toEqual([3, 1024]);
    expect(getPreprocessShape(3, 2048)).toEqual([2, 1024]);
    expect(getPreprocessShape(1, 2048)).toEqual([1, 1024]);
    expect(getPreprocessShape(2048, 5)).toEqual([1024, 3]);
  });

  it('swaps height and width between portrait and landscape', () => {
    expect(getPreprocessShape(683, 1024)).toEqual([683, 1024]);
    expect(getPreprocessShape(1024, 683)).toEqual([1024, 683]);
    expect(getPreprocessShape(529, 622)).toEqual([871, 1024]);
    expect(getPreprocessShape(622, 529)).toEqual([1024, 871]);
  });

  it('matches 400 shapes computed by segment_anything itself', () => {
    for (const [h, w, nh, nw] of reference.rows_h_w_newh_neww) {
      expect(getPreprocessShape(h, w, 1024), `${h}x${w}`).toEqual([nh, nw]);
    }
  });

  it('rejects an empty image size', () => {
    expect(() => getPreprocessShape(0, 10)).toThrow(RangeError);
  });
});

describe('image <-> 1024 input space', () => {
  it('scales x by input_w/width and y by input_h/height like apply_coords', () => {
    // values from ResizeLongestSide(1024).apply_coords(..., (529, 622))
    const a = imageToInput({ x: 10.5, y: 20.25 }, [529, 622]);
    expect(a.x).toBeCloseTo(17.286173633440516, 12);
    expect(a.y).toBeCloseTo(33.34168241965973, 12);
    const b = imageToInput({ x: 621.9, y: 528.1 }, [529, 622], [871, 1024]);
    expect(b.x).toBeCloseTo(1023.8353697749195, 12);
    expect(b.y).toBeCloseTo(869.5181474480152, 12);
    const c = imageToInput({ x: 199.99, y: 299.5 }, [300, 200]);
    expect(c.x).toBeCloseTo(682.96585, 10);
    expect(c.y).toBeCloseTo(1022.2933333333334, 10);
  });

  it('uses separate x and y ratios (not one scale) when rounding makes them differ', () => {
    const p = imageToInput({ x: 200, y: 300 }, [300, 200], [1024, 683]);
    expect(p.x).toBeCloseTo(683, 10); // 200 * 683/200
    expect(p.y).toBeCloseTo(1024, 10);
  });

  it('round-trips image -> input -> image', () => {
    for (const [h, w] of [[529, 622], [300, 200], [1, 2048], [4000, 3000]] as const) {
      for (const pt of [{ x: 0, y: 0 }, { x: w / 3, y: h / 7 }, { x: w, y: h }]) {
        const back = inputToImage(imageToInput(pt, [h, w]), [h, w]);
        expect(back.x).toBeCloseTo(pt.x, 9);
        expect(back.y).toBeCloseTo(pt.y, 9);
      }
    }
  });
});

describe('image <-> canvas with zoom and pan', () => {
  const views: ViewTransform[] = [
    { zoom: 1, panX: 0, panY: 0 },
    { zoom: 0.37, panX: 12.5, panY: -40 },
    { zoom: 3.2, panX: -800, panY: 77.25 },
  ];

  it('round-trips image -> canvas -> image', () => {
    for (const view of views) {
      const p = { x: 311.7, y: 45.2 };
      const back = canvasToImage(imageToCanvas(p, view), view);
      expect(back.x).toBeCloseTo(p.x, 9);
      expect(back.y).toBeCloseTo(p.y, 9);
    }
  });

  it('round-trips canvas -> image -> 1024 -> image -> canvas', () => {
    const size: [number, number] = [529, 622];
    for (const view of views) {
      const c = { x: 123.4, y: 56.7 };
      const img = canvasToImage(c, view);
      const back = imageToCanvas(inputToImage(imageToInput(img, size), size), view);
      expect(back.x).toBeCloseTo(c.x, 8);
      expect(back.y).toBeCloseTo(c.y, 8);
    }
  });

  it('places image (0,0) at the pan offset and scales by zoom', () => {
    const view = { zoom: 2, panX: 10, panY: 20 };
    expect(imageToCanvas({ x: 0, y: 0 }, view)).toEqual({ x: 10, y: 20 });
    expect(imageToCanvas({ x: 5, y: 7 }, view)).toEqual({ x: 20, y: 34 });
  });

  it('keeps the image point under the cursor fixed when zooming', () => {
    const view = { zoom: 1.5, panX: 30, panY: -10 };
    const anchor = { x: 200, y: 150 };
    const before = canvasToImage(anchor, view);
    const after = canvasToImage(anchor, zoomAt(view, anchor, 2.5));
    expect(after.x).toBeCloseTo(before.x, 9);
    expect(after.y).toBeCloseTo(before.y, 9);
  });

  it('fits and centres an image in a viewport', () => {
    const v = fitView(622, 529, 800, 600);
    expect(v.zoom).toBeCloseTo(600 / 529, 12);
    expect(imageToCanvas({ x: 622, y: 529 }, v).y).toBeCloseTo(600, 9);
    expect(v.panX).toBeCloseTo((800 - 622 * v.zoom) / 2, 9);
  });

  it('maps a pointer on a CSS-scaled canvas to image pixels with separate x/y ratios', () => {
    const rect = { left: 100, top: 50, width: 311, height: 264 }; // 622x529 shown at ~half size
    const p = clientToImage(100 + 311 / 2, 50 + 264, rect, 622, 529);
    expect(p.x).toBeCloseTo(311, 9);
    expect(p.y).toBeCloseTo(529, 9);
  });
});
