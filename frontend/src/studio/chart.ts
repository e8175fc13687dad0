/**
 * A small dependency-free SVG line chart for loss curves and learning rates.
 *
 * `layoutChart` is pure (scales, "nice" ticks, path strings) and unit-tested; `renderChart` turns a
 * layout into SVG elements. Non-finite values (and non-positive ones on a log axis) break a line
 * instead of being drawn.
 */

export interface Series {
  name: string;
  points: [number, number][];
  color?: string;
  dashed?: boolean;
  /** Thin dotted line (the running, not yet finished epoch). */
  live?: boolean;
}

export interface ChartOptions {
  width?: number;
  height?: number;
  margin?: { top: number; right: number; bottom: number; left: number };
  logY?: boolean;
  xLabel?: string;
  yLabel?: string;
  /** Forces the x domain (e.g. [0, epochs]). */
  xDomain?: [number, number];
  /** Only integer x ticks (epochs). */
  integerX?: boolean;
  title?: string;
}

export interface Tick {
  value: number;
  pos: number;
  label: string;
}

export interface PathLayout {
  name: string;
  d: string;
  color: string;
  dashed: boolean;
  live: boolean;
  /** The last drawn point (for a marker). */
  last: [number, number] | null;
}

export interface ChartLayout {
  width: number;
  height: number;
  plot: { x: number; y: number; width: number; height: number };
  xTicks: Tick[];
  yTicks: Tick[];
  paths: PathLayout[];
  xDomain: [number, number];
  yDomain: [number, number];
  logY: boolean;
  empty: boolean;
}

export const PALETTE = ['#2563eb', '#dc2626', '#059669', '#d97706', '#7c3aed', '#0891b2', '#db2777', '#4b5563'];
const DEFAULT_MARGIN = { top: 12, right: 16, bottom: 34, left: 58 };

