/**
 * Browser Cache Storage of embeddings, keyed by image content hash (sha256) and
 * encoder (model) version: reopening an image, even after a reload or under
 * another image id with the same content, needs no network transfer. Silently
 * a no-op where Cache Storage is unavailable (insecure origins, some private modes).
 */
import type { ImageObject } from './api-types';

export const EMBEDDING_CACHE_NAME = 'kdsam-embeddings-v1';

/** The cache key of an image's embedding: hash + model version (a URL, as Cache Storage needs). */
export function embeddingCacheKey(image: Pick<ImageObject, 'sha256' | 'model_version'>): string {
  return `/__kdsam-cache__/embeddings/v${image.model_version}/${image.sha256}.kdem`;
}

export class EmbeddingCache {
  constructor(private readonly storage: CacheStorage | null = typeof caches === 'undefined' ? null : caches) {}

  private async open(): Promise<Cache | null> {
    if (!this.storage) return null;
    try {
      return await this.storage.open(EMBEDDING_CACHE_NAME);
    } catch {
      return null;
    }
  }

  async get(image: Pick<ImageObject, 'sha256' | 'model_version'>): Promise<ArrayBuffer | null> {
    if (!image.sha256) return null;
    const cache = await this.open();
    const hit = await cache?.match(embeddingCacheKey(image)).catch(() => undefined);
    return hit ? hit.arrayBuffer() : null;
  }

  async put(image: Pick<ImageObject, 'sha256' | 'model_version'>, bytes: ArrayBuffer): Promise<void> {
    if (!image.sha256) return;
    const cache = await this.open();
    await cache
      ?.put(embeddingCacheKey(image), new Response(bytes, { headers: { 'Content-Type': 'application/x-kdsam-embedding' } }))
      .catch(() => undefined);
  }
}
