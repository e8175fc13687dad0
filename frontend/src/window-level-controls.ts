/**
 * Window/level controls of a DICOM image: loads its modality values, fills the preset menu,
 * shows the window tool and repaints the image canvas through the current window. The math is
 * window-level.ts; images without windowing leave the controls hidden.
 */
import type { ImageObject } from './api-types';
import { parseEmbedding } from './embedding';
import { dragWindow, windowToRgba, type DisplayInfo, type Window, type WindowPreset } from './window-level';

export interface WindowLevelElements {
  /** data-window (JSON {center, width}) is set here. */
  root: HTMLElement;
  imageCanvas: HTMLCanvasElement;
  controls: HTMLElement;
  preset: HTMLSelectElement;
  value: HTMLElement;
  /** The tool buttons: the one with data-tool="window" is shown only for windowed images. */
  toolButtons: HTMLButtonElement[];
}

export interface WindowLevelDeps {
  /** GET of a binary API path (the image's pixels_url). */
  fetchBinary(path: string): Promise<ArrayBuffer>;
  showError(message: string): void;
}

/** The preset menu: the window as stored first, then the image's presets. */
export function windowOptions(display: DisplayInfo): WindowPreset[] {
  return display.window ? [{ name: 'As stored', ...display.window }, ...(display.presets ?? [])] : [];
}

/** The window as #window-value shows it. */
export function windowLabel(w: Window): string {
  return `C ${w.center.toFixed(0)} / W ${w.width.toFixed(0)}`;
}

/** data-window: the window rounded to 2 decimals. */
export function windowDataset(w: Window): string {
  return JSON.stringify({ center: Number(w.center.toFixed(2)), width: Number(w.width.toFixed(2)) });
}

interface Modality {
  values: Float32Array;
  display: DisplayInfo;
  window: Window;
  width: number;
  height: number;
}

export class WindowLevelControls {
  /** DICOM modality values and the current window. */
  private modality: Modality | null = null;

  constructor(
    private readonly el: WindowLevelElements,
    private readonly deps: WindowLevelDeps,
  ) {}

  /** The open image has window/level. */
  get available(): boolean {
    return this.modality !== null;
  }

  /** The current window; null without window/level. */
  get window(): Window | null {
    return this.modality?.window ?? null;
  }

  /** Another image opens: no window/level until its values are loaded. */
  reset(): void {
    this.modality = null;
    this.el.controls.hidden = true;
    this.showTool(false);
  }

  /** Loads the image's modality values (if it has any) and shows the controls; `isCurrent` false drops them. */
  async load(image: ImageObject, isCurrent: () => boolean): Promise<void> {
    const display = (image.display ?? {}) as DisplayInfo;
    if (!image.pixels_url || !display.windowing || !display.window) return;
    let modality: Modality;
    try {
      const buffer = await this.deps.fetchBinary(image.pixels_url);
      const parsed = parseEmbedding(buffer);
      if (!isCurrent()) return;
      if (parsed.data.length !== image.width * image.height) throw new Error('the modality values do not match the image size');
      modality = { values: parsed.data, display, window: { ...display.window }, width: image.width, height: image.height };
      this.modality = modality;
    } catch (err) {
      if (isCurrent()) this.deps.showError(`Window/level is unavailable for ${image.filename}: ${(err as Error).message}`);
      return;
    }
    const select = this.el.preset;
    select.replaceChildren(
      ...windowOptions(display).map((p, i) => {
        const o = document.createElement('option');
        o.value = String(i);
        o.textContent = p.name;
        o.dataset.center = String(p.center);
        o.dataset.width = String(p.width);
        return o;
      }),
    );
    select.onchange = () => {
      const o = select.selectedOptions[0];
      if (o) this.set({ center: Number(o.dataset.center), width: Number(o.dataset.width) });
    };
    this.el.controls.hidden = false;
    this.showTool(true);
    this.set(modality.window);
  }

  /** Redraws the image canvas through a window. */
  set(w: Window): void {
    const m = this.modality;
    if (!m) return;
    m.window = w;
    const pixels = windowToRgba(m.values, w, (m.display.photometric ?? '').toUpperCase() === 'MONOCHROME1');
    const ctx = this.el.imageCanvas.getContext('2d');
    ctx?.putImageData(new ImageData(pixels, m.width, m.height), 0, 0);
    this.el.value.textContent = windowLabel(w);
    this.el.root.dataset.window = windowDataset(w);
  }

  /** A window drag of (dx, dy) CSS pixels from `start`. */
  drag(start: Window, dx: number, dy: number): void {
    this.set(dragWindow(start, dx, dy, this.modality?.display.range));
  }

  private showTool(shown: boolean): void {
    for (const b of this.el.toolButtons) if (b.dataset.tool === 'window') b.hidden = !shown;
  }
}
