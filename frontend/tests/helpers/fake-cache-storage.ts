/**
 * An in-memory CacheStorage (the browser's `caches`) for tests under Node: named caches of
 * request URL → response body and headers. Only what the app uses: open, keys, delete, has;
 * a cache's match, put, keys, delete.
 */
interface Entry {
  body: ArrayBuffer;
  headers: [string, string][];
}

function urlOf(request: RequestInfo | URL): string {
  if (typeof request === 'string') return new URL(request, 'http://studio.test').href;
  return request instanceof URL ? request.href : request.url;
}

export class FakeCache {
  readonly entries = new Map<string, Entry>();

  async match(request: RequestInfo | URL): Promise<Response | undefined> {
    const e = this.entries.get(urlOf(request));
    return e ? new Response(e.body.slice(0), { headers: e.headers }) : undefined;
  }

  async put(request: RequestInfo | URL, response: Response): Promise<void> {
    this.entries.set(urlOf(request), { body: await response.arrayBuffer(), headers: [...response.headers] });
  }

  async keys(): Promise<Request[]> {
    return [...this.entries.keys()].map((url) => new Request(url));
  }

  async delete(request: RequestInfo | URL): Promise<boolean> {
    return this.entries.delete(urlOf(request));
  }
}

export class FakeCacheStorage {
  readonly caches = new Map<string, FakeCache>();

  async open(name: string): Promise<FakeCache> {
    let cache = this.caches.get(name);
    if (!cache) this.caches.set(name, (cache = new FakeCache()));
    return cache;
  }

  async keys(): Promise<string[]> {
    return [...this.caches.keys()];
  }

  async has(name: string): Promise<boolean> {
    return this.caches.has(name);
  }

  async delete(name: string): Promise<boolean> {
    return this.caches.delete(name);
  }

  /** As the app's modules take it. */
  asCacheStorage(): CacheStorage {
    return this as unknown as CacheStorage;
  }
}
