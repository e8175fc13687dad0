/**
 * The candidates bar (#candidates): the masks the last decode offers (SAM's 1-3 for one click or
 * one box) as buttons with their predicted IoU, the shown one pressed; hidden when there is no
 * choice. Mirrors them on the viewer root as data-candidates (JSON [{index, iou}]) and data-chosen.
 */
import type { DecodeOutput } from './decoder';

/** The last decode of the active object: its output, the offered mask indices and the shown one. */
export interface LastDecode {
  out: DecodeOutput;
  candidates: number[];
  chosen: number;
}

/** One candidate button. */
export interface CandidateButton {
  index: number;
  /** Predicted IoU to 4 decimals (data-iou). */
  iou: string;
  pressed: boolean;
  text: string;
}

/** The buttons for `last`; empty when there is nothing to choose from (fewer than 2 candidates). */
export function candidateButtons(last: LastDecode | null): CandidateButton[] {
  if (!last || last.candidates.length < 2) return [];
  return last.candidates.map((index, i) => ({
    index,
    iou: last.out.iou[index].toFixed(4),
    pressed: index === last.chosen,
    text: `${i + 1}: IoU ${last.out.iou[index].toFixed(2)}`,
  }));
}

/** data-candidates for `last`. */
export function candidatesDataset(last: LastDecode): string {
  return JSON.stringify(last.candidates.map((index) => ({ index, iou: Number(last.out.iou[index].toFixed(4)) })));
}

export class CandidatesBar {
  constructor(
    private readonly box: HTMLElement,
    private readonly root: HTMLElement,
    private readonly pick: (index: number) => void,
  ) {}

  render(last: LastDecode | null): void {
    const box = this.box;
    const buttons = candidateButtons(last);
    if (!last || !buttons.length) {
      box.hidden = true;
      box.replaceChildren();
      delete this.root.dataset.candidates;
      return;
    }
    box.hidden = false;
    const label = document.createElement('span');
    label.textContent = 'Candidates:';
    box.replaceChildren(
      label,
      ...buttons.map((c) => {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'candidate';
        b.dataset.index = String(c.index);
        b.dataset.iou = c.iou;
        b.setAttribute('aria-pressed', String(c.pressed));
        b.textContent = c.text;
        b.addEventListener('click', () => this.pick(c.index));
        return b;
      }),
    );
    this.root.dataset.candidates = candidatesDataset(last);
    this.root.dataset.chosen = String(last.chosen);
  }
}
