/**
 * Pointer gestures on the viewer's stage: classifies each press (pan, window/level drag, brush or
 * eraser stroke, click that may become a box drag) and follows it to its end, telling the host
 * what the user did in image terms (a click, a box, a stroke, a pan). It draws nothing itself.
 */
import { LABEL_NEGATIVE, LABEL_POSITIVE, type Box, type ClickLabel } from './prompts';
import type { Point } from './transforms';
import type { Window } from './window-level';

export type Tool = 'prompt' | 'brush' | 'eraser' | 'window';

/** Pointer movement (CSS px) that turns a press into a box drag. */
export const DRAG_THRESHOLD_PX = 5;

/** The parts of a PointerEvent the gestures read. */
export interface PointerLike {
  button: number;
  altKey: boolean;
  shiftKey: boolean;
  clientX: number;
  clientY: number;
  pointerId: number;
  preventDefault(): void;
}

export type Gesture =
  | { kind: 'press'; start: Point; startClient: Point; label: ClickLabel; pointerId: number }
  | { kind: 'box'; start: Point; current: Point; pointerId: number }
  | { kind: 'paint'; last: Point; mask: Uint8Array; value: 0 | 1; pointerId: number }
  | { kind: 'pan'; lastClient: Point; pointerId: number }
  | { kind: 'window'; startClient: Point; start: Window; pointerId: number };

/** What a press starts: middle button or Alt+left pans, else it depends on the tool and button. */
export type PressKind =
  | { kind: 'pan' }
  | { kind: 'window' }
  | { kind: 'paint'; value: 0 | 1 }
  | { kind: 'press'; label: ClickLabel }
  | null;

export function classifyPress(ev: Pick<PointerLike, 'button' | 'altKey' | 'shiftKey'>, tool: Tool): PressKind {
  if (ev.button === 1 || (ev.button === 0 && ev.altKey)) return { kind: 'pan' };
  if (tool === 'window' && ev.button === 0) return { kind: 'window' };
  if (tool !== 'prompt' && ev.button === 0) return { kind: 'paint', value: tool === 'brush' ? 1 : 0 };
  if (ev.button === 0 || ev.button === 2) return { kind: 'press', label: ev.button === 2 || ev.shiftKey ? LABEL_NEGATIVE : LABEL_POSITIVE };
  return null;
}

/** The box spanned by a box drag (image pixels, [x0, y0, x1, y1] with x0 <= x1, y0 <= y1). */
export function dragBox(g: Gesture | null): Box | null {
  if (!g || g.kind !== 'box') return null;
  return [Math.min(g.start.x, g.current.x), Math.min(g.start.y, g.current.y), Math.max(g.start.x, g.current.x), Math.max(g.start.y, g.current.y)];
}

/** Whether a drag box is large enough to be a prompt (at least one pixel each way). */
export function isUsableBox(box: Box | null): box is Box {
  return !!box && Math.abs(box[2] - box[0]) >= 1 && Math.abs(box[3] - box[1]) >= 1;
}

/** Whether a positive press has moved far enough (CSS px) to become a box drag. */
export function becomesBox(g: Extract<Gesture, { kind: 'press' }>, client: Point): boolean {
  return Math.hypot(client.x - g.startClient.x, client.y - g.startClient.y) >= DRAG_THRESHOLD_PX && g.label === LABEL_POSITIVE;
}

export interface PointerHost {
  /** An image is open and ready for prompts. */
  ready(): boolean;
  /** An image is open. */
  hasImage(): boolean;
  /** The overlay has a size on screen (pointer positions map to image pixels). */
  hasSize(): boolean;
  tool(): Tool;
  /** The pointer position in image pixels, clamped to the image. */
  toImage(ev: Pick<PointerLike, 'clientX' | 'clientY'>): Point;
  panBy(dx: number, dy: number): void;
  /** The current window (DICOM) for a window drag; null when the image has none. */
  windowStart(): Window | null;
  /** A window drag moved (dx, dy) CSS pixels from `start`. */
  dragWindow(start: Window, dx: number, dy: number): void;
  /** Starts a stroke at `p`: the mask it paints into (a copy of the active one), or null without an active object. */
  beginStroke(p: Point, value: 0 | 1): Uint8Array | null;
  /** Paints the stroke on from `from` to `to` and shows it. */
  stroke(mask: Uint8Array, from: Point, to: Point, value: 0 | 1): void;
  /** A stroke ended: `mask` is the active object's new mask. */
  endStroke(mask: Uint8Array): void;
  click(p: Point, label: ClickLabel): void;
  /** A box drag changed (redraw with it). */
  dragging(box: Box | null): void;
  box(box: Box): void;
  /** A gesture ended without effect (redraw without a drag box). */
  cancelled(): void;
  /** The pointer moved without a gesture. */
  hover(ev: Pick<PointerLike, 'clientX' | 'clientY'>): void;
  /** The pointer left the stage without a gesture. */
  leave(): void;
}

