import { describe, expect, it, vi } from 'vitest';
import { ApiClient, ApiRequestError, readCookie } from '../src/api';

function jsonResponse(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

describe('api client', () => {
  it('surfaces the server error.message, code and field on a 400', async () => {
    const message =
      'photo.txt is not a PNG or JPEG image: cannot identify image file. Upload a PNG or JPEG file.';
    const fetch = vi.fn(async () => jsonResponse({ error: { code: 'invalid_image', message, field: 'file' } }, 400));
    const api = new ApiClient({ fetch, cookie: () => 'csrftoken=abc' });
    const err = await api.uploadImage(new Blob(['hello']), 'photo.txt').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect((err as ApiRequestError).message).toBe(message);
    expect((err as ApiRequestError).code).toBe('invalid_image');
    expect((err as ApiRequestError).field).toBe('file');
    expect((err as ApiRequestError).status).toBe(400);
  });

  it('sends X-CSRFToken from the csrftoken cookie on POST only', async () => {
    const fetch = vi.fn<typeof globalThis.fetch>(async () => jsonResponse({ id: 1 }, 201));
    const api = new ApiClient({ fetch, cookie: () => 'sessionid=s; csrftoken=tok%3D1; other=x' });
    await api.uploadImage(new Blob(['x'], { type: 'image/png' }), 'a.png');
    const [url, init] = fetch.mock.calls[0];
    expect(url).toBe('/api/images/');
    expect(init?.method).toBe('POST');
    expect(new Headers(init?.headers).get('X-CSRFToken')).toBe('tok=1');
    expect(init?.credentials).toBe('same-origin');
    const form = init?.body as FormData;
    expect((form.get('file') as File).name).toBe('a.png');

    await api.listImages();
    expect(new Headers(fetch.mock.calls[1][1]?.headers).has('X-CSRFToken')).toBe(false);
  });

  it('falls back to the HTTP status when the error body is not the documented JSON', async () => {
    const fetch = vi.fn(async () => new Response('<h1>Bad gateway</h1>', { status: 502, statusText: 'Bad Gateway' }));
    const err = await new ApiClient({ fetch }).getActiveModel().catch((e: unknown) => e);
    expect((err as Error).message).toBe('Request failed: HTTP 502 Bad Gateway');
  });

  it('reports a network failure as a readable error', async () => {
    const fetch = vi.fn(async () => {
      throw new TypeError('Failed to fetch');
    });
    const err = await new ApiClient({ fetch }).getSession().catch((e: unknown) => e);
    expect((err as ApiRequestError).status).toBe(0);
    expect((err as Error).message).toMatch(/Cannot reach the server: Failed to fetch/);
  });

  it('fetches the embedding as bytes and reports 409 embedding_not_ready', async () => {
    const bytes = new Uint8Array([0x4b, 0x44, 0x45, 0x4d]);
    const fetch = vi
      .fn()
      .mockResolvedValueOnce(new Response(bytes, { status: 200 }))
      .mockResolvedValueOnce(
        jsonResponse({ error: { code: 'embedding_not_ready', message: 'The embedding is still queued.' } }, 409),
      );
    const api = new ApiClient({ fetch });
    const image = { id: 7, embedding_url: '/api/images/7/embedding/' };
    expect(new Uint8Array(await api.fetchEmbedding(image))).toEqual(bytes);
    expect(fetch.mock.calls[0][0]).toBe('/api/images/7/embedding/?encoding=quant8-zlib'); // the compact wire encoding
    const err = await api.fetchEmbedding(image).catch((e: unknown) => e);
    expect((err as ApiRequestError).code).toBe('embedding_not_ready');
    expect((err as ApiRequestError).status).toBe(409);
  });

  it('reads one cookie out of a cookie string', () => {
    expect(readCookie('a=1; csrftoken=xyz; b=2', 'csrftoken')).toBe('xyz');
    expect(readCookie('a=1', 'csrftoken')).toBeNull();
    expect(readCookie('', 'csrftoken')).toBeNull();
  });
});