/** Linear map from `domain` to `range`; a degenerate domain maps to the middle of the range. */
export function linearScale(domain: [number, number], range: [number, number]): (v: number) => number {
  const [d0, d1] = domain;
  const [r0, r1] = range;
  if (d1 === d0) return () => (r0 + r1) / 2;
  const k = (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

/** Log10 map; values must be positive. */
export function logScale(domain: [number, number], range: [number, number]): (v: number) => number {
  const inner = linearScale([Math.log10(domain[0]), Math.log10(domain[1])], range);
  return (v) => inner(Math.log10(v));
}

/** 1-2-5 step for about `count` intervals over `span`. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0) || !Number.isFinite(span)) return 1;
  const raw = span / Math.max(1, count);
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const residual = raw / magnitude;
  const nice = residual <= 1 ? 1 : residual <= 2 ? 2 : residual <= 5 ? 5 : 10;
  return nice * magnitude;
}

/** Domain widened to whole steps, and the ticks in it. */
export function niceTicks(min: number, max: number, count = 5): { domain: [number, number]; ticks: number[] } {
  if (!Number.isFinite(min) || !Number.isFinite(max)) return { domain: [0, 1], ticks: [0, 1] };
  if (min === max) {
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    min -= pad;
    max += pad;
  }
  const step = niceStep(max - min, count);
  const lo = Math.floor(min / step + 1e-9) * step;
  const hi = Math.ceil(max / step - 1e-9) * step;
  const ticks: number[] = [];
  for (let v = lo; v <= hi + step * 1e-6; v += step) ticks.push(roundTo(v, step));
  return { domain: [roundTo(lo, step), roundTo(hi, step)], ticks };
}

function roundTo(v: number, step: number): number {
  const digits = Math.max(0, -Math.floor(Math.log10(step)) + 1);
  return Number(v.toFixed(Math.min(20, digits)));
}

/** Powers of ten covering [min, max] (both > 0). */
export function logTicks(min: number, max: number): { domain: [number, number]; ticks: number[] } {
  if (!(min > 0) || !(max > 0)) return { domain: [1e-6, 1], ticks: [1e-6, 1] };
  let lo = Math.floor(Math.log10(min) + 1e-9);
  let hi = Math.ceil(Math.log10(max) - 1e-9);
  if (lo === hi) {
    lo -= 1;
    hi += 1;
  }
  const ticks: number[] = [];
  const every = Math.max(1, Math.ceil((hi - lo) / 6));
  for (let e = lo; e <= hi; e += every) ticks.push(Number(`1e${e}`));
  return { domain: [Number(`1e${lo}`), Number(`1e${hi}`)], ticks };
}

/** Tick labels: "0.25", "1.5k", "1e-4". */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const abs = Math.abs(v);
  if (abs < 1e-3 || abs >= 1e6) {
    const exp = Math.floor(Math.log10(abs));
    const mant = v / 10 ** exp;
    return Math.abs(mant - Math.round(mant)) < 1e-9 && Math.round(mant) === 1 ? `1e${exp}` : `${Number(mant.toFixed(1))}e${exp}`;
  }
  if (abs >= 1e3) return `${Number((v / 1e3).toFixed(1))}k`;
  return String(Number(v.toPrecision(4)));
}

function usable(v: number, logY: boolean): boolean {
  return Number.isFinite(v) && (!logY || v > 0);
}

/** Pure layout of a chart: everything renderChart draws, in SVG user units. */
export function layoutChart(series: Series[], options: ChartOptions = {}): ChartLayout {
  const width = options.width ?? 520;
  const height = options.height ?? 240;
  const margin = options.margin ?? DEFAULT_MARGIN;
  const logY = options.logY ?? false;
  const plot = { x: margin.left, y: margin.top, width: width - margin.left - margin.right, height: height - margin.top - margin.bottom };

  const xs: number[] = [];
  const ys: number[] = [];
  for (const s of series) {
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !usable(y, logY)) continue;
      xs.push(x);
      ys.push(y);
    }
  }
  const empty = ys.length === 0;

  let xDomain: [number, number];
  let xTickValues: number[];
  if (options.xDomain) {
    xDomain = options.xDomain;
    xTickValues = niceTicks(xDomain[0], xDomain[1], 6).ticks.filter((t) => t >= xDomain[0] - 1e-9 && t <= xDomain[1] + 1e-9);
  } else {
    const nice = niceTicks(empty ? 0 : Math.min(...xs), empty ? 1 : Math.max(...xs), 6);
    xDomain = nice.domain;
    xTickValues = nice.ticks;
  }
  if (options.integerX) {
    const step = Math.max(1, Math.ceil(niceStep(xDomain[1] - xDomain[0], 6)));
    xTickValues = [];
    for (let v = Math.ceil(xDomain[0]); v <= xDomain[1]; v += step) xTickValues.push(v);
  }

  const yNice = empty
    ? logY ? logTicks(1e-3, 1) : niceTicks(0, 1)
    : logY ? logTicks(Math.min(...ys), Math.max(...ys)) : niceTicks(Math.min(...ys), Math.max(...ys), 5);
  const yDomain = yNice.domain;

  const sx = linearScale(xDomain, [plot.x, plot.x + plot.width]);
  const sy = (logY ? logScale : linearScale)(yDomain, [plot.y + plot.height, plot.y]);
  const r = (v: number) => Math.round(v * 10) / 10;

  const paths: PathLayout[] = series.map((s, i) => {
    let d = '';
    let pen = false;
    let last: [number, number] | null = null;
    for (const [x, y] of s.points) {
      if (!Number.isFinite(x) || !usable(y, logY)) {
        pen = false;
        continue;
      }
      const px = r(sx(x));
      const py = r(sy(y));
      d += `${d ? ' ' : ''}${pen ? 'L' : 'M'}${px} ${py}`;
      pen = true;
      last = [px, py];
    }
    return { name: s.name, d, color: s.color ?? PALETTE[i % PALETTE.length], dashed: !!s.dashed, live: !!s.live, last };
  });

  return {
    width,
    height,
    plot,
    xTicks: xTickValues.map((v) => ({ value: v, pos: r(sx(v)), label: formatTick(v) })),
    yTicks: yNice.ticks.map((v) => ({ value: v, pos: r(sy(v)), label: formatTick(v) })),
    paths,
    xDomain,
    yDomain,
    logY,
    empty,
  };
}

/** Same colour for `train_x` and `val_x` (validation dashed), one colour per loss name otherwise. */
export function seriesStyle(name: string, order: string[]): { color: string; dashed: boolean } {
  const base = name.replace(/^(train|val)_/, '');
  let index = order.indexOf(base);
  if (index < 0) index = order.length;
  return { color: PALETTE[index % PALETTE.length], dashed: name.startsWith('val_') };
}

const SVG_NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

