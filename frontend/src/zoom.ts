/**
 * Zoom and pan of the stage inside its viewport with a CSS transform
 * (translate + scale, origin top-left). The canvases keep the image's natural
 * size, and getBoundingClientRect() includes the transform, so the pointer →
 * image mapping (transforms.clientToImage) stays exact at every zoom.
 */
import { IDENTITY_VIEW, zoomAt, type Point, type ViewTransform } from './transforms';

export const MIN_ZOOM = 1;
export const MAX_ZOOM = 16;

/** Keeps the zoom in range and at least part of the stage in the viewport. */
export function clampView(view: ViewTransform, stageW: number, stageH: number): ViewTransform {
  const zoom = Math.min(MAX_ZOOM, Math.max(MIN_ZOOM, view.zoom));
  const minX = stageW - stageW * zoom;
  const minY = stageH - stageH * zoom;
  return {
    zoom,
    panX: Math.min(0, Math.max(minX, view.panX)),
    panY: Math.min(0, Math.max(minY, view.panY)),
  };
}

export class StageZoom {
  view: ViewTransform = IDENTITY_VIEW;

  constructor(
    private readonly viewport: HTMLElement,
    private readonly stage: HTMLElement,
    private readonly onChange: (view: ViewTransform) => void = () => {},
  ) {}

  private size(): [number, number] {
    return [this.stage.offsetWidth || 1, this.stage.offsetHeight || 1];
  }

  set(view: ViewTransform): void {
    const [w, h] = this.size();
    this.view = clampView(view, w, h);
    this.stage.style.transform = `translate(${this.view.panX}px, ${this.view.panY}px) scale(${this.view.zoom})`;
    this.viewport.dataset.zoom = this.view.zoom.toFixed(3);
    this.onChange(this.view);
  }

  reset(): void {
    this.set(IDENTITY_VIEW);
  }

  /** Zooms by `factor` keeping the point under the viewport position `anchor` fixed (default: centre). */
  zoomBy(factor: number, anchor?: Point): void {
    const [w, h] = this.size();
    this.set(zoomAt(this.view, anchor ?? { x: w / 2, y: h / 2 }, factor));
  }

  panBy(dx: number, dy: number): void {
    this.set({ ...this.view, panX: this.view.panX + dx, panY: this.view.panY + dy });
  }

  /** Viewport position of a pointer event. */
  anchorOf(ev: { clientX: number; clientY: number }): Point {
    const rect = this.viewport.getBoundingClientRect();
    return { x: ev.clientX - rect.left, y: ev.clientY - rect.top };
  }
}
