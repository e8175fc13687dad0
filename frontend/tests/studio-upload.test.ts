import { describe, expect, it, vi } from 'vitest';
import { DatasetsApi } from '../src/studio/datasets-api';
import { uploadArchive } from '../src/studio/upload';

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
}

function session(received: number, size: number, state = 'uploading') {
  return { id: 4, upload_url: '/api/datasets/uploads/4/upload/', upload_received: received, upload_size: size, state };
}

/** A fake server that keeps the received bytes; `failAt` answers one PUT with a 409 or a network error. */
function fakeServer(size: number, failAt?: { call: number; kind: 'conflict' | 'network' }) {
  const received: number[] = [];
  let puts = 0;
  const fetch = vi.fn(async (url: RequestInfo | URL, init?: RequestInit) => {
    const u = String(url);
    if (u === '/api/datasets/uploads/' && init?.method === 'POST') {
      expect(JSON.parse(String(init.body))).toMatchObject({ team: 2, name: 'polyps', filename: 'polyps.zip', size });
      return json(session(0, size), 201);
    }
    if (u.startsWith('/api/datasets/uploads/4/upload/?offset=')) {
      puts += 1;
      const offset = Number(u.split('=')[1]);
      expect(new Headers(init?.headers).get('X-CSRFToken')).toBe('t');
      if (failAt?.call === puts && failAt.kind === 'network') throw new TypeError('connection reset');
      if (failAt?.call === puts || offset !== received.length) {
        return json({ error: { code: 'wrong_offset', message: `resume from ${received.length}` } }, 409);
      }
      const bytes = new Uint8Array(await (init?.body as Blob).arrayBuffer());
      received.push(...bytes);
      const done = received.length === size;
      return json(session(received.length, size, done ? 'validating' : 'uploading'));
    }
    if (u === '/api/datasets/uploads/4/status/') return json(session(received.length, size));
    throw new Error(`unexpected ${u}`);
  });
  return { fetch, received };
}

const content = new Uint8Array(25).map((_, i) => i);
const blob = new Blob([content]);

describe('chunked dataset upload (an upload session, not yet a dataset)', () => {
  it('sends the archive in order, in chunks, reporting the bytes the server has', async () => {
    const server = fakeServer(25);
    const api = new DatasetsApi({ fetch: server.fetch as typeof fetch, cookie: () => 'csrftoken=t' });
    const progress: number[] = [];
    const result = await uploadArchive(api, blob, 'polyps.zip', { team: 2, name: 'polyps' }, {
      chunkBytes: 10,
      onProgress: (sent) => progress.push(sent),
    });
    expect(result.state).toBe('validating');
    expect(server.received).toEqual([...content]);
    expect(progress).toEqual([0, 10, 20, 25]);
  });

  it('resumes from the server offset after a conflict', async () => {
    const server = fakeServer(25, { call: 2, kind: 'conflict' });
    const api = new DatasetsApi({ fetch: server.fetch as typeof fetch, cookie: () => 'csrftoken=t' });
    await uploadArchive(api, blob, 'polyps.zip', { team: 2, name: 'polyps' }, { chunkBytes: 10 });
    expect(server.received).toEqual([...content]);
  });

  it('retries after a network error', async () => {
    const server = fakeServer(25, { call: 1, kind: 'network' });
    const api = new DatasetsApi({ fetch: server.fetch as typeof fetch, cookie: () => 'csrftoken=t' });
    await uploadArchive(api, blob, 'polyps.zip', { team: 2, name: 'polyps' }, { chunkBytes: 10, retryDelayMs: 0 });
    expect(server.received).toEqual([...content]);
  });

  it('surfaces the server message when the upload is refused', async () => {
    const message = 'big.zip is 80.0 GiB; archives may be at most 50.0 GiB.';
    const fetch = vi.fn(async () => json({ error: { code: 'archive_too_large', message, field: 'size' } }, 400));
    const api = new DatasetsApi({ fetch: fetch as typeof globalThis.fetch });
    await expect(uploadArchive(api, blob, 'big.zip', { team: 2, name: 'big' })).rejects.toMatchObject({ message, code: 'archive_too_large' });
  });
});
