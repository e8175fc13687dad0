/**
 * Typed client for the KD-SAM Studio JSON API (docs/api.md).
 *
 * Every non-2xx answer becomes an ApiRequestError whose message is the server's
 * `error.message` (falling back to the HTTP status line when the body is not
 * the documented error JSON). Unsafe methods send X-CSRFToken from the
 * `csrftoken` cookie.
 */
import type { ApiError, ImageObject, MaskObject, ModelVersion, Session } from './api-types';
import type { Rle } from './rle';

export type { ApiError, ImageObject, MaskObject, ModelVersion, Session };
export type ImageStatus = ImageObject['status'];

/** An error answer from the API (or a network failure, status 0). */
export class ApiRequestError extends Error {
  readonly status: number;
  readonly code: string;
  readonly field: string | null;

  constructor(message: string, status: number, code: string, field: string | null = null) {
    super(message);
    this.name = 'ApiRequestError';
    this.status = status;
    this.code = code;
    this.field = field;
  }
}

export interface ApiClientOptions {
  /** Prefix for every path, '' for same origin. */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Reads document.cookie by default. */
  cookie?: () => string;
}

/** What the browser asks the embedding endpoint for: per-channel uint8 + zlib, ≈0.85 MB (docs/api.md). */
export const EMBEDDING_WIRE_ENCODING = 'quant8-zlib';

const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

/** Value of one cookie from a `document.cookie` string, or null. */
export function readCookie(cookieString: string, name: string): string | null {
  for (const part of cookieString.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      const raw = part.slice(eq + 1).trim();
      try {
        return decodeURIComponent(raw);
      } catch {
        return raw;
      }
    }
  }
  return null;
}

function isApiError(body: unknown): body is ApiError {
  if (typeof body !== 'object' || body === null) return false;
  const err = (body as { error?: unknown }).error;
  return (
    typeof err === 'object' &&
    err !== null &&
    typeof (err as { message?: unknown }).message === 'string'
  );
}

/** Turns a non-2xx response into an ApiRequestError carrying the server's message. */
export async function errorFromResponse(res: Response): Promise<ApiRequestError> {
  let body: unknown = null;
  try {
    body = await res.json();
  } catch {
    // not JSON (e.g. a proxy's HTML error page)
  }
  if (isApiError(body)) {
    const { message, code, field } = body.error;
    return new ApiRequestError(message, res.status, code || 'error', field ?? null);
  }
  const statusText = res.statusText ? ` ${res.statusText}` : '';
  return new ApiRequestError(`Request failed: HTTP ${res.status}${statusText}`, res.status, 'http_error');
}

/**
 * The transport every API client shares: same-origin fetch with the session cookie, Accept JSON,
 * X-CSRFToken on unsafe methods, network failures and non-2xx answers as ApiRequestError.
 */
export class HttpClient {
  protected readonly baseUrl: string;
  protected readonly fetchImpl: typeof fetch;
  protected readonly cookie: () => string;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? '';
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.cookie = options.cookie ?? (() => (typeof document === 'undefined' ? '' : document.cookie));
  }

  /** Absolute-or-same-origin URL for an API path or a URL the server handed out. */
  url(path: string): string {
    return /^[a-z]+:\/\//i.test(path) ? path : `${this.baseUrl}${path}`;
  }

  protected async send(path: string, init: RequestInit = {}): Promise<Response> {
    const method = (init.method ?? 'GET').toUpperCase();
    const headers = new Headers(init.headers);
    if (!headers.has('Accept')) headers.set('Accept', 'application/json');
    if (UNSAFE.has(method)) {
      const token = readCookie(this.cookie(), 'csrftoken');
      if (token) headers.set('X-CSRFToken', token);
    }
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path), {
        ...init,
        method,
        headers,
        credentials: 'same-origin',
      });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new ApiRequestError(`Cannot reach the server: ${why}`, 0, 'network_error');
    }
    if (!res.ok) throw await errorFromResponse(res);
    return res;
  }

  protected async json<T>(path: string, init?: RequestInit): Promise<T> {
    const res = await this.send(path, init);
    return (await res.json()) as T;
  }

  /** POST a JSON body (an empty object when none). */
  protected post<T>(path: string, body?: unknown): Promise<T> {
    return this.json<T>(path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(body ?? {}),
    });
  }
}

export class ApiClient extends HttpClient {
  /** GET /api/session/ (403 ApiRequestError when logged out). */
  getSession(): Promise<Session> {
    return this.json<Session>('/api/session/');
  }

