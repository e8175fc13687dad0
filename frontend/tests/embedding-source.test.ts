import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ImageObject } from '../src/api-types';
import { EMBEDDING_RETRY_MS, EmbeddingSources, RetryTimer, decoderEmbeddingKey, type EmbeddingSourceDeps } from '../src/embedding-source';

const image = { id: 7, model_version: 3, sha256: 'abc', filename: 'a.png' } as ImageObject;
const bytes = (n: number) => new Uint8Array(n).buffer;

/** A ladder whose sources log their use; each source answers as told. */
function ladder(over: { kept?: boolean; cached?: ArrayBuffer | null; fetch?: () => Promise<ArrayBuffer> } = {}) {
  const calls: string[] = [];
  const deps: EmbeddingSourceDeps = {
    useKept: async (key) => {
      calls.push(`memory:${key}`);
      return over.kept ?? true;
    },
    cache: {
      get: async () => {
        calls.push('cache');
        return over.cached ?? null;
      },
      put: async (_image, b) => {
        calls.push(`put:${b.byteLength}`);
      },
    },
    fetch: async () => {
      calls.push('network');
      return over.fetch ? over.fetch() : bytes(8);
    },
  };
  return { sources: new EmbeddingSources(deps), calls };
}

const current = { decoderReady: Promise.resolve(), isCurrent: () => true };

describe('embedding-source ladder', () => {
  it('keys embeddings in the decoder worker by origin, image and model version', () => {
    expect(decoderEmbeddingKey(image, false)).toBe('server:7:3');
    expect(decoderEmbeddingKey(image, true)).toBe('local:7:3');
  });

  it('takes an embedding the decoder worker kept before any other source', async () => {
    const { sources, calls } = ladder();
    sources.keep('k', { inputSize: [683, 1024], bytes: 99 });
    expect(await sources.find('k', image, current)).toEqual({ source: 'memory', inputSize: [683, 1024], bytes: 99 });
    expect(calls).toEqual(['memory:k']);
  });

  it('asks the worker for a kept embedding only once the decoder is ready', async () => {
    const { sources, calls } = ladder();
    sources.keep('k', { inputSize: [1, 1], bytes: 1 });
    let ready!: () => void;
    const found = sources.find('k', image, { decoderReady: new Promise<void>((r) => (ready = r)), isCurrent: () => true });
    await Promise.resolve();
    expect(calls).toEqual([]);
    ready();
    await found;
    expect(calls).toEqual(['memory:k']);
  });

  it('forgets a kept embedding the worker dropped and goes on to Cache Storage', async () => {
    const { sources, calls } = ladder({ kept: false, cached: bytes(4) });
    sources.keep('k', { inputSize: [1, 1], bytes: 1 });
    expect(await sources.find('k', image, current)).toMatchObject({ source: 'cache' });
    expect(await sources.find('k', image, current)).toMatchObject({ source: 'cache' });
    expect(calls).toEqual(['memory:k', 'cache', 'cache']);
  });

  it('uses the browser embedding of a local image and never the cache or the network', async () => {
    const { sources, calls } = ladder();
    const local = async () => ({ buffer: bytes(5), source: 'browser' as const });
    const found = await sources.find('local:7:3', image, { ...current, local });
    expect(found).toEqual({ source: 'browser', buffer: bytes(5) });
    expect(calls).toEqual([]);
  });

  it('prefers Cache Storage to the network', async () => {
    const { sources, calls } = ladder({ cached: bytes(4) });
    expect(await sources.find('k', image, current)).toEqual({ source: 'cache', buffer: bytes(4) });
    expect(calls).toEqual(['cache']);
  });

  it('fetches from the network last and stores a copy in Cache Storage', async () => {
    const { sources, calls } = ladder();
    expect(await sources.find('k', image, current)).toEqual({ source: 'network', buffer: bytes(8) });
    expect(calls).toEqual(['cache', 'network', 'put:8']);
  });

  it('reports an embedding the server has not finished as not ready', async () => {
    const notReady = Object.assign(new Error('not yet'), { code: 'embedding_not_ready' });
    const { sources } = ladder({ fetch: () => Promise.reject(notReady) });
    expect(await sources.find('k', image, current)).toEqual({ source: 'not-ready' });
  });

  it('rethrows not ready once the viewer moved on, and any other network error', async () => {
    const notReady = Object.assign(new Error('not yet'), { code: 'embedding_not_ready' });
    await expect(ladder({ fetch: () => Promise.reject(notReady) }).sources.find('k', image, { ...current, isCurrent: () => false })).rejects.toBe(notReady);
    const broken = new Error('500');
    await expect(ladder({ fetch: () => Promise.reject(broken) }).sources.find('k', image, current)).rejects.toBe(broken);
  });

  it('ends with null when the viewer moved on to another image', async () => {
    const { sources } = ladder({ cached: bytes(4) });
    expect(await sources.find('k', image, { ...current, isCurrent: () => false })).toBeNull();
    sources.keep('k', { inputSize: [1, 1], bytes: 1 });
    expect(await sources.find('k', image, { ...current, isCurrent: () => false })).toBeNull();
  });
});

describe('embedding retry timer', () => {
  afterEach(() => vi.useRealTimers());

  it('retries once after EMBEDDING_RETRY_MS', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    new RetryTimer().schedule(fn);
    vi.advanceTimersByTime(EMBEDDING_RETRY_MS - 1);
    expect(fn).not.toHaveBeenCalled();
    vi.advanceTimersByTime(1);
    expect(fn).toHaveBeenCalledTimes(1);
  });

  it('does not retry once cancelled', () => {
    vi.useFakeTimers();
    const fn = vi.fn();
    const retry = new RetryTimer();
    retry.schedule(fn);
    retry.cancel();
    vi.advanceTimersByTime(EMBEDDING_RETRY_MS * 2);
    expect(fn).not.toHaveBeenCalled();
  });
});
