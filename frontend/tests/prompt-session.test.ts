import { describe, expect, it } from 'vitest';
import type { DecodeOutput } from '../src/decoder';
import { newObject, type SegObject } from '../src/objects';
import { PromptSession, candidateMask, describeDecode, type Decoded, type DecodeTarget, type PromptSessionDeps } from '../src/prompt-session';
import { LABEL_POSITIVE, addClick, emptyPrompt, type Prompt, type PromptFeeds } from '../src/prompts';

const LOW = 256 * 256;
const target: DecodeTarget = { gen: 1, width: 2, height: 2, key: 'k', url: 'u', imageSize: [2, 2], inputSize: [1024, 1024] };

/** A 2×2 multimask output: candidate i is inside at pixel i only; its low-res logits are all i. */
function output(iou = [0.1, 0.5, 0.9, 0.3], dims = [1, 4, 2, 2]): DecodeOutput {
  const masks = new Float32Array(16).fill(-1);
  const lowRes = new Float32Array(4 * LOW);
  for (let i = 0; i < 4; i++) {
    masks[i * 4 + i] = 1;
    lowRes.fill(i, i * LOW, (i + 1) * LOW);
  }
  return { masks, maskDims: dims, iou: Float32Array.from(iou), lowRes, lowResDims: [1, 4, 256, 256], runMs: 3 };
}

const click = (p: Prompt, x = 1, y = 0): Prompt => addClick(p, { x, y, label: LABEL_POSITIVE });

/** A session on a 2×2 image with one active object; decodes answer `answer()` unless told otherwise. */
function session(over: Partial<PromptSessionDeps> = {}, answer: () => Promise<DecodeOutput | null> = async () => output()) {
  const state = { gen: 1, active: newObject(0) as SegObject | null };
  const log = { feeds: [] as PromptFeeds[], decoded: [] as Decoded[], errors: [] as string[], cancelled: 0 };
  const s = new PromptSession({
    target: () => ({ ...target, gen: state.gen }),
    isCurrent: (gen) => gen === state.gen,
    threshold: () => 0,
    active: () => state.active,
    decode: (_key, feeds) => {
      log.feeds.push(feeds);
      return answer();
    },
    cancelPending: () => log.cancelled++,
    hoverOutput: () => null,
    showError: (m) => log.errors.push(m),
    decoded: (d) => log.decoded.push(d),
    ...over,
  });
  return { s, state, log };
}

async function decodeClick(s: PromptSession, x = 1, y = 0): Promise<void> {
  s.set(click(s.prompt, x, y));
  await s.decode();
}