  /** GET /api/models/active/ */
  getActiveModel(): Promise<ModelVersion> {
    return this.json<ModelVersion>('/api/models/active/');
  }

  /** GET /api/images/ (newest first). */
  listImages(): Promise<ImageObject[]> {
    return this.json<ImageObject[]>('/api/images/');
  }

  /** GET /api/images/{id}/ */
  getImage(id: number): Promise<ImageObject> {
    return this.json<ImageObject>(`/api/images/${id}/`);
  }

  /** POST /api/images/ as multipart with field `file`. */
  uploadImage(file: Blob, filename?: string, modelVersion?: number | null): Promise<ImageObject> {
    const form = new FormData();
    const name = filename ?? (file instanceof File ? file.name : 'upload');
    form.append('file', file, name);
    if (modelVersion != null) form.append('model_version', String(modelVersion));
    return this.json<ImageObject>('/api/images/', { method: 'POST', body: form });
  }

  /** GET the image's file_url: the uploaded bytes. */
  async fetchImageFile(image: Pick<ImageObject, 'id' | 'file_url'>): Promise<Blob> {
    const path = image.file_url || `/api/images/${image.id}/file/`;
    const res = await this.send(path, { headers: { Accept: '*/*' } });
    return res.blob();
  }

  /** GET any binary resource (e.g. an image's pixels_url) as bytes. */
  async fetchBinary(path: string): Promise<ArrayBuffer> {
    const res = await this.send(path, { headers: { Accept: '*/*' } });
    return res.arrayBuffer();
  }

  /** GET /api/images/{id}/masks/: the image's saved objects, oldest first. */
  listMasks(imageId: number): Promise<MaskObject[]> {
    return this.json<MaskObject[]>(`/api/images/${imageId}/masks/`);
  }

  /** Saves an object: creates it, or replaces mask `maskId`. */
  saveMask(imageId: number, body: MaskWrite, maskId?: number | null): Promise<MaskObject> {
    const init: RequestInit = {
      method: maskId ? 'PUT' : 'POST',
      body: JSON.stringify(body),
      headers: { 'Content-Type': 'application/json' },
    };
    return this.json<MaskObject>(maskId ? `/api/masks/${maskId}/` : `/api/images/${imageId}/masks/`, init);
  }

  async deleteMask(maskId: number): Promise<void> {
    await this.send(`/api/masks/${maskId}/`, { method: 'DELETE' });
  }

  /** GET /api/models/ (published versions); [] when the registry does not list versions yet. */
  async listModels(): Promise<ModelVersion[]> {
    try {
      return await this.json<ModelVersion[]>('/api/models/');
    } catch (err) {
      if ((err as ApiRequestError).status === 404 || (err as ApiRequestError).status === 405) return [];
      throw err;
    }
  }

  /** GET /api/models/{id}/, falling back to the active model while the registry has no such endpoint. */
  async getModel(id: number): Promise<ModelVersion> {
    try {
      return await this.json<ModelVersion>(`/api/models/${id}/`);
    } catch (err) {
      if ((err as ApiRequestError).status !== 404) throw err;
      const active = await this.getActiveModel();
      if (active.id !== id) throw err;
      return active;
    }
  }

  /**
   * GET the image's embedding_url as raw bytes (KDEM format, see embedding.ts).
   * While the embedding is queued this rejects with code `embedding_not_ready` (409).
   */
  async fetchEmbedding(image: Pick<ImageObject, 'id' | 'embedding_url'>): Promise<ArrayBuffer> {
    const base = image.embedding_url || `/api/images/${image.id}/embedding/`;
    const path = `${base}${base.includes('?') ? '&' : '?'}encoding=${EMBEDDING_WIRE_ENCODING}`;
    const res = await this.send(path, {
      headers: { Accept: 'application/x-kdsam-embedding, application/json;q=0.9, */*;q=0.8' },
    });
    return res.arrayBuffer();
  }
}

/** What the UI saves for one labelled object (POST /api/images/{id}/masks/, PUT /api/masks/{id}/). */
export interface MaskWrite {
  label: string;
  color: string;
  rle: Rle;
  prompts: { points: number[][]; box: number[] | null };
}

/**
 * The multimask decoder of a model version (the same weights as its decoder_onnx_url, all four
 * SAM mask outputs). Images carry it as `decoder_url`; this is for preloading before any image.
 */
export function browserDecoderUrl(modelVersionId: number): string {
  return `/segmentation/decoders/${modelVersionId}/decoder-multimask.onnx`;
}

/** Human-readable text for any error thrown by the client or the app. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
