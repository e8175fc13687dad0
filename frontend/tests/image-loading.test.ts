import { describe, expect, it } from 'vitest';
import type { ImageObject, ModelVersion } from '../src/api-types';
import { ImageLoading, READY_TEXT, waitingText, type ImageLoadingDeps, type ViewerState } from '../src/image-loading';
import { encodeKdem, validHeader } from './helpers/kdem';

const image = {
  id: 7, filename: 'a.png', width: 4, height: 3, status: 'ready', queue_position: null, error: '',
  model_version: 2, sha256: 'abc', decoder_url: '/models/2/decoder.onnx', embedding_url: '/e/7', file_url: '/f/7',
} as unknown as ImageObject;
const model = { id: 2, mask_threshold: 0.5, image_size: 1024, decoder_onnx_url: '/models/2/single.onnx' } as unknown as ModelVersion;
const flush = async () => {
  for (let i = 0; i < 20; i++) await new Promise((r) => setTimeout(r, 0));
};
/** A SAM-shaped float16 embedding (all zeros) of the test image. */
const embedding = () => encodeKdem(validHeader({ shape: [1, 256, 64, 64], image_size: [3, 4], input_size: [768, 1024] }), new Uint8Array(2 * 256 * 64 * 64));
const fakeBitmap = (width: number, height: number) => ({ width, height, close: () => undefined }) as unknown as ImageBitmap;

/** A loader whose server, decoder and bitmaps answer at once, as told. */
function loader(over: Partial<ImageLoadingDeps> = {}, fetchEmbedding: () => Promise<ArrayBuffer> = async () => embedding()) {
  const log = { states: [] as ViewerState[], info: [] as string[], errors: [] as string[], shown: 0, embeddings: [] as string[] };
  const dataset: Record<string, string | undefined> = {};
  const l = new ImageLoading({
    api: {
      fetchImageFile: async () => new Blob(),
      getModel: async () => model,
      url: (path) => path,
      fetchEmbedding: () => fetchEmbedding(),
    },
    decoder: {
      init: async () => ({ numThreads: 4 }) as never,
      useEmbedding: async () => false,
      setEmbedding: async (key) => {
        log.embeddings.push(key);
      },
    },
    model: Promise.resolve(model),
    cache: { get: async () => null, put: async () => undefined },
    bitmap: async (_blob, w, h) => fakeBitmap(w, h),
    dataset,
    stateChanged: (s) => log.states.push(s),
    info: (t) => log.info.push(t),
    showError: (m) => log.errors.push(m),
    clearError: () => undefined,
    showImage: () => log.shown++,
    ...over,
  });
  const open = (img: ImageObject = image) => {
    const gen = l.begin(img);
    l.setState('loading');
    void l.loadImage(gen, img);
    l.update(img);
    return gen;
  };
  return { l, log, dataset, open };
}

describe('image loading', () => {
  it('says the queue position while the embedding is queued', () => {
    expect(waitingText({ status: 'queued', queue_position: 3 })).toBe('Waiting for the embedding (queued, position 3)…');
  });

  it('says the embedding is being computed otherwise', () => {
    expect(waitingText({ status: 'processing', queue_position: null } as never)).toBe('Computing the embedding…');
  });

  it('is ready once the image and the embedding are loaded', async () => {
    const { l, log, open } = loader();
    open();
    await flush();
    expect([log.states, log.shown, log.info.at(-1)]).toEqual([['loading', 'ready'], 1, READY_TEXT]);
    expect(l.decodeTarget()).toEqual({ gen: 1, width: 4, height: 3, key: 'server:7:2', url: '/models/2/decoder.onnx', imageSize: [3, 4], inputSize: [768, 1024] });
  });

  it('takes the mask threshold of the model', async () => {
    const { l, open } = loader();
    open();
    await flush();
    expect(l.threshold).toBe(0.5);
  });

  it('records where the embedding came from and the decoder threads', async () => {
    const { dataset, open } = loader();
    open();
    await flush();
    expect(dataset).toMatchObject({ embeddingSource: 'network', decoderThreads: '4' });
  });

  it('waits for the server while the embedding is not ready', async () => {
    const { log, open } = loader();
    open({ ...image, status: 'queued', queue_position: 1 } as ImageObject);
    await flush();
    expect([log.states, log.embeddings, log.info.at(-1)]).toEqual([['loading'], [], 'Waiting for the embedding (queued, position 1)…']);
  });

  it('fails when the server could not compute the embedding', async () => {
    const { log, open } = loader();
    open({ ...image, status: 'failed', error: 'oom' } as ImageObject);
    await flush();
    expect([log.states.at(-1), log.errors]).toEqual(['error', ['Embedding failed for a.png: oom']]);
  });

  it('fails when the bitmap has another size than the server says', async () => {
    const { log, open } = loader({ bitmap: async () => fakeBitmap(5, 5) });
    open();
    await flush();
    expect(log.errors).toEqual(['Cannot show a.png: a.png decodes to 5×5 pixels but the server says 4×3']);
  });

  it('fails on an embedding that does not fit the decoder', async () => {
    const { log, open } = loader({}, async () => encodeKdem(validHeader(), new Uint8Array(16)));
    open();
    await flush();
    expect([log.states.at(-1), log.errors[0]]).toEqual(['error', expect.stringMatching(/^Cannot prepare a\.png for segmentation: /)]);
  });

  it('drops the loading of an image no longer open', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const { l, log, open } = loader({}, async () => {
      await held;
      return embedding();
    });
    open();
    await flush();
    l.begin({ ...image, id: 8 } as ImageObject);
    release();
    await flush();
    expect([log.states, log.embeddings]).toEqual([['loading'], []]);
  });

  it('ignores status updates of other images', () => {
    const { l, log, open } = loader();
    open({ ...image, status: 'queued', queue_position: 1 } as ImageObject);
    l.update({ ...image, id: 9, status: 'failed' } as ImageObject);
    expect(log.errors).toEqual([]);
  });
});
