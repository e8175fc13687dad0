import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ImageObject } from '../src/api-types';
import { ImageStatusFeed, imagesSocketUrl, parseStatusMessage } from '../src/socket';
import { FakeSocket } from './helpers/fake-socket';

function image(id: number, status: ImageObject['status']): ImageObject {
  return {
    id, filename: `${id}.png`, width: 4, height: 3, status, error: '', created_at: '2026-11-24T10:00:00Z',
    model_version: 1, file_url: `/api/images/${id}/file/`, embedding_url: `/api/images/${id}/embedding/`,
    sha256: '', queue_position: null, mask_count: 0, masks_url: `/api/images/${id}/masks/`,
    decoder_url: '/segmentation/decoders/1/decoder-multimask.onnx', source_format: 'png', display: {}, pixels_url: null,
  };
}

describe('image status feed', () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it('polls GET /api/images/{id}/ every second while the socket cannot connect', async () => {
    const sockets: FakeSocket[] = [];
    let status: ImageObject['status'] = 'queued';
    const fetchImage = vi.fn(async (id: number) => image(id, status));
    const feed = new ImageStatusFeed({ fetchImage, openSocket: () => (sockets.push(new FakeSocket()), sockets.at(-1)!) });
    const seen: string[] = [];
    feed.subscribe((img) => seen.push(img.status));
    feed.track(image(7, 'queued'));
    feed.start();
    sockets[0].onclose?.({} as CloseEvent); // connection refused

    await vi.advanceTimersByTimeAsync(1000);
    expect(fetchImage).toHaveBeenCalledWith(7);
    status = 'ready';
    await vi.advanceTimersByTimeAsync(1000);
    expect(seen).toContain('ready');
    expect(feed.trackedIds).toEqual([]); // terminal: no more polling
    const calls = fetchImage.mock.calls.length;
    await vi.advanceTimersByTimeAsync(3000);
    expect(fetchImage.mock.calls.length).toBe(calls);
    feed.stop();
  });

  it('stops polling while the socket is open and emits its image.status messages', async () => {
    const s = new FakeSocket();
    const fetchImage = vi.fn(async (id: number) => image(id, 'embedding'));
    const feed = new ImageStatusFeed({ fetchImage, openSocket: () => s });
    const seen: ImageObject[] = [];
    feed.subscribe((img) => seen.push(img));
    feed.track(image(3, 'queued'));
    feed.start();
    s.onopen?.({} as Event);
    await vi.advanceTimersByTimeAsync(0);
    const afterCatchUp = fetchImage.mock.calls.length; // one catch-up poll on connect
    await vi.advanceTimersByTimeAsync(5000);
    expect(fetchImage.mock.calls.length).toBe(afterCatchUp);
    s.onmessage?.({ data: JSON.stringify({ type: 'image.status', image: image(3, 'ready') }) } as MessageEvent);
    expect(seen.at(-1)?.status).toBe('ready');
    feed.stop();
    expect(s.closed).toBe(true);
  });

  it('reconnects after the socket closes', async () => {
    const sockets: FakeSocket[] = [];
    const feed = new ImageStatusFeed({
      fetchImage: async (id) => image(id, 'ready'),
      openSocket: () => (sockets.push(new FakeSocket()), sockets.at(-1)!),
    });
    feed.start();
    sockets[0].onopen?.({} as Event);
    expect(feed.isLive).toBe(true);
    sockets[0].onclose?.({} as CloseEvent);
    expect(feed.isLive).toBe(false);
    await vi.advanceTimersByTimeAsync(1000);
    expect(sockets).toHaveLength(2);
    feed.stop();
  });

  it('ignores websocket messages that are not image.status', () => {
    expect(parseStatusMessage('{"type":"other"}')).toBeNull();
    expect(parseStatusMessage('not json')).toBeNull();
    expect(parseStatusMessage(JSON.stringify({ type: 'image.status', image: image(1, 'ready') }))?.id).toBe(1);
  });

  it('builds ws:// or wss:// URLs for /ws/images/ on the page host', () => {
    expect(imagesSocketUrl({ protocol: 'http:', host: 'localhost:8000' })).toBe('ws://localhost:8000/ws/images/');
    expect(imagesSocketUrl({ protocol: 'https:', host: 'kdsam.example' })).toBe('wss://kdsam.example/ws/images/');
  });
});
