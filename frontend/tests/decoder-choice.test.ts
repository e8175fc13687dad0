import { describe, expect, it, vi } from 'vitest';
import type { ImageObject, ModelVersion } from '../src/api-types';
import type { InitInfo } from '../src/decoder';
import { decoderUrls, loadDecoder } from '../src/decoder-choice';

/** Like ApiClient.url: absolute URLs pass through. */
const url = (path: string) => (path.startsWith('http://') ? path : `http://host${path}`);
const model = { id: 1, decoder_onnx_url: '/m1/decoder.onnx' } as ModelVersion;
const info: InitInfo = { numThreads: 4, inputNames: [], outputNames: [] };

describe('decoder choice', () => {
  it("uses the image's multimask decoder and keeps its version's single-mask one as the fallback", () => {
    const image = { decoder_url: '/m2/multimask.onnx' } as ImageObject;
    expect(decoderUrls(image, model, { decoder_onnx_url: '/m2/decoder.onnx' }, url)).toEqual({
      multi: 'http://host/m2/multimask.onnx',
      single: 'http://host/m2/decoder.onnx',
    });
  });

  it('falls back to the single-mask decoder, then the active model, when the image names no decoder', () => {
    const image = { decoder_url: '' } as ImageObject;
    expect(decoderUrls(image, model, { decoder_onnx_url: '/m2/decoder.onnx' }, url).multi).toBe('http://host/m2/decoder.onnx');
    expect(decoderUrls(image, model, null, url)).toEqual({ multi: 'http://host/m1/decoder.onnx', single: '' });
  });

  it('loads the multimask decoder when it can', async () => {
    const init = vi.fn(async () => info);
    expect(await loadDecoder({ multi: 'multi', single: 'single' }, init)).toEqual({ url: 'multi', info });
    expect(init.mock.calls).toEqual([['multi']]);
  });

  it('loads the single-mask decoder when the multimask one fails, with a warning', async () => {
    const init = vi.fn(async (u: string) => {
      if (u === 'multi') throw new Error('404');
      return info;
    });
    const warn = vi.fn();
    expect(await loadDecoder({ multi: 'multi', single: 'single' }, init, warn)).toEqual({ url: 'single', info });
    expect(warn).toHaveBeenCalledWith('multimask decoder unavailable (404); using single');
  });

  it('rejects when there is no other decoder to fall back to', async () => {
    const init = vi.fn(async () => {
      throw new Error('404');
    });
    await expect(loadDecoder({ multi: 'multi', single: '' }, init)).rejects.toThrow('404');
    await expect(loadDecoder({ multi: 'same', single: 'same' }, init)).rejects.toThrow('404');
    expect(init).toHaveBeenCalledTimes(2);
  });
});
