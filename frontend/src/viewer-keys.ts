/**
 * The viewer's keyboard commands: what each command of the shortcut table (shortcuts.ts) does in
 * the viewer, the document keydown listener that dispatches them, and the help panel that lists
 * them. Key presses while typing into a form field are ignored, and only `help` works while the
 * viewer is hidden.
 */
import type { Tool } from './pointer-input';
import { commandFor, isTyping, renderHelp, type Command, type KeyboardLike } from './shortcuts';

/** CSS pixels an arrow key pans. */
export const PAN_STEP = 40;
/** Opacity percent `[` and `]` change. */
export const OPACITY_STEP = 10;

/** A range input's parts that a step reads and writes. */
export type RangeLike = Pick<HTMLInputElement, 'value' | 'min' | 'max'>;

/** What the commands act on. */
export interface ViewerKeyActions {
  outline: Pick<HTMLInputElement, 'checked'>;
  opacity: RangeLike;
  hover: Pick<HTMLInputElement, 'checked'>;
  /** Redraws the masks (after an outline or opacity change). */
  redraw(): void;
  undo(): void;
  redo(): void;
  clear(): void;
  helpOpen(): boolean;
  toggleHelp(show?: boolean): void;
  /** The mask indices the last decode offers (candidates bar), in order; empty when none. */
  candidates(): readonly number[];
  pick(index: number): void;
  setTool(tool: Tool): void;
  /** The window tool is there (a DICOM image with a window). */
  windowAvailable(): boolean;
  newObject(): void;
  save(): void;
  /** The stage's zoom and pan (zoom.ts): reset() fits the image. */
  zoom: { zoomBy(factor: number): void; reset(): void; panBy(dx: number, dy: number): void };
}

/** Moves a range input by `delta`, clamped to its min and max. */
export function stepRange(input: RangeLike, delta: number): void {
  input.value = String(Math.min(Number(input.max), Math.max(Number(input.min), Number(input.value) + delta)));
}

/** Executes a keyboard command. */
export function runCommand(command: Command, a: ViewerKeyActions): void {
  const step = (input: RangeLike, delta: number) => {
    stepRange(input, delta);
    a.redraw();
  };
  switch (command) {
    case 'undo': return a.undo();
    case 'redo': return a.redo();
    case 'clear': return a.helpOpen() ? a.toggleHelp(false) : a.clear();
    case 'pick1': case 'pick2': case 'pick3': {
      const index = a.candidates()[Number(command.slice(-1)) - 1];
      if (index !== undefined) a.pick(index);
      return;
    }
    case 'toolPrompt': return a.setTool('prompt');
    case 'toolBrush': return a.setTool('brush');
    case 'toolEraser': return a.setTool('eraser');
    case 'toolWindow': return a.windowAvailable() ? a.setTool('window') : undefined;
    case 'newObject': return a.newObject();
    case 'save': return a.save();
    case 'toggleOutline': a.outline.checked = !a.outline.checked; return a.redraw();
    case 'opacityDown': return step(a.opacity, -OPACITY_STEP);
    case 'opacityUp': return step(a.opacity, OPACITY_STEP);
    case 'toggleHover': a.hover.checked = !a.hover.checked; return;
    case 'zoomIn': return a.zoom.zoomBy(1.25);
    case 'zoomOut': return a.zoom.zoomBy(0.8);
    case 'zoomFit': return a.zoom.reset();
    case 'panLeft': return a.zoom.panBy(PAN_STEP, 0);
    case 'panRight': return a.zoom.panBy(-PAN_STEP, 0);
    case 'panUp': return a.zoom.panBy(0, PAN_STEP);
    case 'panDown': return a.zoom.panBy(0, -PAN_STEP);
    case 'help': return a.toggleHelp();
  }
}

/** The command a key press runs: none while typing, and only `help` while the viewer is hidden. */
export function keyCommand(ev: KeyboardLike & { target: EventTarget | null }, viewerHidden: boolean): Command | null {
  if (isTyping(ev.target)) return null;
  const command = commandFor(ev);
  if (!command) return null;
  return command === 'help' || !viewerHidden ? command : null;
}

export interface ViewerKeysElements {
  /** #viewer: hidden until an image is opened. */
  root: HTMLElement;
  helpButton: HTMLButtonElement;
  helpPanel: HTMLElement;
  helpTable: HTMLTableSectionElement;
}

/** The help panel and the keydown listener of one viewer. */
export class ViewerKeys {
  constructor(
    private readonly el: ViewerKeysElements,
    private readonly actions: Omit<ViewerKeyActions, 'helpOpen' | 'toggleHelp'>,
  ) {}

  /** Wires the help button and its close button (call with the viewer's other controls). */
  bindHelp(): void {
    this.el.helpButton.addEventListener('click', () => this.toggleHelp());
    this.el.helpPanel.querySelector('button.help-close')?.addEventListener('click', () => this.toggleHelp(false));
  }

  /** Listens for shortcuts on `doc`. */
  bindKeys(doc: Pick<Document, 'addEventListener'>): void {
    doc.addEventListener('keydown', (ev) => {
      const command = keyCommand(ev, this.el.root.hidden);
      if (!command) return;
      ev.preventDefault();
      this.run(command);
    });
  }

  /** Fills the help panel's table from the shortcut table. */
  renderHelp(): void {
    renderHelp(this.el.helpTable);
  }

  toggleHelp(show = this.el.helpPanel.hidden): void {
    this.el.helpPanel.hidden = !show;
    this.el.helpButton.setAttribute('aria-expanded', String(show));
  }

  run(command: Command): void {
    runCommand(command, { ...this.actions, helpOpen: () => !this.el.helpPanel.hidden, toggleHelp: (show) => this.toggleHelp(show) });
  }
}
