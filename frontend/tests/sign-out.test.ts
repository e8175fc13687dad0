import { describe, expect, it } from 'vitest';
import { ApiRequestError } from '../src/api';
import { embeddingsCacheName, SessionCaches } from '../src/session-caches';
import { AccountsApi, LOGIN_URL, signOut } from '../src/sign-out';
import { FakeCacheStorage } from './helpers/fake-cache-storage';

/** User A's session with one cached embedding. */
async function signedInAsA() {
  const storage = new FakeCacheStorage();
  const caches = new SessionCaches(storage.asCacheStorage());
  await caches.begin('keyA');
  const cache = (await caches.openEmbeddings())!;
  await cache.put('/__kdsam-cache__/embeddings/v3/ab12.kdem', new Response(new Uint8Array([1, 2, 3])));
  return { storage, caches };
}

describe('signing out', () => {
  it('deletes the user’s caches before the session ends, then opens the sign-in page', async () => {
    const { storage, caches } = await signedInAsA();
    const steps: string[] = [];
    await signOut({
      caches,
      logout: async () => void steps.push(`logout, caches left: ${(await storage.keys()).length}`),
      navigate: (url) => void steps.push(`navigate ${url}`),
    });
    expect(steps).toEqual(['logout, caches left: 0', `navigate ${LOGIN_URL}`]);
    expect(await storage.has(embeddingsCacheName('keyA'))).toBe(false);
  });

  it('a refused sign-out stays on the page and rejects with the reason', async () => {
    const { caches } = await signedInAsA();
    const navigated: string[] = [];
    const refused = new ApiRequestError('CSRF verification failed.', 403, 'http_error');
    await expect(signOut({ caches, logout: () => Promise.reject(refused), navigate: (u) => void navigated.push(u) })).rejects.toBe(refused);
    expect(navigated).toEqual([]);
  });

  it('signs out even when the caches cannot be deleted', async () => {
    const steps: string[] = [];
    await signOut({
      caches: { end: () => Promise.reject(new Error('storage broken')) },
      logout: async () => void steps.push('logout'),
      navigate: () => void steps.push('navigate'),
    });
    expect(steps).toEqual(['logout', 'navigate']);
  });

  it('posts to the sign-out URL with the CSRF token', async () => {
    const calls: { url: string; init: RequestInit }[] = [];
    const api = new AccountsApi({
      cookie: () => 'csrftoken=tok123',
      fetch: async (url, init) => {
        calls.push({ url: String(url), init: init ?? {} });
        return new Response('<html>sign in</html>', { status: 200 });
      },
    });
    await api.logout();
    expect(calls.length).toBe(1);
    expect(calls[0].url).toBe('/accounts/logout/');
    expect(calls[0].init.method).toBe('POST');
    expect(new Headers(calls[0].init.headers).get('X-CSRFToken')).toBe('tok123');
  });
});
