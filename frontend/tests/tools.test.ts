import { describe, expect, it } from 'vitest';
import { paintDisc, paintStroke } from '../src/brush';
import { binaryFromLogits, binaryToRgba } from '../src/canvas';
import { History } from '../src/history';
import { decoderPointCount, selectMasks } from '../src/mask-select';
import { defaultLabel } from '../src/objects';
import { addClick, emptyPrompt, setBox } from '../src/prompts';
import { maskArea, rleDecode, rleEncode } from '../src/rle';
import { SHORTCUTS, commandFor, isTyping } from '../src/shortcuts';
import { clampView } from '../src/zoom';
import { canvasToImage, imageToCanvas, zoomAt } from '../src/transforms';

const key = (k: string, mods: Partial<{ ctrlKey: boolean; shiftKey: boolean; metaKey: boolean; altKey: boolean }> = {}) => ({
  key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods,
});

describe('COCO RLE', () => {
  it('encodes column-major runs starting with zeros, as pycocotools does', () => {
    // 2 rows x 3 cols, row-major: [[0,1,1],[1,1,0]] -> column-major 0,1 | 1,1 | 1,0
    const mask = Uint8Array.from([0, 1, 1, 1, 1, 0]);
    expect(rleEncode(mask, 2, 3)).toEqual({ size: [2, 3], counts: [1, 4, 1] });
    expect(rleEncode(Uint8Array.from([1, 1]), 1, 2).counts).toEqual([0, 2]);
    expect(rleEncode(new Uint8Array(4), 2, 2).counts).toEqual([4]);
  });

  it('round-trips random masks of awkward shapes', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const [h, w] of [[1, 1], [3, 5], [7, 2], [17, 13]]) {
      const mask = Uint8Array.from({ length: h * w }, () => (rand() > 0.5 ? 1 : 0));
      const rle = rleEncode(mask, h, w);
      expect(rle.counts.reduce((a, b) => a + b, 0)).toBe(h * w);
      expect(Array.from(rleDecode(rle))).toEqual(Array.from(mask));
    }
  });

  it('rejects counts that do not cover the image', () => {
    expect(() => rleDecode({ size: [2, 2], counts: [3] })).toThrow(/add up to 3/);
    expect(maskArea(Uint8Array.from([0, 1, 1]))).toBe(2);
  });
});

describe('mask candidates (SAM select_masks rule)', () => {
  const iou = Float32Array.from([0.9, 0.2, 0.8, 0.5]);
  it('offers candidates 1-3 for one click and picks the highest IoU', () => {
    const p = addClick(emptyPrompt(), { x: 1, y: 1, label: 1 });
    expect(decoderPointCount(p)).toBe(2);
    expect(selectMasks(iou, p)).toEqual({ candidates: [1, 2, 3], chosen: 2 });
  });
  it('offers candidates for a box alone', () => {
    expect(selectMasks(iou, setBox(emptyPrompt(), [0, 0, 5, 5])).chosen).toBe(2);
  });
  it('uses the single-mask output 0 for two clicks or a box plus a click', () => {
    const two = addClick(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), { x: 2, y: 2, label: 0 });
    expect(selectMasks(iou, two)).toEqual({ candidates: [0], chosen: 0 });
    expect(selectMasks(iou, setBox(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), [0, 0, 5, 5])).chosen).toBe(0);
  });
  it('handles a single-output decoder', () => {
    expect(selectMasks(Float32Array.from([0.3]), addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }))).toEqual({ candidates: [0], chosen: 0 });
  });
});

describe('undo/redo history', () => {
  it('undoes, redoes and forgets the redo branch on a new step', () => {
    const h = new History<number>(0);
    h.push(1);
    h.push(2);
    expect(h.undo()).toBe(1);
    expect(h.undo()).toBe(0);
    expect(h.undo()).toBeNull();
    expect(h.redo()).toBe(1);
    h.push(5);
    expect(h.canRedo).toBe(false);
    expect(h.present).toBe(5);
    expect(h.undo()).toBe(1);
  });
});

describe('brush and eraser', () => {
  it('paints a disc of the radius and erases it again', () => {
    const mask = new Uint8Array(10 * 10);
    expect(paintDisc(mask, 10, 10, { x: 5, y: 5 }, 2, 1)).toBe(true);
    expect(mask[5 * 10 + 5]).toBe(1);
    expect(mask[5 * 10 + 6]).toBe(1);
    expect(mask[5 * 10 + 8]).toBe(0);
    expect(mask[0]).toBe(0);
    const area = maskArea(mask);
    expect(area).toBeGreaterThan(9);
    expect(area).toBeLessThan(16);
    paintDisc(mask, 10, 10, { x: 5, y: 5 }, 3, 0);
    expect(maskArea(mask)).toBe(0);
  });
  it('paints a continuous stroke and clips at the border', () => {
    const mask = new Uint8Array(4 * 20);
    paintStroke(mask, 20, 4, { x: -5, y: 2 }, { x: 25, y: 2 }, 1, 1);
    for (let x = 0; x < 20; x++) expect(mask[2 * 20 + x]).toBe(1);
  });
});

