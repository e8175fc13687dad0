/**
 * Hover preview: while the active object has no prompt, the mask under the cursor is decoded
 * (one positive click, at most one decode per animation frame) and shown faintly. Its prompt is
 * one positive click on an empty prompt without mask input, so a click on the same pixel with
 * the same embedding and decoder needs exactly that output: outputFor() hands it over instead of
 * decoding again (usually already there).
 */
import type { DecodeOutput } from './decoder';
import { LABEL_POSITIVE, addClick, emptyPrompt, type Prompt } from './prompts';
import type { Point } from './transforms';

/** What identifies the viewer's current state: a preview decoded under other stamps is dropped. */
export interface HoverStamp {
  /** The open image's generation. */
  gen: number;
  /** The prompt version (bumped by every prompt change and by cancelling a preview). */
  version: number;
}

export interface HoverDeps {
  /** The viewer is ready for decoding. */
  ready(): boolean;
  /** A preview is wanted now (hover option on, prompt tool, no gesture, empty prompt, no mask). */
  allowed(): boolean;
  stamp(): HoverStamp;
  /** Starts decoding `prompt` with the current embedding (`key`) and decoder (`url`). */
  decode(prompt: Prompt): { key: string; url: string; out: Promise<DecodeOutput | null> };
  /** Draws a finished preview. */
  show(out: DecodeOutput, prompt: Prompt): void;
  /** Runs `cb` before the next repaint (requestAnimationFrame). */
  frame?(cb: () => void): void;
}

interface HoverDecode {
  gen: number;
  key: string;
  url: string;
  x: number;
  y: number;
  out: Promise<DecodeOutput | null>;
}

export class HoverPreview {
  private pending: Point | null = null;
  private scheduled = false;
  /** The latest preview's decode (running or done). */
  private latest: HoverDecode | null = null;

  constructor(private readonly deps: HoverDeps) {}

  /** Previews the mask at `p` (image pixels) on the next frame; a later point replaces it. */
  schedule(p: Point): void {
    this.pending = p;
    if (this.scheduled) return;
    this.scheduled = true;
    const frame = this.deps.frame ?? ((cb: () => void) => requestAnimationFrame(cb));
    frame(() => {
      this.scheduled = false;
      void this.run();
    });
  }

  /** Forgets the point waiting for a frame (a preview already decoding is dropped by its stamp). */
  cancel(): void {
    this.pending = null;
  }

  /** The preview's decode when it is exactly the decode `prompt` needs, else null. */
  outputFor(prompt: Prompt, url: string, gen: number, key: string): Promise<DecodeOutput | null> | null {
    const h = this.latest;
    if (!h || h.gen !== gen || h.key !== key || h.url !== url || prompt.box) return null;
    if (prompt.points.length !== 1) return null;
    const [p] = prompt.points;
    return p.label === LABEL_POSITIVE && p.x === h.x && p.y === h.y ? h.out : null;
  }

  private async run(): Promise<void> {
    const p = this.pending;
    if (!p || !this.deps.ready() || !this.deps.allowed()) return;
    const { gen, version } = this.deps.stamp();
    const prompt = addClick(emptyPrompt(), { x: p.x, y: p.y, label: LABEL_POSITIVE });
    const { key, url, out: pending } = this.deps.decode(prompt);
    this.latest = { gen, key, url, x: p.x, y: p.y, out: pending };
    let out: DecodeOutput | null;
    try {
      out = await pending;
    } catch {
      return; // a preview failing is not worth an error message
    }
    if (!out || !this.deps.allowed()) return;
    const now = this.deps.stamp();
    if (now.gen !== gen || now.version !== version) return;
    this.deps.show(out, prompt);
  }
}
