import { describe, expect, it } from 'vitest';
import { DRAG_THRESHOLD_PX, PointerInput, classifyPress, dragBox, isUsableBox, type PointerHost, type PointerLike, type Tool } from '../src/pointer-input';
import { LABEL_NEGATIVE, LABEL_POSITIVE } from '../src/prompts';

const press = (over: Partial<PointerLike> = {}): PointerLike => ({
  button: 0, altKey: false, shiftKey: false, clientX: 10, clientY: 10, pointerId: 1, preventDefault: () => undefined, ...over,
});

/** A host that maps client pixels 1:1 to image pixels and logs what the gestures did. */
function host(over: Partial<PointerHost> & { toolName?: Tool } = {}) {
  const log: unknown[][] = [];
  const h: PointerHost = {
    ready: () => true,
    hasImage: () => true,
    hasSize: () => true,
    tool: () => over.toolName ?? 'prompt',
    toImage: (ev) => ({ x: ev.clientX, y: ev.clientY }),
    panBy: (dx, dy) => log.push(['pan', dx, dy]),
    windowStart: () => ({ center: 40, width: 400 }),
    dragWindow: (start, dx, dy) => log.push(['window', start, dx, dy]),
    beginStroke: (p, value) => {
      log.push(['begin', p, value]);
      return new Uint8Array(4);
    },
    stroke: (_mask, from, to, value) => log.push(['stroke', from, to, value]),
    endStroke: () => log.push(['end']),
    click: (p, label) => log.push(['click', p, label]),
    dragging: (box) => log.push(['dragging', box]),
    box: (box) => log.push(['box', box]),
    cancelled: () => log.push(['cancelled']),
    hover: (ev) => log.push(['hover', ev.clientX, ev.clientY]),
    leave: () => log.push(['leave']),
    ...over,
  };
  return { input: new PointerInput(h), log };
}

describe('pointer gesture classification', () => {
  it('pans with the middle button or Alt+left, whatever the tool', () => {
    expect(classifyPress(press({ button: 1 }), 'brush')).toEqual({ kind: 'pan' });
    expect(classifyPress(press({ altKey: true }), 'prompt')).toEqual({ kind: 'pan' });
  });

  it('drags the window with the window tool', () => {
    expect(classifyPress(press(), 'window')).toEqual({ kind: 'window' });
  });

  it('paints with the brush and erases with the eraser', () => {
    expect(classifyPress(press(), 'brush')).toEqual({ kind: 'paint', value: 1 });
    expect(classifyPress(press(), 'eraser')).toEqual({ kind: 'paint', value: 0 });
  });

  it('clicks a positive point with left and a negative one with right or Shift+left', () => {
    expect(classifyPress(press(), 'prompt')).toEqual({ kind: 'press', label: LABEL_POSITIVE });
    expect(classifyPress(press({ button: 2 }), 'prompt')).toEqual({ kind: 'press', label: LABEL_NEGATIVE });
    expect(classifyPress(press({ shiftKey: true }), 'prompt')).toEqual({ kind: 'press', label: LABEL_NEGATIVE });
  });

  it('takes a right click as a negative point even with the brush', () => {
    expect(classifyPress(press({ button: 2 }), 'brush')).toEqual({ kind: 'press', label: LABEL_NEGATIVE });
  });

  it('ignores other buttons', () => {
    expect(classifyPress(press({ button: 3 }), 'prompt')).toBeNull();
  });
});

