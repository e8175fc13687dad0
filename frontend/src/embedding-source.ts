/**
 * The embedding-source ladder: where an image's embedding comes from, tried in this order —
 * the decoder worker's memory (an image opened a moment ago: it keeps the last few), the browser
 * itself (privacy mode: embedded here), the browser's Cache Storage, the network. An embedding
 * the server has not finished yet is reported as not ready, for a retry after EMBEDDING_RETRY_MS.
 */
import type { ImageObject } from './api-types';
import type { HW } from './transforms';

export const EMBEDDING_RETRY_MS = 1000;

/** Header facts of an embedding handed to the decoder worker. */
export interface KeptEmbedding {
  inputSize: HW;
  bytes: number;
}

/** Where the embedding was found (data-embedding-source) and what came with it. */
export type EmbeddingFound =
  | ({ source: 'memory' } & KeptEmbedding)
  | { source: 'browser' | 'cache' | 'network'; buffer: ArrayBuffer }
  | { source: 'not-ready' };

type CacheImage = Pick<ImageObject, 'sha256' | 'model_version'>;

export interface EmbeddingSourceDeps {
  /** Makes an embedding the decoder worker kept the current one; false when it no longer has it. */
  useKept(key: string): Promise<boolean>;
  /** Cache Storage of embeddings (embedding-cache.ts). */
  cache: { get(image: CacheImage): Promise<ArrayBuffer | null>; put(image: CacheImage, bytes: ArrayBuffer): Promise<void> };
  /** The server's embedding; rejects with code 'embedding_not_ready' while it is computed. */
  fetch(image: ImageObject): Promise<ArrayBuffer>;
}

export interface FindOptions {
  /** Privacy mode: the browser's own embedding of a local image (absent for a server image). */
  local?: () => Promise<{ buffer: ArrayBuffer; source: 'cache' | 'browser' }>;
  /** Settles before the worker is asked for a kept embedding (the decoder session loading). */
  decoderReady: Promise<unknown>;
  /** False once the viewer moved on to another image: the search then ends with null. */
  isCurrent(): boolean;
}

/** The key of an image's embedding in the decoder worker. */
export function decoderEmbeddingKey(image: Pick<ImageObject, 'id' | 'model_version'>, local: boolean): string {
  return `${local ? 'local' : 'server'}:${image.id}:${image.model_version}`;
}

export class EmbeddingSources {
  /** Embeddings handed to the decoder worker (it keeps the last few): their header facts, by key. */
  private readonly kept = new Map<string, KeptEmbedding>();

  constructor(private readonly deps: EmbeddingSourceDeps) {}

  /** Records that the decoder worker now holds the embedding `key`. */
  keep(key: string, facts: KeptEmbedding): void {
    this.kept.set(key, facts);
  }

  /** Walks the ladder; null when the viewer moved on meanwhile. Rejects when a source fails. */
  async find(key: string, image: ImageObject, opts: FindOptions): Promise<EmbeddingFound | null> {
    const kept = this.kept.get(key);
    if (kept) {
      await opts.decoderReady;
      if (!opts.isCurrent()) return null;
      if (await this.deps.useKept(key)) {
        if (!opts.isCurrent()) return null;
        return { source: 'memory', ...kept };
      }
      this.kept.delete(key);
    }
    let buffer: ArrayBuffer;
    let source: 'cache' | 'network' | 'browser' = 'cache'; // 'browser': privacy mode, embedded here
    const local = opts.local ? await opts.local() : null;
    const cached = local ? null : await this.deps.cache.get(image);
    if (local) {
      buffer = local.buffer;
      source = local.source;
    } else if (cached) {
      buffer = cached;
    } else {
      source = 'network';
      try {
        buffer = await this.deps.fetch(image);
      } catch (err) {
        if ((err as { code?: string }).code === 'embedding_not_ready' && opts.isCurrent()) return { source: 'not-ready' };
        throw err;
      }
      void this.deps.cache.put(image, buffer.slice(0));
    }
    if (!opts.isCurrent()) return null;
    return { source, buffer };
  }
}

/** The retry of an embedding that was not ready: runs `fn` once after `ms`, unless cancelled. */
export class RetryTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(private readonly ms = EMBEDDING_RETRY_MS) {}

  schedule(fn: () => void): void {
    this.timer = setTimeout(fn, this.ms);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
