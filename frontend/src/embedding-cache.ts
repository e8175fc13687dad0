/**
 * Browser Cache Storage of embeddings, keyed by image content hash (sha256) and
 * encoder (model) version: reopening an image, even after a reload or under
 * another image id with the same content, needs no network transfer. The cache
 * is the session's (session-caches.ts): another user's or an earlier session's
 * entries are never read. Silently a no-op before the session is known and where
 * Cache Storage is unavailable (insecure origins, some private modes).
 */
import type { ImageObject } from './api-types';
import { sessionCaches, type SessionCaches } from './session-caches';

/** The cache key of an image's embedding: hash + model version (a URL, as Cache Storage needs). */
export function embeddingCacheKey(image: Pick<ImageObject, 'sha256' | 'model_version'>): string {
  return `/__kdsam-cache__/embeddings/v${image.model_version}/${image.sha256}.kdem`;
}

export class EmbeddingCache {
  constructor(private readonly caches: Pick<SessionCaches, 'openEmbeddings'> = sessionCaches) {}

  async get(image: Pick<ImageObject, 'sha256' | 'model_version'>): Promise<ArrayBuffer | null> {
    if (!image.sha256) return null;
    const cache = await this.caches.openEmbeddings();
    const hit = await cache?.match(embeddingCacheKey(image)).catch(() => undefined);
    return hit ? hit.arrayBuffer() : null;
  }

  async put(image: Pick<ImageObject, 'sha256' | 'model_version'>, bytes: ArrayBuffer): Promise<void> {
    if (!image.sha256) return;
    const cache = await this.caches.openEmbeddings();
    await cache
      ?.put(embeddingCacheKey(image), new Response(bytes, { headers: { 'Content-Type': 'application/x-kdsam-embedding' } }))
      .catch(() => undefined);
  }
}
