import { describe, expect, it } from 'vitest';
import {
  formatTick,
  layoutChart,
  linearScale,
  logScale,
  logTicks,
  lossNames,
  lossSeries,
  lrSeries,
  niceStep,
  niceTicks,
  seriesStyle,
} from '../src/studio/chart';

describe('chart scaling', () => {
  it('maps a domain linearly onto a range (y grows downwards in SVG)', () => {
    const y = linearScale([0, 2], [200, 0]);
    expect(y(0)).toBe(200);
    expect(y(1)).toBe(100);
    expect(y(2)).toBe(0);
    expect(linearScale([3, 3], [0, 100])(3)).toBe(50); // one value: middle, never NaN
  });

  it('maps decades evenly on a log axis', () => {
    const y = logScale([1e-6, 1e-2], [100, 0]);
    expect(y(1e-6)).toBeCloseTo(100);
    expect(y(1e-4)).toBeCloseTo(50);
    expect(y(1e-2)).toBeCloseTo(0);
  });

  it('picks 1-2-5 steps and widens the domain to whole ticks', () => {
    expect(niceStep(1, 5)).toBeCloseTo(0.2);
    expect(niceStep(47, 5)).toBe(10);
    expect(niceStep(0.003, 5)).toBeCloseTo(0.001);
    expect(niceTicks(0, 1)).toEqual({ domain: [0, 1], ticks: [0, 0.2, 0.4, 0.6, 0.8, 1] });
    const t = niceTicks(0.131, 0.874, 5);
    expect(t.domain[0]).toBeLessThanOrEqual(0.131);
    expect(t.domain[1]).toBeGreaterThanOrEqual(0.874);
    expect(t.ticks).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.5, 0.5).domain[0]).toBeLessThan(0.5); // flat curve still gets a range
  });

  it('puts log ticks on powers of ten', () => {
    expect(logTicks(1e-4, 1e-4)).toEqual({ domain: [1e-5, 1e-3], ticks: [1e-5, 1e-4, 1e-3] });
    expect(logTicks(3e-6, 2e-4).ticks).toEqual([1e-6, 1e-5, 1e-4, 1e-3]);
  });

  it('labels ticks compactly', () => {
    expect(formatTick(0)).toBe('0');
    expect(formatTick(0.2)).toBe('0.2');
    expect(formatTick(1e-4)).toBe('1e-4');
    expect(formatTick(2500)).toBe('2.5k');
    expect(formatTick(0.30000000000000004)).toBe('0.3');
  });

  it('lays out paths inside the plot area, breaking lines at missing values', () => {
    const layout = layoutChart([{ name: 'train_loss', points: [[1, 1], [2, 0.5], [3, NaN], [4, 0.25]] }], {
      width: 300, height: 200, margin: { top: 10, right: 10, bottom: 30, left: 40 }, xDomain: [0, 4], integerX: true,
    });
    expect(layout.plot).toEqual({ x: 40, y: 10, width: 250, height: 160 });
    const d = layout.paths[0].d;
    expect(d.match(/M/g)).toHaveLength(2); // the NaN epoch splits the line
    expect(d.match(/L/g)).toHaveLength(1);
    for (const [, x, y] of d.matchAll(/[ML]([\d.]+) ([\d.]+)/g)) {
      expect(Number(x)).toBeGreaterThanOrEqual(40);
      expect(Number(x)).toBeLessThanOrEqual(290);
      expect(Number(y)).toBeGreaterThanOrEqual(10);
      expect(Number(y)).toBeLessThanOrEqual(170);
    }
    expect(layout.xTicks.map((t) => t.value)).toEqual([0, 1, 2, 3, 4]);
    expect(layout.xTicks[0].pos).toBe(40);
    expect(layout.xTicks[4].pos).toBe(290);
    expect(layout.yDomain[0]).toBeLessThanOrEqual(0.25);
    expect(layout.yDomain[1]).toBeGreaterThanOrEqual(1);
    expect(layout.paths[0].last).toEqual([290, expect.any(Number)]);
  });

  it('skips non-positive values on a log axis and reports an empty chart', () => {
    const layout = layoutChart([{ name: 'lr', points: [[1, 0], [2, 1e-4]] }], { logY: true });
    expect(layout.paths[0].d.match(/M/g)).toHaveLength(1);
    expect(layout.paths[0].d).not.toContain('L');
    expect(layout.empty).toBe(false);
    expect(layoutChart([], {}).empty).toBe(true);
    expect(layoutChart([{ name: 'x', points: [[1, NaN]] }]).paths[0].d).toBe('');
  });
});

describe('training curves', () => {
  const history = [
    { epoch: 1, lr: 1e-4, train_loss: 0.9, train_mse: 0.5, val_loss: 1.0 },
    { epoch: 2, lr: 1e-5, train_loss: 0.6, train_mse: 0.3, val_loss: 0.8 },
  ];

  it('names train curves before validation curves', () => {
    expect(lossNames(history)).toEqual(['train_loss', 'train_mse', 'val_loss']);
  });

  it('draws validation dashed in the colour of its training curve', () => {
    const order = ['loss', 'mse'];
    expect(seriesStyle('val_loss', order)).toEqual({ color: seriesStyle('train_loss', order).color, dashed: true });
    expect(seriesStyle('train_mse', order).color).not.toBe(seriesStyle('train_loss', order).color);
  });

  it('extends the training curves to the running step with a live segment', () => {
    const series = lossSeries({ history, live: { x: 2.5, values: { train_loss: 0.55 }, lr: 1e-5 } });
    const live = series.find((s) => s.name === 'train_loss (current epoch)');
    expect(live?.live).toBe(true);
    expect(live?.points).toEqual([[2, 0.6], [2.5, 0.55]]);
    expect(series.filter((s) => !s.live).map((s) => s.name)).toEqual(['train_loss', 'train_mse', 'val_loss']);
    const lr = lrSeries({ history, live: { x: 2.5, values: {}, lr: 1e-5 } });
    expect(lr[0].points).toEqual([[1, 1e-4], [2, 1e-5]]);
    expect(lr[1].points).toEqual([[2, 1e-5], [2.5, 1e-5]]);
  });

  it('shows the first epoch as it runs, before any history exists', () => {
    const series = lossSeries({ history: [], live: { x: 0.25, values: { train_loss: 2 }, lr: null } });
    expect(series).toHaveLength(1);
    expect(series[0].points).toEqual([[0.25, 2]]);
  });
});
