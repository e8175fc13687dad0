/**
 * The prompt-decode session of the active object: its prompt (including clicks whose decode is
 * still pending), the decode request with its stale check (a newer prompt or another image drops
 * the answer), the candidates of the last decode, and the undo/redo history of prompt and mask
 * (with the low-res logits the next decode refines). It draws nothing: the viewer renders after
 * each call that returns true, and on decoded().
 */
import { binaryFromLogits } from './canvas';
import type { LastDecode } from './candidates-bar';
import type { DecodeOutput } from './decoder';
import { History } from './history';
import { selectMasks } from './mask-select';
import type { SegObject } from './objects';
import { LOW_RES_MASK_SIZE, buildPromptFeeds, emptyPrompt, isEmptyPrompt, type Prompt, type PromptFeeds } from './prompts';
import type { HW } from './transforms';

/** Values of one candidate's low-res logits [256×256]. */
const LOW_RES = LOW_RES_MASK_SIZE * LOW_RES_MASK_SIZE;

/** One step of the active object's history. */
export interface Snapshot {
  prompt: Prompt;
  mask: Uint8Array | null;
  /** Low-res logits [256×256] of the shown mask: the next decode's mask_input. */
  lowRes: Float32Array | null;
}

export const EMPTY_SNAPSHOT: Snapshot = { prompt: emptyPrompt(), mask: null, lowRes: null };

/** What a decode needs from the open image, read when the decode starts. */
export interface DecodeTarget {
  /** The open image's generation. */
  gen: number;
  width: number;
  height: number;
  /** The embedding's key in the decoder worker, and the decoder's URL. */
  key: string;
  url: string;
  imageSize: HW;
  inputSize: HW;
}

/** A drawn decode: the prompt, the decoder's output and the shown candidate's mask. */
export interface Decoded {
  prompt: Prompt;
  out: DecodeOutput;
  mask: Uint8Array;
  chosen: number;
  /** hover: the hover preview's output for the same pixel was taken. */
  source: 'hover' | 'decoder';
  /** performance.now() when the decode started. */
  started: number;
}

export interface PromptSessionDeps {
  /** The open image's decode facts; null while no image is open. */
  target(): DecodeTarget | null;
  /** The image of generation `gen` is still the open one. */
  isCurrent(gen: number): boolean;
  /** The logit threshold of the model's masks. */
  threshold(): number;
  /** The object the prompts and masks belong to. */
  active(): SegObject | null;
  decode(key: string, feeds: PromptFeeds, url: string): Promise<DecodeOutput | null>;
  /** Drops the decodes waiting in the decoder worker. */
  cancelPending(): void;
  /** The hover preview's output when it is exactly the decode `prompt` needs (hover-preview.ts). */
  hoverOutput(prompt: Prompt, url: string, gen: number, key: string): Promise<DecodeOutput | null> | null;
  showError(message: string): void;
  /** A decode finished for the current prompt: its mask is now the active object's. */
  decoded(d: Decoded): void;
}

/** The info line after a decode. */
export function describeDecode(prompt: Prompt, mask: Uint8Array, iou: number, runMs: number): string {
  let area = 0;
  for (let i = 0; i < mask.length; i++) area += mask[i];
  const pct = ((100 * area) / mask.length).toFixed(1);
  const what = `${prompt.points.length} point(s)${prompt.box ? ' + box' : ''}`;
  return `${what} · predicted IoU ${iou.toFixed(3)} · mask ${pct}% of the image · ${runMs.toFixed(0)} ms`;
}

/** Candidate `index` of a decoder output: its binary mask (n pixels) and its low-res logits. */
export function candidateMask(out: DecodeOutput, index: number, n: number, threshold: number): { mask: Uint8Array; lowRes: Float32Array } {
  return { mask: binaryFromLogits(out.masks, index * n, n, threshold), lowRes: out.lowRes.slice(index * LOW_RES, (index + 1) * LOW_RES) };
}

export class PromptSession {
  private current: Prompt = emptyPrompt();
  private readonly history = new History<Snapshot>(EMPTY_SNAPSHOT);
  private lastDecode: LastDecode | null = null;
  private promptVersion = 0;

  constructor(private readonly deps: PromptSessionDeps) {}

  /** The prompt including clicks whose decode is still pending. */
  get prompt(): Prompt {
    return this.current;
  }

  /** Bumped by every prompt change: an answer for an older version is dropped. */
  get version(): number {
    return this.promptVersion;
  }

  /** The last decode of the active object (for picking another candidate), or null. */
  get last(): LastDecode | null {
    return this.lastDecode;
  }

