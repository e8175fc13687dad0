import { describe, expect, it } from 'vitest';
import type { ImageObject } from '../src/api-types';
import type { DisplayInfo } from '../src/window-level';
import { WindowLevelControls, windowDataset, windowLabel, windowOptions, type WindowLevelElements } from '../src/window-level-controls';
import { encodeKdem, uint16LE, validHeader } from './helpers/kdem';

const dicom = (over: Partial<ImageObject> = {}) =>
  ({
    id: 1, filename: 'ct.dcm', width: 2, height: 2, pixels_url: '/api/images/1/pixels/',
    display: { windowing: true, window: { center: 40, width: 400 }, presets: [{ name: 'Lung', center: -600, width: 1500 }] },
    ...over,
  }) as ImageObject;

/** Elements that record visibility; nothing is drawn in these tests. */
function controls(fetchBinary: (path: string) => Promise<ArrayBuffer>) {
  const windowButton = { dataset: { tool: 'window' }, hidden: false };
  const el = { root: { dataset: {} }, imageCanvas: {}, controls: { hidden: false }, preset: {}, value: {}, toolButtons: [windowButton] } as unknown as WindowLevelElements;
  const errors: string[] = [];
  const fetched: string[] = [];
  const wl = new WindowLevelControls(el, {
    fetchBinary: (path) => {
      fetched.push(path);
      return fetchBinary(path);
    },
    showError: (m) => errors.push(m),
  });
  return { wl, el, windowButton, errors, fetched };
}

/** A float16 KDEM of `n` modality values. */
const values = (n: number) => encodeKdem(validHeader({ shape: [n] }), uint16LE(new Array(n).fill(0)));

describe('window/level controls', () => {
  it('lists the window as stored first, then the presets', () => {
    expect(windowOptions(dicom().display as DisplayInfo).map((p) => p.name)).toEqual(['As stored', 'Lung']);
  });

  it('shows the window as rounded center and width', () => {
    expect(windowLabel({ center: 40.4, width: 399.6 })).toBe('C 40 / W 400');
  });

  it('mirrors the window as data-window to 2 decimals', () => {
    expect(JSON.parse(windowDataset({ center: 1 / 3, width: 400 }))).toEqual({ center: 0.33, width: 400 });
  });

  it('hides the controls and the window tool when another image opens', () => {
    const { wl, el, windowButton } = controls(async () => values(4));
    wl.reset();
    expect([el.controls.hidden, windowButton.hidden, wl.available]).toEqual([true, true, false]);
  });

  it('fetches nothing for an image without windowing', async () => {
    const { wl, fetched } = controls(async () => values(4));
    await wl.load(dicom({ display: { windowing: false } }), () => true);
    expect([fetched, wl.available]).toEqual([[], false]);
  });

  it('reports modality values that do not match the image size', async () => {
    const { wl, errors } = controls(async () => values(3));
    await wl.load(dicom(), () => true);
    expect([errors, wl.available]).toEqual([['Window/level is unavailable for ct.dcm: the modality values do not match the image size'], false]);
  });

  it('stays silent about a failure once the viewer moved on', async () => {
    const { wl, errors } = controls(() => Promise.reject(new Error('offline')));
    await wl.load(dicom(), () => false);
    expect(errors).toEqual([]);
  });
});
