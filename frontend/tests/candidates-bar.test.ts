import { describe, expect, it } from 'vitest';
import { candidateButtons, candidatesDataset, type LastDecode } from '../src/candidates-bar';

const last = (candidates: number[], chosen: number): LastDecode => ({
  out: { masks: new Float32Array(0), maskDims: [], iou: Float32Array.from([0.5, 0.91234, 0.87654, 0.3]), lowRes: new Float32Array(0), lowResDims: [], runMs: 1 },
  candidates,
  chosen,
});

describe('candidates bar', () => {
  it('offers one button per candidate, numbered, with its IoU and the shown one pressed', () => {
    expect(candidateButtons(last([1, 2, 3], 2))).toEqual([
      { index: 1, iou: '0.9123', pressed: false, text: '1: IoU 0.91' },
      { index: 2, iou: '0.8765', pressed: true, text: '2: IoU 0.88' },
      { index: 3, iou: '0.3000', pressed: false, text: '3: IoU 0.30' },
    ]);
  });

  it('offers nothing with a single candidate', () => {
    expect(candidateButtons(last([0], 0))).toEqual([]);
  });

  it('offers nothing before a decode', () => {
    expect(candidateButtons(null)).toEqual([]);
  });

  it('mirrors the candidates as data-candidates JSON with IoUs to 4 decimals', () => {
    expect(JSON.parse(candidatesDataset(last([1, 2], 1)))).toEqual([
      { index: 1, iou: 0.9123 },
      { index: 2, iou: 0.8765 },
    ]);
  });
});
