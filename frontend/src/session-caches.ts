/**
 * The app's Cache Storage, one set of caches per session. Every cache that holds patient data
 * (embeddings of server images and of privacy-mode images) is named after the session's
 * `cache_key` (GET /api/session/: random, kept in the server session, new at every sign-in), so the
 * app of one session never reads another's entries, whichever user it was. When a session begins,
 * the app's caches of every other session (another user's, an expired session's, the old
 * `kdsam-embeddings-v1`) are deleted; signing out, or finding the session over, deletes them all.
 * Nothing is cached before a session is known. The server's `Clear-Site-Data` on sign-out is a
 * second line only: not every browser honours it on every origin.
 *
 * Keyed by session rather than by user id: cached patient data then lives no longer than the
 * session (a closed browser or `KDSAM_SESSION_HOURS`), the same user signing in again starts
 * afresh, and a name left on a shared workstation says nothing about who worked there.
 */

/** Every cache this app names starts so; caches of other apps on the origin are left alone. */
export const APP_CACHE_PREFIX = 'kdsam-';

/** The Cache Storage name of a session's embeddings. */
export function embeddingsCacheName(cacheKey: string): string {
  return `${APP_CACHE_PREFIX}embeddings-v2-${cacheKey}`;
}

/** The browser's Cache Storage, or null where there is none (insecure origins, some private modes). */
export function browserCacheStorage(): CacheStorage | null {
  try {
    return typeof caches === 'undefined' ? null : caches;
  } catch {
    return null;
  }
}

export class SessionCaches {
  private name: string | null = null;

  constructor(private readonly storage: CacheStorage | null = browserCacheStorage()) {}

  /** The name of this session's embeddings cache; null until a session is known. */
  get embeddings(): string | null {
    return this.name;
  }

  /** This session's embeddings cache; null before a session is known or without Cache Storage. */
  async openEmbeddings(): Promise<Cache | null> {
    if (!this.storage || !this.name) return null;
    try {
      return await this.storage.open(this.name);
    } catch {
      return null;
    }
  }

  /** A session is known: its caches are named after `cacheKey`; the app's other caches are deleted. */
  async begin(cacheKey: string): Promise<void> {
    const name = embeddingsCacheName(cacheKey);
    this.name = name;
    await this.deleteAppCaches((other) => other !== name);
  }

  /** The session ends (sign-out) or is over: every cache of the app is deleted. */
  async end(): Promise<void> {
    this.name = null;
    await this.deleteAppCaches(() => true);
  }

  private async deleteAppCaches(which: (name: string) => boolean): Promise<void> {
    const storage = this.storage;
    if (!storage) return;
    const names = (await storage.keys()).filter((name) => name.startsWith(APP_CACHE_PREFIX) && which(name));
    await Promise.all(names.map((name) => storage.delete(name)));
  }
}

/** The page's session caches (one session per page): session loading, sign-out and the caches use it. */
export const sessionCaches = new SessionCaches();
