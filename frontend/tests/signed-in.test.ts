import { describe, expect, it } from 'vitest';
import { ApiRequestError, type Session } from '../src/api';
import { embeddingsCacheName, SessionCaches } from '../src/session-caches';
import { loadSession } from '../src/signed-in';
import { FakeCacheStorage } from './helpers/fake-cache-storage';

const sessionOf = (username: string, cache_key: string): Session => ({ user: { username, is_staff: false }, cache_key });

/** A browser profile where user A worked and did not sign out: A's embeddings are still cached. */
async function profileAfterUserA(): Promise<FakeCacheStorage> {
  const storage = new FakeCacheStorage();
  const cache = await storage.open(embeddingsCacheName('keyA'));
  await cache.put('/__kdsam-cache__/embeddings/v3/ab12.kdem', new Response(new Uint8Array([1, 2, 3])));
  return storage;
}

describe('loading the session', () => {
  it('a sign-in removes the caches another user left behind', async () => {
    const storage = await profileAfterUserA();
    const caches = new SessionCaches(storage.asCacheStorage());
    const session = await loadSession(async () => sessionOf('ben', 'keyB'), caches);
    expect(session.user.username).toBe('ben');
    expect(await storage.keys()).toEqual([]);
    expect(caches.embeddings).toBe(embeddingsCacheName('keyB'));
  });

  it('a session that has ended (403) leaves no cache of the app', async () => {
    const storage = await profileAfterUserA();
    const caches = new SessionCaches(storage.asCacheStorage());
    const refused = new ApiRequestError('Authentication credentials were not provided.', 403, 'not_authenticated');
    await expect(loadSession(() => Promise.reject(refused), caches)).rejects.toBe(refused);
    expect(await storage.keys()).toEqual([]);
  });

  it('a server that cannot be reached deletes nothing', async () => {
    const storage = await profileAfterUserA();
    const down = new ApiRequestError('Cannot reach the server', 0, 'network_error');
    await expect(loadSession(() => Promise.reject(down), new SessionCaches(storage.asCacheStorage()))).rejects.toBe(down);
    expect(await storage.keys()).toEqual([embeddingsCacheName('keyA')]);
  });
});