export class PointerInput {
  private current: Gesture | null = null;

  constructor(private readonly host: PointerHost) {}

  /** A gesture is in progress. */
  get busy(): boolean {
    return this.current !== null;
  }

  get gesture(): Gesture | null {
    return this.current;
  }

  /** Follows the stage's pointer events. */
  bind(stage: HTMLElement): void {
    stage.addEventListener('contextmenu', (ev) => ev.preventDefault());
    stage.addEventListener('pointerdown', (ev) => {
      if (this.down(ev)) stage.setPointerCapture?.(ev.pointerId);
    });
    stage.addEventListener('pointermove', (ev) => this.move(ev));
    stage.addEventListener('pointerup', (ev) => this.end(ev, false));
    stage.addEventListener('pointercancel', (ev) => this.end(ev, true));
    stage.addEventListener('pointerleave', () => this.leave());
  }

  /** A press; true when it started a gesture (the pointer is then captured). */
  down(ev: PointerLike): boolean {
    const host = this.host;
    if (!host.ready() || !host.hasSize()) return false;
    const press = classifyPress(ev, host.tool());
    if (!press) return false;
    const pointerId = ev.pointerId;
    const client = { x: ev.clientX, y: ev.clientY };
    if (press.kind === 'pan') {
      ev.preventDefault();
      this.current = { kind: 'pan', lastClient: client, pointerId };
    } else if (press.kind === 'window') {
      const start = host.windowStart();
      if (!start) return false;
      this.current = { kind: 'window', startClient: client, start: { ...start }, pointerId };
    } else if (press.kind === 'paint') {
      const p = host.toImage(ev);
      const mask = host.beginStroke(p, press.value);
      if (!mask) return false;
      this.current = { kind: 'paint', last: p, mask, value: press.value, pointerId };
    } else {
      this.current = { kind: 'press', start: host.toImage(ev), startClient: client, label: press.label, pointerId };
    }
    return true;
  }

  move(ev: PointerLike): void {
    const host = this.host;
    const g = this.current;
    if (!host.ready()) return;
    if (!g) {
      host.hover(ev);
      return;
    }
    if (g.pointerId !== ev.pointerId) return;
    if (g.kind === 'window') {
      host.dragWindow(g.start, ev.clientX - g.startClient.x, ev.clientY - g.startClient.y);
    } else if (g.kind === 'pan') {
      host.panBy(ev.clientX - g.lastClient.x, ev.clientY - g.lastClient.y);
      g.lastClient = { x: ev.clientX, y: ev.clientY };
    } else if (g.kind === 'paint') {
      const p = host.toImage(ev);
      host.stroke(g.mask, g.last, p, g.value);
      g.last = p;
    } else if (g.kind === 'press') {
      if (becomesBox(g, { x: ev.clientX, y: ev.clientY })) {
        this.current = { kind: 'box', start: g.start, current: host.toImage(ev), pointerId: g.pointerId };
        host.dragging(dragBox(this.current));
      }
    } else {
      g.current = host.toImage(ev);
      host.dragging(dragBox(g));
    }
  }

  /** pointerup (cancelled false) or pointercancel (true). */
  end(ev: Pick<PointerLike, 'pointerId'>, cancelled: boolean): void {
    const g = this.current;
    if (!g || g.pointerId !== ev.pointerId) return;
    this.current = null;
    if (cancelled || !this.host.hasImage()) {
      this.host.cancelled();
      return;
    }
    if (g.kind === 'press') {
      this.host.click(g.start, g.label);
    } else if (g.kind === 'box') {
      const box = dragBox(g);
      if (isUsableBox(box)) this.host.box(box);
      else this.host.cancelled();
    } else if (g.kind === 'paint') {
      this.host.endStroke(g.mask);
    }
  }

  leave(): void {
    if (!this.current) this.host.leave();
  }
}
