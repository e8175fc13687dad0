import { describe, expect, it } from 'vitest';
import { SessionCaches, embeddingsCacheName } from '../src/session-caches';
import { FakeCacheStorage } from './helpers/fake-cache-storage';

function storageWith(...names: string[]): FakeCacheStorage {
  const storage = new FakeCacheStorage();
  for (const name of names) void storage.open(name);
  return storage;
}

describe('session caches', () => {
  it('names the embeddings cache after the session key, one name per session', async () => {
    const caches = new SessionCaches(new FakeCacheStorage().asCacheStorage());
    await caches.begin('keyA');
    expect(caches.embeddings).toBe(embeddingsCacheName('keyA'));
    expect(embeddingsCacheName('keyA')).not.toBe(embeddingsCacheName('keyB'));
  });

  it('opens no cache before a session is known', async () => {
    const storage = new FakeCacheStorage();
    const caches = new SessionCaches(storage.asCacheStorage());
    expect(caches.embeddings).toBeNull();
    expect(await caches.openEmbeddings()).toBeNull();
    expect(await storage.keys()).toEqual([]);
  });

  it('a new session deletes the app caches of other sessions and of the old naming, and no one else’s', async () => {
    const storage = storageWith('kdsam-embeddings-v1', embeddingsCacheName('keyA'), 'another-app');
    await new SessionCaches(storage.asCacheStorage()).begin('keyB');
    expect(await storage.keys()).toEqual(['another-app']);
  });

  it('the same session again (a reload) keeps its entries', async () => {
    const storage = storageWith(embeddingsCacheName('keyA'));
    await new SessionCaches(storage.asCacheStorage()).begin('keyA');
    expect(await storage.keys()).toEqual([embeddingsCacheName('keyA')]);
  });

  it('ending the session deletes every cache of the app, its own included', async () => {
    const storage = storageWith('kdsam-embeddings-v1', embeddingsCacheName('keyA'), embeddingsCacheName('keyB'), 'another-app');
    const caches = new SessionCaches(storage.asCacheStorage());
    await caches.begin('keyA');
    await caches.end();
    expect(await storage.keys()).toEqual(['another-app']);
    expect(caches.embeddings).toBeNull();
    expect(await caches.openEmbeddings()).toBeNull();
  });

  it('without Cache Storage (an insecure origin) beginning and ending do nothing', async () => {
    const caches = new SessionCaches(null);
    await caches.begin('keyA');
    expect(await caches.openEmbeddings()).toBeNull();
    await expect(caches.end()).resolves.toBeUndefined();
  });
});
