import { describe, expect, it } from 'vitest';
import type { Command } from '../src/shortcuts';
import { OPACITY_STEP, PAN_STEP, keyCommand, runCommand, stepRange, type ViewerKeyActions } from '../src/viewer-keys';

/** Actions that log what they were asked to do. */
function actions(over: Partial<ViewerKeyActions> = {}) {
  const log: string[] = [];
  const a: ViewerKeyActions = {
    outline: { checked: false },
    opacity: { value: '50', min: '0', max: '100' },
    hover: { checked: true },
    redraw: () => log.push('redraw'),
    undo: () => log.push('undo'),
    redo: () => log.push('redo'),
    clear: () => log.push('clear'),
    helpOpen: () => false,
    toggleHelp: (show) => log.push(`help ${show}`),
    candidates: () => [1, 2, 3],
    pick: (i) => log.push(`pick ${i}`),
    setTool: (t) => log.push(`tool ${t}`),
    windowAvailable: () => false,
    newObject: () => log.push('new'),
    save: () => log.push('save'),
    zoom: {
      zoomBy: (f) => log.push(`zoom ${f}`),
      reset: () => log.push('fit'),
      panBy: (dx, dy) => log.push(`pan ${dx} ${dy}`),
    },
    ...over,
  };
  return { a, log };
}

const run = (command: Command, over: Partial<ViewerKeyActions> = {}) => {
  const { a, log } = actions(over);
  runCommand(command, a);
  return { a, log };
};

const key = (k: string, target: unknown = null, mods: Partial<{ ctrlKey: boolean; shiftKey: boolean }> = {}) => ({
  key: k, ctrlKey: false, metaKey: false, shiftKey: false, altKey: false, ...mods, target: target as EventTarget | null,
});

describe('viewer keyboard commands', () => {
  it('Esc clears the active object while the help panel is closed', () => {
    expect(run('clear').log).toEqual(['clear']);
  });

  it('Esc closes the help panel when it is open', () => {
    expect(run('clear', { helpOpen: () => true }).log).toEqual(['help false']);
  });

  it('picks the n-th offered candidate', () => {
    expect(run('pick2').log).toEqual(['pick 2']);
  });

  it('picks nothing when fewer candidates are offered', () => {
    expect(run('pick3', { candidates: () => [0] }).log).toEqual([]);
  });

  it('chooses the window tool only when the image has a window', () => {
    expect([run('toolWindow').log, run('toolWindow', { windowAvailable: () => true }).log]).toEqual([[], ['tool window']]);
  });

  it('toggles outline and redraws', () => {
    const { a, log } = run('toggleOutline');
    expect([a.outline.checked, log]).toEqual([true, ['redraw']]);
  });

  it('toggles the hover preview without redrawing', () => {
    const { a, log } = run('toggleHover');
    expect([a.hover.checked, log]).toEqual([false, []]);
  });

  it('steps the opacity and redraws', () => {
    const { a, log } = run('opacityUp');
    expect([a.opacity.value, log]).toEqual([String(50 + OPACITY_STEP), ['redraw']]);
  });

  it('pans by a fixed step, the arrow moving the view', () => {
    expect(run('panLeft').log).toEqual([`pan ${PAN_STEP} 0`]);
  });

  it('fits the image on 0', () => {
    expect(run('zoomFit').log).toEqual(['fit']);
  });

  it('clamps a stepped range to its bounds', () => {
    const input = { value: '95', min: '0', max: '100' };
    stepRange(input, 10);
    expect(input.value).toBe('100');
  });

  it('ignores key presses while typing into a text field', () => {
    expect(keyCommand(key('z', { tagName: 'INPUT', type: 'text' }, { ctrlKey: true }), false)).toBeNull();
  });

  it('maps a key press to its command', () => {
    expect(keyCommand(key('z', null, { ctrlKey: true }), false)).toBe('undo');
  });

  it('only opens the help while the viewer is hidden', () => {
    expect([keyCommand(key('?'), true), keyCommand(key('n'), true)]).toEqual(['help', null]);
  });
});