/** An <svg> of the layout, with a legend of the series names below it. */
export function renderChart(layout: ChartLayout, options: ChartOptions = {}): SVGSVGElement {
  const { width, height, plot } = layout;
  const root = svg('svg', { viewBox: `0 0 ${width} ${height}`, width, height, class: 'studio-chart', role: 'img' });
  if (options.title) root.append(svg('title', {}, options.title));
  root.append(svg('rect', { x: plot.x, y: plot.y, width: plot.width, height: plot.height, fill: '#fff', stroke: '#d1d5db' }));
  for (const t of layout.yTicks) {
    root.append(svg('line', { x1: plot.x, x2: plot.x + plot.width, y1: t.pos, y2: t.pos, stroke: '#f3f4f6' }));
    root.append(svg('text', { x: plot.x - 6, y: t.pos + 4, 'text-anchor': 'end', 'font-size': 11, fill: '#4b5563' }, t.label));
  }
  for (const t of layout.xTicks) {
    root.append(svg('line', { x1: t.pos, x2: t.pos, y1: plot.y + plot.height, y2: plot.y + plot.height + 4, stroke: '#9ca3af' }));
    root.append(svg('text', { x: t.pos, y: plot.y + plot.height + 16, 'text-anchor': 'middle', 'font-size': 11, fill: '#4b5563' }, t.label));
  }
  if (options.xLabel) {
    root.append(svg('text', { x: plot.x + plot.width / 2, y: height - 3, 'text-anchor': 'middle', 'font-size': 11, fill: '#374151' }, options.xLabel));
  }
  if (options.yLabel) {
    root.append(svg('text', { x: 12, y: plot.y + plot.height / 2, 'text-anchor': 'middle', 'font-size': 11, fill: '#374151', transform: `rotate(-90 12 ${plot.y + plot.height / 2})` }, options.yLabel));
  }
  if (layout.empty) {
    root.append(svg('text', { x: plot.x + plot.width / 2, y: plot.y + plot.height / 2, 'text-anchor': 'middle', 'font-size': 12, fill: '#9ca3af' }, 'no finished epoch yet'));
  }
  for (const p of layout.paths) {
    if (!p.d) continue;
    const attrs: Record<string, string | number> = { d: p.d, fill: 'none', stroke: p.color, 'stroke-width': p.live ? 1.2 : 2, 'data-series': p.name };
    if (p.live) attrs['stroke-dasharray'] = '2 3';
    else if (p.dashed) attrs['stroke-dasharray'] = '6 4';
    root.append(svg('path', attrs));
    if (p.last && !p.live) root.append(svg('circle', { cx: p.last[0], cy: p.last[1], r: 2.5, fill: p.color }));
  }
  return root;
}

/** Per-epoch values and the running point of the current epoch, as the job page draws them. */
export interface CurveInput {
  history: { epoch: number; lr?: number | null; [key: string]: number | null | undefined }[];
  live?: { x: number; values: Record<string, number>; lr: number | null } | null;
}

/** Names of the loss curves in a history, train before val, in order of first appearance. */
export function lossNames(history: CurveInput['history']): string[] {
  const names: string[] = [];
  for (const entry of history) {
    for (const [k, v] of Object.entries(entry)) {
      if (k === 'epoch' || k === 'lr' || names.includes(k) || (v !== null && typeof v !== 'number')) continue;
      names.push(k);
    }
  }
  const rank = (n: string) => (n.startsWith('train_') ? 0 : n.startsWith('val_') ? 1 : 2);
  return names.sort((a, b) => rank(a) - rank(b) || names.indexOf(a) - names.indexOf(b));
}

/** Loss series (x = epochs done) plus dotted live segments from the last epoch to the running point. */
export function lossSeries({ history, live }: CurveInput): Series[] {
  const names = lossNames(history);
  for (const k of Object.keys(live?.values ?? {})) if (!names.includes(k)) names.push(k);
  const bases: string[] = [];
  for (const n of names) {
    const base = n.replace(/^(train|val)_/, '');
    if (!bases.includes(base)) bases.push(base);
  }
  const series: Series[] = [];
  for (const name of names) {
    const style = seriesStyle(name, bases);
    const points: [number, number][] = history.map((e) => [e.epoch, typeof e[name] === 'number' ? (e[name] as number) : NaN]);
    if (points.some(([, y]) => Number.isFinite(y))) series.push({ name, points, ...style });
    const now = live?.values[name];
    if (live && typeof now === 'number') {
      const last = [...points].reverse().find(([, y]) => Number.isFinite(y));
      series.push({ name: `${name} (current epoch)`, points: last ? [last, [live.x, now]] : [[live.x, now]], ...style, live: true });
    }
  }
  return series;
}

/** The learning rate per epoch (and now). */
export function lrSeries({ history, live }: CurveInput): Series[] {
  const points: [number, number][] = history.filter((e) => typeof e.lr === 'number').map((e) => [e.epoch, e.lr as number]);
  const series: Series[] = points.length ? [{ name: 'lr', points, color: PALETTE[4] }] : [];
  if (live && typeof live.lr === 'number') {
    series.push({ name: 'lr (current epoch)', points: points.length ? [points[points.length - 1], [live.x, live.lr]] : [[live.x, live.lr]], color: PALETTE[4], live: true });
  }
  return series;
}
