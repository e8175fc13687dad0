/**
 * Keyboard shortcuts of the viewer: one table, used both to dispatch key
 * presses and to render the help panel (so the two cannot drift apart).
 */

export type Command =
  | 'undo' | 'redo' | 'clear' | 'pick1' | 'pick2' | 'pick3'
  | 'toolPrompt' | 'toolBrush' | 'toolEraser' | 'toolWindow' | 'newObject' | 'save'
  | 'toggleOutline' | 'opacityDown' | 'opacityUp' | 'toggleHover'
  | 'zoomIn' | 'zoomOut' | 'zoomFit' | 'panLeft' | 'panRight' | 'panUp' | 'panDown' | 'help';

export interface Shortcut {
  command: Command;
  /** What the help panel shows. */
  keys: string;
  description: string;
  matches(ev: KeyboardLike): boolean;
}

export interface KeyboardLike {
  key: string;
  ctrlKey: boolean;
  metaKey: boolean;
  shiftKey: boolean;
  altKey: boolean;
}

const mod = (ev: KeyboardLike): boolean => ev.ctrlKey || ev.metaKey;
const plain = (key: string) => (ev: KeyboardLike) => !mod(ev) && !ev.altKey && ev.key.toLowerCase() === key;

export const SHORTCUTS: readonly Shortcut[] = [
  { command: 'undo', keys: 'Ctrl+Z', description: 'Undo the last prompt or brush stroke', matches: (e) => mod(e) && !e.shiftKey && e.key.toLowerCase() === 'z' },
  { command: 'redo', keys: 'Ctrl+Y / Ctrl+Shift+Z', description: 'Redo', matches: (e) => mod(e) && (e.key.toLowerCase() === 'y' || (e.shiftKey && e.key.toLowerCase() === 'z')) },
  { command: 'clear', keys: 'Esc', description: 'Clear the prompts and mask of the current object', matches: (e) => e.key === 'Escape' },
  { command: 'pick1', keys: '1', description: 'Pick mask candidate 1 (after one click or one box)', matches: plain('1') },
  { command: 'pick2', keys: '2', description: 'Pick mask candidate 2', matches: plain('2') },
  { command: 'pick3', keys: '3', description: 'Pick mask candidate 3', matches: plain('3') },
  { command: 'toolPrompt', keys: 'P', description: 'Prompt tool: click = positive point, right click or Shift+click = negative point, drag = box', matches: plain('p') },
  { command: 'toolBrush', keys: 'B', description: 'Brush: paint into the mask', matches: plain('b') },
  { command: 'toolEraser', keys: 'E', description: 'Eraser: remove from the mask', matches: plain('e') },
  { command: 'toolWindow', keys: 'W', description: 'Window/level (DICOM): drag right/left = wider/narrower, down/up = level', matches: plain('w') },
  { command: 'newObject', keys: 'N', description: 'Start a new object (lesion A, lesion B, …)', matches: plain('n') },
  { command: 'save', keys: 'S / Ctrl+S', description: 'Save the current object', matches: (e) => !e.altKey && e.key.toLowerCase() === 's' },
  { command: 'toggleOutline', keys: 'O', description: 'Outline only / filled mask', matches: plain('o') },
  { command: 'opacityDown', keys: '[', description: 'Less mask opacity', matches: (e) => e.key === '[' },
  { command: 'opacityUp', keys: ']', description: 'More mask opacity', matches: (e) => e.key === ']' },
  { command: 'toggleHover', keys: 'H', description: 'Hover preview on / off (mask under the cursor before the first click)', matches: plain('h') },
  { command: 'zoomIn', keys: '+', description: 'Zoom in (or mouse wheel at the cursor)', matches: (e) => !mod(e) && (e.key === '+' || e.key === '=') },
  { command: 'zoomOut', keys: '−', description: 'Zoom out', matches: (e) => !mod(e) && (e.key === '-' || e.key === '_') },
  { command: 'zoomFit', keys: '0', description: 'Fit the image (Alt+drag or middle-drag pans)', matches: plain('0') },
  { command: 'panLeft', keys: '←', description: 'Pan left', matches: (e) => e.key === 'ArrowLeft' },
  { command: 'panRight', keys: '→', description: 'Pan right', matches: (e) => e.key === 'ArrowRight' },
  { command: 'panUp', keys: '↑', description: 'Pan up', matches: (e) => e.key === 'ArrowUp' },
  { command: 'panDown', keys: '↓', description: 'Pan down', matches: (e) => e.key === 'ArrowDown' },
  { command: 'help', keys: '?', description: 'Show / hide this help', matches: (e) => e.key === '?' },
];

/** The command a key press means, or null. */
export function commandFor(ev: KeyboardLike): Command | null {
  return SHORTCUTS.find((s) => s.matches(ev))?.command ?? null;
}

/** True when the key press is typing into a form field (shortcuts must not fire). */
export function isTyping(target: EventTarget | null): boolean {
  const el = target as HTMLElement | null;
  if (!el || typeof el.tagName !== 'string') return false;
  const tag = el.tagName.toLowerCase();
  if (tag === 'textarea' || tag === 'select' || el.isContentEditable) return true;
  if (tag !== 'input') return false;
  const type = (el as HTMLInputElement).type;
  return !['checkbox', 'radio', 'range', 'button', 'color'].includes(type);
}

/** Fills the help panel's table from SHORTCUTS. */
export function renderHelp(table: HTMLTableSectionElement): void {
  table.replaceChildren(
    ...SHORTCUTS.map((s) => {
      const tr = document.createElement('tr');
      const keys = document.createElement('td');
      const kbd = document.createElement('kbd');
      kbd.textContent = s.keys;
      keys.append(kbd);
      const what = document.createElement('td');
      what.textContent = s.description;
      tr.append(keys, what);
      tr.dataset.command = s.command;
      return tr;
    }),
  );
}
