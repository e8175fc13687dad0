import { describe, expect, it } from 'vitest';
import { addClick, buildPromptFeeds, emptyPrompt, promptToJSON, setBox, type Prompt } from '../src/prompts';

const IMG: [number, number] = [529, 622];
const INPUT: [number, number] = [871, 1024];

describe('prompt feeds for the SAM ONNX decoder', () => {
  it('adds only the padding point (0,0) with label -1 when there is no box', () => {
    const p = addClick(addClick(emptyPrompt(), { x: 311, y: 264.5, label: 1 }), { x: 10, y: 20, label: 0 });
    const f = buildPromptFeeds(p, IMG, INPUT);
    expect(f.point_coords.dims).toEqual([1, 3, 2]);
    expect(f.point_labels.dims).toEqual([1, 3]);
    expect(Array.from(f.point_labels.data)).toEqual([1, 0, -1]);
    expect(f.point_coords.data[4]).toBe(0);
    expect(f.point_coords.data[5]).toBe(0);
  });

  it('scales clicks into the 1024 input space with separate x/y ratios', () => {
    const p = addClick(emptyPrompt(), { x: 311, y: 264.5, label: 1 });
    const f = buildPromptFeeds(p, IMG, INPUT);
    expect(f.point_coords.data[0]).toBeCloseTo(311 * (1024 / 622), 4);
    expect(f.point_coords.data[1]).toBeCloseTo(264.5 * (871 / 529), 4);
  });

  it('puts box corners after the clicks with labels 2 and 3 and no padding point', () => {
    let p: Prompt = addClick(emptyPrompt(), { x: 100, y: 100, label: 1 });
    p = setBox(p, [50, 60, 300, 400]);
    const f = buildPromptFeeds(p, IMG, INPUT);
    expect(f.point_coords.dims).toEqual([1, 3, 2]);
    expect(Array.from(f.point_labels.data)).toEqual([1, 2, 3]);
    expect(f.point_coords.data[2]).toBeCloseTo(50 * (1024 / 622), 4);
    expect(f.point_coords.data[3]).toBeCloseTo(60 * (871 / 529), 4);
    expect(f.point_coords.data[4]).toBeCloseTo(300 * (1024 / 622), 4);
    expect(f.point_coords.data[5]).toBeCloseTo(400 * (871 / 529), 4);
  });

  it('feeds a box alone as exactly two corner points', () => {
    const f = buildPromptFeeds(setBox(emptyPrompt(), [1, 2, 3, 4]), IMG, INPUT);
    expect(f.point_coords.dims).toEqual([1, 2, 2]);
    expect(Array.from(f.point_labels.data)).toEqual([2, 3]);
  });

  it('normalises a box dragged from bottom-right to top-left', () => {
    expect(setBox(emptyPrompt(), [300, 400, 50, 60]).box).toEqual([50, 60, 300, 400]);
  });

  it('defaults mask_input to zeros [1,1,256,256] and has_mask_input to [0]', () => {
    const f = buildPromptFeeds(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), IMG, INPUT);
    expect(f.mask_input.dims).toEqual([1, 1, 256, 256]);
    expect(f.mask_input.data.length).toBe(65536);
    expect(f.mask_input.data.every((v) => v === 0)).toBe(true);
    expect(Array.from(f.has_mask_input.data)).toEqual([0]);
    expect(f.has_mask_input.dims).toEqual([1]);
  });

  it('passes a previous low-res mask with has_mask_input [1]', () => {
    const prev = new Float32Array(65536).fill(-3);
    const f = buildPromptFeeds(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), IMG, INPUT, prev);
    expect(Array.from(f.has_mask_input.data)).toEqual([1]);
    expect(f.mask_input.data[123]).toBe(-3);
    expect(() => buildPromptFeeds(emptyPrompt(), IMG, INPUT, new Float32Array(10))).toThrow(RangeError);
  });

  it('sends orig_im_size as float32 [height, width]', () => {
    const f = buildPromptFeeds(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), IMG, INPUT);
    expect(f.orig_im_size.data).toBeInstanceOf(Float32Array);
    expect(Array.from(f.orig_im_size.data)).toEqual([529, 622]);
    expect(f.orig_im_size.dims).toEqual([2]);
  });

  it('uses float32 for every feed', () => {
    const f = buildPromptFeeds(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), IMG, INPUT);
    for (const t of Object.values(f)) expect(t.data).toBeInstanceOf(Float32Array);
  });
});

describe('data-last-prompt JSON', () => {
  it('lists points as [x, y, label] in image pixels and box as null or [x0,y0,x1,y1]', () => {
    const p = addClick(addClick(emptyPrompt(), { x: 12.25, y: 3.5, label: 1 }), { x: 7, y: 8, label: 0 });
    expect(JSON.parse(promptToJSON(p))).toEqual({ points: [[12.25, 3.5, 1], [7, 8, 0]], box: null });
    expect(JSON.parse(promptToJSON(setBox(p, [1, 2, 3, 4]))).box).toEqual([1, 2, 3, 4]);
  });
});
