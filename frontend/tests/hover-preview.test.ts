import { describe, expect, it } from 'vitest';
import type { DecodeOutput } from '../src/decoder';
import { HoverPreview, type HoverDeps } from '../src/hover-preview';
import { LABEL_NEGATIVE, LABEL_POSITIVE, addClick, emptyPrompt, setBox, type ClickLabel, type Prompt } from '../src/prompts';

const output = (): DecodeOutput => ({ masks: new Float32Array(4), maskDims: [1, 1, 2, 2], iou: new Float32Array(1), lowRes: new Float32Array(1), lowResDims: [1, 1, 1, 1], runMs: 1 });
const flush = () => new Promise((r) => setTimeout(r, 0));
const click = (x: number, y: number, label: ClickLabel = LABEL_POSITIVE): Prompt => addClick(emptyPrompt(), { x, y, label });

/** A preview whose frames run when `runFrames()` is called; decodes resolve at once unless `decode` says otherwise. */
function preview(over: Partial<HoverDeps> = {}) {
  const frames: (() => void)[] = [];
  const decoded: Prompt[] = [];
  const shown: Prompt[] = [];
  const state = { gen: 1, version: 1, allowed: true };
  const hover = new HoverPreview({
    ready: () => true,
    allowed: () => state.allowed,
    stamp: () => ({ gen: state.gen, version: state.version }),
    decode: (prompt) => {
      decoded.push(prompt);
      return { key: 'k', url: 'u', out: Promise.resolve(output()) };
    },
    show: (_out, prompt) => shown.push(prompt),
    frame: (cb) => frames.push(cb),
    ...over,
  });
  const runFrames = async () => {
    for (const cb of frames.splice(0)) cb();
    await flush();
  };
  return { hover, decoded, shown, state, runFrames };
}

describe('hover preview', () => {
  it('decodes one positive click at the latest point of a frame', async () => {
    const { hover, decoded, runFrames } = preview();
    hover.schedule({ x: 1, y: 1 });
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(decoded).toEqual([click(2, 3)]);
  });

  it('shows the decoded preview', async () => {
    const { hover, shown, runFrames } = preview();
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(shown).toEqual([click(2, 3)]);
  });

  it('decodes nothing for a point cancelled before its frame', async () => {
    const { hover, decoded, runFrames } = preview();
    hover.schedule({ x: 2, y: 3 });
    hover.cancel();
    await runFrames();
    expect(decoded).toEqual([]);
  });

  it('decodes nothing while no preview is allowed', async () => {
    const { hover, decoded, state, runFrames } = preview();
    state.allowed = false;
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(decoded).toEqual([]);
  });

  it('drops a preview whose prompt version changed while it decoded', async () => {
    let finish!: (out: DecodeOutput) => void;
    const { hover, shown, state, runFrames } = preview({
      decode: () => ({ key: 'k', url: 'u', out: new Promise<DecodeOutput>((r) => (finish = r)) }),
    });
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    state.version++;
    finish(output());
    await flush();
    expect(shown).toEqual([]);
  });

  it('swallows a failing preview decode', async () => {
    const { hover, shown, runFrames } = preview({
      decode: () => ({ key: 'k', url: 'u', out: Promise.reject(new Error('worker died')) }),
    });
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(shown).toEqual([]);
  });

  it('hands its decode to a click on the same pixel with the same embedding and decoder', async () => {
    const { hover, runFrames } = preview();
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(hover.outputFor(click(2, 3), 'u', 1, 'k')).not.toBeNull();
  });

  it('does not hand its decode to any other prompt', async () => {
    const { hover, runFrames } = preview();
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(hover.outputFor(click(2, 4), 'u', 1, 'k')).toBeNull();
    expect(hover.outputFor(click(2, 3, LABEL_NEGATIVE), 'u', 1, 'k')).toBeNull();
    expect(hover.outputFor(setBox(click(2, 3), [0, 0, 5, 5]), 'u', 1, 'k')).toBeNull();
    expect(hover.outputFor(addClick(click(2, 3), { x: 2, y: 3, label: LABEL_POSITIVE }), 'u', 1, 'k')).toBeNull();
  });

  it('does not hand its decode over for another image, embedding or decoder', async () => {
    const { hover, runFrames } = preview();
    hover.schedule({ x: 2, y: 3 });
    await runFrames();
    expect(hover.outputFor(click(2, 3), 'other', 1, 'k')).toBeNull();
    expect(hover.outputFor(click(2, 3), 'u', 2, 'k')).toBeNull();
    expect(hover.outputFor(click(2, 3), 'u', 1, 'other')).toBeNull();
  });
});
