/**
 * The open image's loading state machine: loading → ready (or error). It loads the image file
 * (its bitmap) and, once the server reports the embedding ready, the model's decoder and the
 * embedding (embedding-source.ts), retrying an embedding that was not ready yet; the image is
 * ready when both are there. A generation number drops everything of an image no longer open.
 * It holds the facts a decode needs (embedding key, decoder URL, sizes, mask threshold).
 *
 * DOM contract it writes (through `dataset`, the viewer root's): data-embedding-source,
 * data-embedding-bytes, data-decoder-threads, data-open-to-ready-ms; performance measure
 * "kdsam-open-to-ready".
 */
import type { ApiClient } from './api';
import type { ImageObject, ModelVersion } from './api-types';
import type { Decoder } from './decoder';
import { decoderUrls, loadDecoder, type ChosenDecoder } from './decoder-choice';
import { assertDecoderEmbedding, parseEmbeddingAsync } from './embedding';
import { EmbeddingCache } from './embedding-cache';
import { EmbeddingSources, RetryTimer, decoderEmbeddingKey, type EmbeddingSourceDeps } from './embedding-source';
import type { LocalImageSource } from './privacy'; // privacy mode
import type { DecodeTarget } from './prompt-session';
import { getPreprocessShape, type HW } from './transforms';

export type ViewerState = 'loading' | 'ready' | 'error';

export const READY_TEXT = 'Click: positive point · right click or Shift+click: negative point · drag: box · ? for all shortcuts.';

/** The info line while the server has not finished the embedding. */
export function waitingText(image: Pick<ImageObject, 'status' | 'queue_position'>): string {
  return image.status === 'queued'
    ? `Waiting for the embedding (queued${image.queue_position != null ? `, position ${image.queue_position}` : ''})…`
    : 'Computing the embedding…';
}

/** Decodes an image file; prefers the orientation whose size matches the server's. */
export async function loadBitmap(blob: Blob, width: number, height: number): Promise<ImageBitmap> {
  const bitmap = await createImageBitmap(blob);
  if (bitmap.width === width && bitmap.height === height) return bitmap;
  const raw = await createImageBitmap(blob, { imageOrientation: 'none' }).catch(() => null);
  if (raw && raw.width === width && raw.height === height) {
    bitmap.close();
    return raw;
  }
  raw?.close();
  return bitmap;
}

export interface ImageLoadingDeps {
  api: Pick<ApiClient, 'fetchImageFile' | 'getModel' | 'url' | 'fetchEmbedding'>;
  decoder: Pick<Decoder, 'init' | 'useEmbedding' | 'setEmbedding'>;
  /** Resolves once the active model is known. */
  model: Promise<ModelVersion>;
  /** Privacy mode (privacy.ts): images opened in the browser only, embedded there, never uploaded. */
  local?: LocalImageSource;
  /** Cache Storage of embeddings (default: embedding-cache.ts). */
  cache?: EmbeddingSourceDeps['cache'];
  /** Image file → bitmap at the server's size (default: loadBitmap). */
  bitmap?(blob: Blob, width: number, height: number): Promise<ImageBitmap>;
  /** The viewer root's data attributes. */
  dataset: Record<string, string | undefined>;
  /** The state changed (data-state, aria-busy, buttons). */
  stateChanged(state: ViewerState): void;
  /** The info line. */
  info(text: string): void;
  showError(message: string): void;
  clearError(): void;
  /** The bitmap of image generation `gen` is decoded: draw it (it is closed afterwards). */
  showImage(bitmap: ImageBitmap, image: ImageObject, gen: number): void;
}

export class ImageLoading {
  private img: ImageObject | null = null;
  private gen = 0;
  private current: ViewerState | null = null;
  private waitingForEmbedding = false;
  private loaded = { image: false, embedding: false };
  private openedAt = 0;
  private readonly retry = new RetryTimer();
  private readonly sources: EmbeddingSources;
  /** The embedding's key in the decoder worker; '' until it is loaded. */
  embeddingKey = '';
  /** The decoder every decode uses (decoder-choice.ts). */
  decoderUrl = '';
  imageSize: HW = [0, 0];
  inputSize: HW = [0, 0];
  threshold = 0.0;

  constructor(private readonly deps: ImageLoadingDeps) {
    this.sources = new EmbeddingSources({
      useKept: (key) => deps.decoder.useEmbedding(key),
      cache: deps.cache ?? new EmbeddingCache(),
      fetch: (image) => deps.api.fetchEmbedding(image),
    });
  }

  /** The open image (its latest status), or null before the first. */
  get image(): ImageObject | null {
    return this.img;
  }

  get generation(): number {
    return this.gen;
  }

  get state(): ViewerState | null {
    return this.current;
  }

  /** The image of generation `gen` is still the open one. */
  isCurrent(gen: number): boolean {
    return gen === this.gen && !!this.img;
  }

  /** What a decode of the open image needs (prompt-session.ts); null before the first image. */
  decodeTarget(): DecodeTarget | null {
    const image = this.img;
    if (!image) return null;
    const { embeddingKey: key, decoderUrl: url, imageSize, inputSize } = this;
    return { gen: this.gen, width: image.width, height: image.height, key, url, imageSize, inputSize };
  }

  /** Privacy mode: the image lives in this browser only. */
  isLocal(image: ImageObject): boolean {
    return !!this.deps.local?.isLocal(image.id);
  }

  /** Makes `image` the open one, forgetting the previous one's loading; returns its generation. */
  begin(image: ImageObject): number {
    const gen = ++this.gen;
    this.retry.cancel();
    this.openedAt = performance.now();
    this.img = image;
    this.embeddingKey = '';
    this.waitingForEmbedding = false;
    this.loaded = { image: false, embedding: false };
    return gen;
  }