describe('prompt session', () => {
  it('shows the candidate of highest predicted IoU for one click', async () => {
    const { s, log } = session();
    await decodeClick(s);
    expect(log.decoded[0].chosen).toBe(2);
    expect(Array.from(log.decoded[0].mask)).toEqual([0, 0, 1, 0]);
  });

  it('offers candidates 1-3 after one click', async () => {
    const { s } = session();
    await decodeClick(s);
    expect(s.last?.candidates).toEqual([1, 2, 3]);
  });

  it('writes the decoded mask and prompt to the active object', async () => {
    const { s, state } = session();
    await decodeClick(s);
    expect(state.active).toMatchObject({ prompt: s.prompt, dirty: true });
    expect(Array.from(state.active!.mask!)).toEqual([0, 0, 1, 0]);
  });

  it('refines the next decode with the shown mask low-res logits', async () => {
    const { s, log } = session();
    await decodeClick(s);
    await decodeClick(s, 0, 1);
    expect(log.feeds[0].has_mask_input.data[0]).toBe(0);
    expect(log.feeds[1].has_mask_input.data[0]).toBe(1);
    expect(log.feeds[1].mask_input.data[0]).toBe(2);
  });

  it('drops an answer once a newer prompt was decoded', async () => {
    let release!: (out: DecodeOutput) => void;
    const first = new Promise<DecodeOutput>((r) => (release = r));
    let calls = 0;
    const { s, log } = session({}, () => (calls++ === 0 ? first : Promise.resolve(output())));
    s.set(click(s.prompt));
    const stale = s.decode();
    await decodeClick(s, 0, 1);
    release(output());
    await stale;
    expect(log.decoded).toHaveLength(1);
    expect(log.decoded[0].prompt.points).toHaveLength(2);
  });

  it('drops an answer for an image no longer open', async () => {
    const { s, state, log } = session();
    s.set(click(s.prompt));
    const pending = s.decode();
    state.gen = 2;
    await pending;
    expect(log.decoded).toEqual([]);
  });

  it('does not decode an empty prompt', async () => {
    const { s, log } = session();
    await s.decode();
    expect(log.feeds).toEqual([]);
  });

  it('reports a decoder failure for the current prompt', async () => {
    const { s, log } = session({}, () => Promise.reject(new Error('boom')));
    await decodeClick(s);
    expect(log.errors).toEqual(['Decoding failed: boom']);
  });

  it('reports a mask of another size than the image', async () => {
    const { s, log } = session({}, async () => output(undefined, [1, 4, 3, 2]));
    await decodeClick(s);
    expect([log.errors, log.decoded]).toEqual([['The decoder returned a 2×3 mask for a 2×2 image'], []]);
  });

  it('takes the hover preview output for the same click', async () => {
    const { s, log } = session({ hoverOutput: () => Promise.resolve(output()) });
    await decodeClick(s);
    expect([log.decoded[0].source, log.feeds.length]).toEqual(['hover', 0]);
  });

  it('decodes itself when the hover preview output failed', async () => {
    const { s, log } = session({ hoverOutput: () => Promise.reject(new Error('gone')) });
    await decodeClick(s);
    expect([log.decoded[0].source, log.feeds.length]).toEqual(['decoder', 1]);
  });

  it('undoes a decode back to the empty prompt and redoes it', async () => {
    const { s, state } = session();
    await decodeClick(s);
    expect(s.undo()).toBe(true);
    expect([s.prompt, state.active!.mask]).toEqual([emptyPrompt(), null]);
    expect(s.redo()).toBe(true);
    expect(s.prompt.points).toHaveLength(1);
  });

  it('has nothing to undo before the first decode', () => {
    const { s } = session();
    expect([s.canUndo, s.undo()]).toEqual([false, false]);
  });

  it('forgets the candidates on undo', async () => {
    const { s } = session();
    await decodeClick(s);
    s.undo();
    expect(s.last).toBeNull();
  });

  it('clears nothing when there is no prompt and no mask', () => {
    const { s } = session();
    expect([s.clear(), s.canUndo]).toEqual([false, false]);
  });

  it('clears prompt and mask as an undoable step', async () => {
    const { s, state } = session();
    await decodeClick(s);
    expect(s.clear()).toBe(true);
    expect([s.prompt, state.active!.mask]).toEqual([emptyPrompt(), null]);
    s.undo();
    expect(s.prompt.points).toHaveLength(1);
  });

  it('picks another offered candidate', async () => {
    const { s, state } = session();
    await decodeClick(s);
    expect(s.pick(1)).toBe(true);
    expect([s.last?.chosen, Array.from(state.active!.mask!)]).toEqual([1, [0, 1, 0, 0]]);
  });

  it('refuses a candidate that is not offered', async () => {
    const { s } = session();
    await decodeClick(s);
    expect(s.pick(0)).toBe(false);
  });

  it('refines from the picked candidate', async () => {
    const { s, log } = session();
    await decodeClick(s);
    s.pick(3);
    await decodeClick(s, 0, 1);
    expect(log.feeds[1].mask_input.data[0]).toBe(3);
  });

  it('records a brush stroke as an undoable step that keeps the prompt', async () => {
    const { s, state } = session();
    await decodeClick(s);
    const painted = Uint8Array.from([1, 1, 1, 1]);
    expect(s.stroke(painted)).toBe(true);
    expect([state.active!.mask, s.prompt.points.length, s.last]).toEqual([painted, 1, null]);
    s.undo();
    expect(Array.from(state.active!.mask!)).toEqual([0, 0, 1, 0]);
  });

  it('ignores a stroke without an active object', () => {
    const { s, state } = session();
    state.active = null;
    expect(s.stroke(new Uint8Array(4))).toBe(false);
  });

  it('starts over on reset: no history, pending decodes cancelled', async () => {
    const { s, log } = session();
    await decodeClick(s);
    const version = s.version;
    s.reset(emptyPrompt(), null);
    expect([s.canUndo, s.last, log.cancelled, s.version]).toEqual([false, null, 1, version + 1]);
  });

  it('drops an answer in flight after invalidate', async () => {
    const { s, log } = session();
    s.set(click(s.prompt));
    const pending = s.decode();
    s.invalidate();
    await pending;
    expect(log.decoded).toEqual([]);
  });

  it('slices one candidate mask and its low-res logits', () => {
    const { mask, lowRes } = candidateMask(output(), 3, 4, 0);
    expect([Array.from(mask), lowRes.length, lowRes[0]]).toEqual([[0, 0, 0, 1], LOW, 3]);
  });

  it('describes a decode by prompt, IoU, area and time', () => {
    const prompt = click(emptyPrompt());
    expect(describeDecode(prompt, Uint8Array.from([1, 0, 0, 0]), 0.91234, 12.4)).toBe(
      '1 point(s) · predicted IoU 0.912 · mask 25.0% of the image · 12 ms',
    );
  });
});