describe('pointer gestures', () => {
  it('turns a press and release into a click where it started', () => {
    const { input, log } = host();
    expect(input.down(press({ clientX: 5, clientY: 6 }))).toBe(true);
    input.move(press({ clientX: 7, clientY: 8 }));
    input.end({ pointerId: 1 }, false);
    expect(log).toEqual([['click', { x: 5, y: 6 }, LABEL_POSITIVE]]);
    expect(input.busy).toBe(false);
  });

  it(`turns a positive press moved ${DRAG_THRESHOLD_PX} px into a box drag`, () => {
    const { input, log } = host();
    input.down(press({ clientX: 20, clientY: 20 }));
    input.move(press({ clientX: 20 + DRAG_THRESHOLD_PX, clientY: 20 }));
    input.move(press({ clientX: 10, clientY: 30 }));
    input.end({ pointerId: 1 }, false);
    expect(log).toEqual([
      ['dragging', [20, 20, 25, 20]],
      ['dragging', [10, 20, 20, 30]],
      ['box', [10, 20, 20, 30]],
    ]);
  });

  it('keeps a negative press a click however far it moves', () => {
    const { input, log } = host();
    input.down(press({ button: 2 }));
    input.move(press({ clientX: 100, clientY: 100 }));
    input.end({ pointerId: 1 }, false);
    expect(log).toEqual([['click', { x: 10, y: 10 }, LABEL_NEGATIVE]]);
  });

  it('drops a box thinner than a pixel', () => {
    const { input, log } = host();
    input.down(press({ clientX: 0, clientY: 0 }));
    input.move(press({ clientX: 10, clientY: 0.5 }));
    input.end({ pointerId: 1 }, false);
    expect(log.at(-1)).toEqual(['cancelled']);
  });

  it('takes a box of at least one pixel each way as a prompt', () => {
    expect(isUsableBox([0, 0, 1, 1])).toBe(true);
    expect(isUsableBox([0, 0, 1, 0.5])).toBe(false);
  });

  it('cancels a gesture on pointercancel without a prompt', () => {
    const { input, log } = host();
    input.down(press());
    input.end({ pointerId: 1 }, true);
    expect(log).toEqual([['cancelled']]);
  });

  it('follows only the pointer that started the gesture', () => {
    const { input, log } = host();
    input.down(press());
    input.move(press({ pointerId: 2, clientX: 90 }));
    input.end({ pointerId: 2 }, false);
    expect(log).toEqual([]);
    expect(input.busy).toBe(true);
  });

  it('paints a stroke from each position to the next and commits it on release', () => {
    const { input, log } = host({ toolName: 'eraser' });
    input.down(press({ clientX: 1, clientY: 1 }));
    input.move(press({ clientX: 2, clientY: 3 }));
    input.move(press({ clientX: 4, clientY: 4 }));
    input.end({ pointerId: 1 }, false);
    expect(log).toEqual([
      ['begin', { x: 1, y: 1 }, 0],
      ['stroke', { x: 1, y: 1 }, { x: 2, y: 3 }, 0],
      ['stroke', { x: 2, y: 3 }, { x: 4, y: 4 }, 0],
      ['end'],
    ]);
  });

  it('does not start a stroke without an active object', () => {
    const { input } = host({ toolName: 'brush', beginStroke: () => null });
    expect(input.down(press())).toBe(false);
    expect(input.busy).toBe(false);
  });

  it('pans by the movement since the last event and prevents the default', () => {
    const { input, log } = host();
    let prevented = false;
    input.down(press({ button: 1, preventDefault: () => (prevented = true) }));
    input.move(press({ clientX: 13, clientY: 14 }));
    input.move(press({ clientX: 14, clientY: 14 }));
    expect(prevented).toBe(true);
    expect(log).toEqual([['pan', 3, 4], ['pan', 1, 0]]);
  });

  it('drags the window from where it was when the press started', () => {
    const { input, log } = host({ toolName: 'window' });
    input.down(press());
    input.move(press({ clientX: 20, clientY: 5 }));
    expect(log).toEqual([['window', { center: 40, width: 400 }, 10, -5]]);
  });

  it('does not start a window drag on an image without window/level', () => {
    const { input } = host({ toolName: 'window', windowStart: () => null });
    expect(input.down(press())).toBe(false);
  });

  it('ignores presses until the viewer is ready', () => {
    expect(host({ ready: () => false }).input.down(press())).toBe(false);
  });

  it('ignores presses while the overlay has no size on screen', () => {
    expect(host({ hasSize: () => false }).input.down(press())).toBe(false);
  });

  it('reports hover and leave only without a gesture', () => {
    const { input, log } = host();
    input.move(press({ clientX: 3, clientY: 4 }));
    input.leave();
    input.down(press());
    input.leave();
    expect(log).toEqual([['hover', 3, 4], ['leave']]);
  });

  it('gives no box for gestures other than a box drag', () => {
    expect(dragBox(null)).toBeNull();
    expect(dragBox({ kind: 'pan', lastClient: { x: 0, y: 0 }, pointerId: 1 })).toBeNull();
  });
});