  setState(state: ViewerState): void {
    this.current = state;
    this.deps.stateChanged(state);
  }

  /** Status update of the open image (websocket or polling): loads the embedding once it is ready. */
  update(image: ImageObject): void {
    if (!this.img || image.id !== this.img.id) return;
    this.img = image;
    if (this.current === 'ready' || this.embeddingKey) return;
    if (image.status === 'failed') {
      this.fail(this.gen, `Embedding failed for ${image.filename}: ${image.error || 'unknown error'}`);
    } else if (image.status === 'ready') {
      if (!this.waitingForEmbedding) void this.loadEmbedding(this.gen, image);
    } else {
      this.deps.info(waitingText(image));
    }
  }

  fail(gen: number, message: string): void {
    if (gen !== this.gen) return;
    this.setState('error');
    this.deps.info('');
    this.deps.showError(message);
  }

  /** Loads and shows the image file of generation `gen`. */
  async loadImage(gen: number, image: ImageObject): Promise<void> {
    try {
      // privacy mode: a local image's file never came from (nor goes to) the server
      const blob = this.isLocal(image) ? this.deps.local!.file(image.id) : await this.deps.api.fetchImageFile(image);
      const bitmap = await (this.deps.bitmap ?? loadBitmap)(blob, image.width, image.height);
      if (gen !== this.gen) {
        bitmap.close();
        return;
      }
      if (bitmap.width !== image.width || bitmap.height !== image.height) {
        bitmap.close();
        throw new Error(
          `${image.filename} decodes to ${bitmap.width}×${bitmap.height} pixels but the server says ${image.width}×${image.height}`,
        );
      }
      this.deps.showImage(bitmap, image, gen);
      bitmap.close();
      this.loaded.image = true;
      this.maybeReady(gen);
    } catch (err) {
      this.fail(gen, `Cannot show ${image.filename}: ${(err as Error).message}`);
    }
  }

  private async loadEmbedding(gen: number, image: ImageObject): Promise<void> {
    this.waitingForEmbedding = true;
    const deps = this.deps;
    try {
      const model = await deps.model;
      if (gen !== this.gen) return;
      this.threshold = model.mask_threshold ?? 0.0;
      // the decoder of the image's own model version: the embedding belongs to it
      const version = image.model_version === model.id ? model : await deps.api.getModel(image.model_version).catch(() => null);
      const urls = decoderUrls(image, model, version, (path) => deps.api.url(path));
      const decoderReady = loadDecoder(urls, (url) => deps.decoder.init(url));

      const local = this.isLocal(image);
      const key = decoderEmbeddingKey(image, local);
      const found = await this.sources.find(key, image, {
        // privacy mode: the embedding is computed in this browser (encoder worker, Cache Storage)
        local: local ? () => deps.local!.embedding(image.id) : undefined,
        decoderReady,
        isCurrent: () => gen === this.gen,
      });
      if (!found) return;
      if (found.source === 'not-ready') {
        this.waitingForEmbedding = false;
        this.retry.schedule(() => {
          if (gen === this.gen && this.img) this.update(this.img);
        });
        return;
      }
      if (found.source === 'memory') {
        // back to an image opened a moment ago: the decoder worker still holds its embedding
        deps.dataset.embeddingSource = 'memory';
        deps.dataset.embeddingBytes = String(found.bytes);
        this.imageSize = [image.height, image.width];
        this.inputSize = found.inputSize;
        await this.embeddingReady(gen, key, decoderReady);
        return;
      }
      const { buffer } = found;
      deps.dataset.embeddingSource = found.source;
      deps.dataset.embeddingBytes = String(buffer.byteLength);
      const emb = await parseEmbeddingAsync(buffer);
      assertDecoderEmbedding(emb, image);
      this.imageSize = [image.height, image.width];
      this.inputSize = emb.header.input_size;
      const expected = getPreprocessShape(image.height, image.width, model.image_size || 1024);
      if (expected[0] !== this.inputSize[0] || expected[1] !== this.inputSize[1]) {
        console.warn(`embedding input_size ${this.inputSize} differs from ResizeLongestSide ${expected}; using the header`);
      }
      await decoderReady;
      await deps.decoder.setEmbedding(key, emb.data, emb.dims);
      this.sources.keep(key, { inputSize: this.inputSize, bytes: buffer.byteLength });
      if (gen !== this.gen) return;
      await this.embeddingReady(gen, key, decoderReady);
    } catch (err) {
      this.waitingForEmbedding = false;
      this.fail(gen, `Cannot prepare ${image.filename} for segmentation: ${(err as Error).message}`);
    }
  }

  private async embeddingReady(gen: number, key: string, decoder: Promise<ChosenDecoder>): Promise<void> {
    const { url, info } = await decoder;
    if (gen !== this.gen) return;
    this.decoderUrl = url;
    this.deps.dataset.decoderThreads = String(info.numThreads);
    this.embeddingKey = key;
    this.loaded.embedding = true;
    this.maybeReady(gen);
  }

  private maybeReady(gen: number): void {
    if (gen !== this.gen || this.current === 'error') return;
    if (!this.loaded.image || !this.loaded.embedding) return;
    this.setState('ready');
    const ms = performance.now() - this.openedAt;
    this.deps.dataset.openToReadyMs = ms.toFixed(1);
    performance.measure?.('kdsam-open-to-ready', { start: this.openedAt, duration: ms });
    this.deps.clearError();
    this.deps.info(READY_TEXT);
  }
}
