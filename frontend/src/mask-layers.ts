/**
 * The viewer's mask layers: #objects-canvas (the other objects' masks), #mask-overlay (the active
 * object's mask, or a brush stroke or hover preview in progress) and #marker-canvas (the prompt
 * markers and a box being dragged), each at the image's size, in the style the opacity and
 * outline controls choose.
 */
import { drawBinaryMasks, drawPromptMarkers, type MaskStyle } from './canvas';
import type { SegObject } from './objects';
import type { Box, Prompt } from './prompts';

/** The active mask's style without an active object. */
export const DEFAULT_STYLE: MaskStyle = { color: '#1e90ff', opacity: 0.5, outline: false };
/** A hover preview is drawn at most this opaque. */
export const PREVIEW_OPACITY = 0.35;

export interface MaskLayersElements {
  objectsCanvas: HTMLCanvasElement;
  overlay: HTMLCanvasElement;
  markerCanvas: HTMLCanvasElement;
  /** Opacity in percent (range input). */
  opacity: Pick<HTMLInputElement, 'value'>;
  /** Outline only (checkbox). */
  outline: Pick<HTMLInputElement, 'checked'>;
}

/** An object's mask style from the opacity (percent) and outline controls. */
export function maskStyle(obj: Pick<SegObject, 'color'> | null, opacityPercent: string, outline: boolean, preview = false): MaskStyle {
  const style = obj ? { color: obj.color, opacity: Number(opacityPercent) / 100, outline } : { ...DEFAULT_STYLE };
  if (preview) style.opacity = Math.min(style.opacity, PREVIEW_OPACITY);
  return style;
}

/** The image being drawn on: its size. */
type Size = { width: number; height: number };

export class MaskLayers {
  constructor(private readonly el: MaskLayersElements) {}

  private style(obj: SegObject | null, preview = false): MaskStyle {
    return maskStyle(obj, this.el.opacity.value, this.el.outline.checked, preview);
  }

  /** Redraws all three layers. */
  draw(image: Size, others: readonly SegObject[], active: SegObject | null, prompt: Prompt, dragBox: Box | null): void {
    const { width, height } = image;
    drawBinaryMasks(this.el.objectsCanvas, width, height, others.map((o) => ({ mask: o.mask!, style: this.style(o) })));
    this.drawActive(image, active, active?.mask ?? null);
    drawPromptMarkers(this.el.markerCanvas, width, height, prompt.points, prompt.box, dragBox);
  }

  /** Redraws the active layer with `mask` (the active object's, a stroke, or a faint preview). */
  drawActive(image: Size, active: SegObject | null, mask: Uint8Array | null, preview = false): void {
    const style = this.style(active, preview);
    drawBinaryMasks(this.el.overlay, image.width, image.height, mask ? [{ mask, style }] : []);
  }
}