  get canUndo(): boolean {
    return this.history.canUndo;
  }

  get canRedo(): boolean {
    return this.history.canRedo;
  }

  /** Starts over from `prompt` and `mask` (another object or image): no history, nothing pending. */
  reset(prompt: Prompt, mask: Uint8Array | null): void {
    this.current = prompt;
    this.promptVersion++;
    this.deps.cancelPending();
    this.history.reset({ prompt, mask, lowRes: null });
    this.lastDecode = null;
  }

  /** Drops any answer still in flight (a decode or a hover preview). */
  invalidate(): void {
    this.promptVersion++;
  }

  /** Makes `next` the prompt (before decoding it). */
  set(next: Prompt): void {
    this.current = next;
    const active = this.deps.active();
    if (active) active.prompt = next;
  }

  undo(): boolean {
    return this.restore(this.history.undo());
  }

  redo(): boolean {
    return this.restore(this.history.redo());
  }

  /** Removes the prompts and mask of the active object (undoable); false when there was nothing. */
  clear(): boolean {
    if (isEmptyPrompt(this.current) && !this.deps.active()?.mask) return false;
    this.history.push(EMPTY_SNAPSHOT);
    return this.restore(EMPTY_SNAPSHOT);
  }

  /** Shows candidate `index` of the last decode instead; false when it is not offered. */
  pick(index: number): boolean {
    const last = this.lastDecode;
    const target = this.deps.target();
    const active = this.deps.active();
    if (!last || !target || !last.candidates.includes(index) || !active) return false;
    const { mask, lowRes } = candidateMask(last.out, index, target.width * target.height, this.deps.threshold());
    last.chosen = index;
    this.history.present = { prompt: this.history.present.prompt, mask, lowRes };
    active.mask = mask;
    active.dirty = true;
    return true;
  }

  /** A brush or eraser stroke made `mask` the active object's (undoable); false without an active object. */
  stroke(mask: Uint8Array): boolean {
    const active = this.deps.active();
    if (!active) return false;
    active.mask = mask;
    active.dirty = true;
    this.history.push({ prompt: this.history.present.prompt, mask, lowRes: this.history.present.lowRes });
    this.lastDecode = null;
    return true;
  }

  /** Decodes the current prompt; calls deps.decoded() unless the answer is stale or failed. */
  async decode(): Promise<void> {
    const prompt = this.current;
    const version = ++this.promptVersion;
    const target = this.deps.target();
    if (isEmptyPrompt(prompt) || !target) return;
    const { gen, key, url } = target;
    const previous = this.history.present;
    // refinement: once there is a mask, the next prompt starts from its low-res logits
    const maskInput = !isEmptyPrompt(previous.prompt) ? previous.lowRes : null;
    const feeds = buildPromptFeeds(prompt, target.imageSize, target.inputSize, maskInput);
    const started = performance.now();
    let out: DecodeOutput | null = null;
    let source: Decoded['source'] = 'decoder';
    try {
      const hover = maskInput ? null : this.deps.hoverOutput(prompt, url, gen, key);
      if (hover) {
        out = await hover.catch(() => null);
        source = 'hover';
      }
      if (!out) {
        source = 'decoder';
        out = await this.deps.decode(key, feeds, url);
      }
    } catch (err) {
      if (this.deps.isCurrent(gen) && version === this.promptVersion) this.deps.showError(`Decoding failed: ${(err as Error).message}`);
      return;
    }
    if (!out || !this.deps.isCurrent(gen) || version !== this.promptVersion) return;
    const [h, w] = out.maskDims.slice(-2);
    if (w !== target.width || h !== target.height) {
      this.deps.showError(`The decoder returned a ${w}×${h} mask for a ${target.width}×${target.height} image`);
      return;
    }
    const { candidates, chosen } = selectMasks(out.iou, prompt);
    const { mask, lowRes } = candidateMask(out, chosen, w * h, this.deps.threshold());
    this.history.push({ prompt, mask, lowRes });
    this.lastDecode = { out, candidates, chosen };
    const active = this.deps.active();
    if (active) {
      active.mask = mask;
      active.prompt = prompt;
      active.dirty = true;
    }
    this.deps.decoded({ prompt, out, mask, chosen, source, started });
  }

  private restore(s: Snapshot | null): boolean {
    if (!s) return false;
    this.current = s.prompt;
    this.promptVersion++;
    this.deps.cancelPending();
    const active = this.deps.active();
    if (active) {
      active.prompt = s.prompt;
      active.mask = s.mask;
      active.dirty = true;
    }
    this.lastDecode = null;
    return true;
  }
}
