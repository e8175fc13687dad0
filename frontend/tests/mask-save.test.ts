import { describe, expect, it } from 'vitest';
import type { MaskObject, MaskWrite } from '../src/api';
import type { ImageObject } from '../src/api-types';
import { LOCAL_NOT_SAVED, NOTHING_TO_SAVE, applySaved, maskWrite, saveObject, type MaskSaveDeps } from '../src/mask-save';
import { newObject, type SegObject } from '../src/objects';
import { addClick, emptyPrompt, setBox } from '../src/prompts';

const image = { id: 5, width: 3, height: 2 } as ImageObject;
const savedMask = { id: 42, area: 3, export_urls: { png: '/p.png' }, author: 'ann', model_version: 2, updated_at: '2024-01-01T00:00:00Z' } as unknown as MaskObject;

function object(): SegObject {
  const obj = newObject(0);
  obj.label = '  liver ';
  obj.mask = Uint8Array.from([0, 1, 1, 1, 1, 0]);
  obj.prompt = setBox(addClick(emptyPrompt(), { x: 1, y: 1, label: 1 }), [0, 0, 2, 1]);
  obj.dirty = true;
  return obj;
}

function deps(over: Partial<MaskSaveDeps> = {}) {
  const log: string[] = [];
  const sent: { imageId: number; body: MaskWrite; maskId?: number | null }[] = [];
  const d: MaskSaveDeps = {
    saveMask: async (imageId, body, maskId) => {
      sent.push({ imageId, body, maskId });
      return savedMask;
    },
    isLocal: false,
    isCurrent: () => true,
    showError: (m) => log.push(`error: ${m}`),
    started: () => log.push('started'),
    saved: (obj) => log.push(`saved ${obj.id}`),
    finished: () => log.push('finished'),
    ...over,
  };
  return { d, log, sent };
}

describe('mask save', () => {
  it('sends the mask as COCO RLE with the trimmed label and the prompts', () => {
    expect(maskWrite(object(), object().mask!, image)).toEqual({
      label: 'liver',
      color: object().color,
      rle: { size: [2, 3], counts: [1, 4, 1] },
      prompts: { points: [[1, 1, 1]], box: [0, 0, 2, 1] },
    });
  });

  it('labels an unnamed object "object"', () => {
    const obj = object();
    obj.label = '   ';
    expect(maskWrite(obj, obj.mask!, image).label).toBe('object');
  });

  it('writes the saved facts back and clears dirty', () => {
    const obj = object();
    applySaved(obj, savedMask);
    expect(obj).toMatchObject({ id: 42, dirty: false, exportUrls: { png: '/p.png' }, author: 'ann', modelVersion: 2, updatedAt: '2024-01-01T00:00:00Z' });
  });

  it('creates a new object and replaces a saved one', async () => {
    const { d, sent } = deps();
    const obj = object();
    await saveObject(obj, image, d);
    await saveObject(obj, image, d);
    expect(sent.map((s) => [s.imageId, s.maskId])).toEqual([[5, null], [5, 42]]);
  });

  it('reports started, saved and finished in order', async () => {
    const { d, log } = deps();
    await saveObject(object(), image, d);
    expect(log).toEqual(['started', 'saved 42', 'finished']);
  });

  it('asks for a click first when the object has no mask', async () => {
    const { d, log, sent } = deps();
    const obj = object();
    obj.mask = null;
    await saveObject(obj, image, d);
    expect([log, sent]).toEqual([[`error: ${NOTHING_TO_SAVE}`], []]);
  });

  it('never sends a privacy-mode image', async () => {
    const { d, log, sent } = deps({ isLocal: true });
    await saveObject(object(), image, d);
    expect([log, sent]).toEqual([[`error: ${LOCAL_NOT_SAVED}`], []]);
  });

  it('shows a failed save and still finishes', async () => {
    const { d, log } = deps({ saveMask: () => Promise.reject(new Error('403 Forbidden')) });
    await saveObject(object(), image, d);
    expect(log).toEqual(['started', 'error: Cannot save   liver : 403 Forbidden', 'finished']);
  });

  it('ignores the reply once the viewer moved on, but finishes', async () => {
    const { d, log } = deps({ isCurrent: () => false });
    const obj = object();
    await saveObject(obj, image, d);
    expect([log, obj.id]).toEqual([['started', 'finished'], null]);
  });
});