describe('mask display', () => {
  it('thresholds one candidate out of a stacked output', () => {
    const logits = Float32Array.from([-1, 1, 1, -1, /* second mask */ 1, 1, -1, -1]);
    expect(Array.from(binaryFromLogits(logits, 4, 4))).toEqual([1, 1, 0, 0]);
  });
  it('fills with the opacity, or draws only boundary pixels in outline mode', () => {
    const mask = new Uint8Array(5 * 5);
    for (let y = 1; y < 4; y++) for (let x = 1; x < 4; x++) mask[y * 5 + x] = 1;
    const fill = binaryToRgba(mask, 5, 5, { color: '#ff0000', opacity: 0.5, outline: false });
    expect(Array.from(fill.subarray((2 * 5 + 2) * 4, (2 * 5 + 2) * 4 + 4))).toEqual([255, 0, 0, 128]);
    expect(fill[3]).toBe(0);
    const outline = binaryToRgba(mask, 5, 5, { color: '#00ff00', opacity: 0.5, outline: true });
    expect(outline[(2 * 5 + 2) * 4 + 3]).toBe(0); // the centre is not on the boundary
    expect(outline[(1 * 5 + 1) * 4 + 3]).toBe(255);
  });
});

describe('zoom and pan', () => {
  it('keeps the anchor point fixed and round-trips canvas <-> image', () => {
    const v = zoomAt({ zoom: 1, panX: 0, panY: 0 }, { x: 100, y: 50 }, 2.5);
    const p = imageToCanvas({ x: 100, y: 50 }, v);
    expect(p.x).toBeCloseTo(100);
    expect(p.y).toBeCloseTo(50);
    const q = canvasToImage(imageToCanvas({ x: 33, y: 77 }, v), v);
    expect(q.x).toBeCloseTo(33);
    expect(q.y).toBeCloseTo(77);
  });
  it('clamps the zoom range and keeps the stage covering the viewport', () => {
    expect(clampView({ zoom: 0.2, panX: 30, panY: 30 }, 100, 80)).toEqual({ zoom: 1, panX: 0, panY: 0 });
    expect(clampView({ zoom: 2, panX: -500, panY: 10 }, 100, 80)).toEqual({ zoom: 2, panX: -100, panY: 0 });
  });
});

describe('keyboard shortcuts', () => {
  it('maps keys to commands', () => {
    expect(commandFor(key('z', { ctrlKey: true }))).toBe('undo');
    expect(commandFor(key('Z', { ctrlKey: true, shiftKey: true }))).toBe('redo');
    expect(commandFor(key('y', { metaKey: true }))).toBe('redo');
    expect(commandFor(key('Escape'))).toBe('clear');
    expect(commandFor(key('2'))).toBe('pick2');
    expect(commandFor(key('?', { shiftKey: true }))).toBe('help');
    expect(commandFor(key('b'))).toBe('toolBrush');
    expect(commandFor(key('x'))).toBeNull();
  });
  it('has one help entry per command and ignores typing in text fields', () => {
    expect(new Set(SHORTCUTS.map((s) => s.command)).size).toBe(SHORTCUTS.length);
    expect(isTyping({ tagName: 'INPUT', type: 'text' } as unknown as EventTarget)).toBe(true);
    expect(isTyping({ tagName: 'INPUT', type: 'checkbox' } as unknown as EventTarget)).toBe(false);
    expect(isTyping({ tagName: 'BUTTON' } as unknown as EventTarget)).toBe(false);
  });
  it('labels objects lesion A, B, … Z, AA', () => {
    expect([0, 1, 25, 26].map(defaultLabel)).toEqual(['lesion A', 'lesion B', 'lesion Z', 'lesion AA']);
  });
});

describe('window/level', () => {
  it('follows the DICOM linear VOI function and inverts MONOCHROME1', async () => {
    const { windowToRgba, windowValue, dragWindow } = await import('../src/window-level');
    const w = { center: 40, width: 400 };
    expect(windowValue(-160.5, w)).toBe(0);
    expect(windowValue(240, w)).toBe(255);
    expect(windowValue(40, w)).toBe(128);
    const rgba = windowToRgba(Float32Array.from([-1000, 1000]), w, true);
    expect(Array.from(rgba)).toEqual([255, 255, 255, 255, 0, 0, 0, 255]);
    const wider = dragWindow(w, 150, 0, [-1000, 1000]);
    expect(wider.width).toBeCloseTo(400 * Math.E);
    expect(dragWindow(w, 0, 40, [-1000, 1000]).center).toBeCloseTo(40 + 200);
  });
});
