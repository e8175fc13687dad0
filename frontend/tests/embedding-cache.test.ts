import { describe, expect, it } from 'vitest';
import { EmbeddingCache, embeddingCacheKey } from '../src/embedding-cache';
import { SessionCaches } from '../src/session-caches';
import { FakeCacheStorage } from './helpers/fake-cache-storage';

const image = { sha256: 'ab12', model_version: 3 };
const bytes = (...values: number[]) => new Uint8Array(values).buffer;

async function sessionOf(storage: FakeCacheStorage, key: string) {
  const caches = new SessionCaches(storage.asCacheStorage());
  await caches.begin(key);
  return new EmbeddingCache(caches);
}

describe('embedding cache', () => {
  it('keys an embedding by image content hash and model version', () => {
    expect(embeddingCacheKey(image)).toBe('/__kdsam-cache__/embeddings/v3/ab12.kdem');
  });

  it('finds an embedding again in the session that stored it', async () => {
    const cache = await sessionOf(new FakeCacheStorage(), 'keyA');
    await cache.put(image, bytes(1, 2, 3));
    expect(new Uint8Array((await cache.get(image))!)).toEqual(new Uint8Array([1, 2, 3]));
  });

  it('user B never reads the entries of user A, even for the same image content', async () => {
    const storage = new FakeCacheStorage();
    const a = await sessionOf(storage, 'keyA');
    const b = await sessionOf(storage, 'keyB');
    await a.put(image, bytes(1, 2, 3)); // A's tab, still open, stores after B signed in
    expect((await storage.keys()).length).toBe(1);
    expect(await b.get(image)).toBeNull();
  });

  it('stores nothing before a session is known', async () => {
    const storage = new FakeCacheStorage();
    const cache = new EmbeddingCache(new SessionCaches(storage.asCacheStorage()));
    await cache.put(image, bytes(1));
    expect(await cache.get(image)).toBeNull();
    expect(await storage.keys()).toEqual([]);
  });
});
