/**
 * Live image status: the websocket /ws/images/ (one `image.status` message per
 * change), reconnecting with backoff; while the socket is not open, the images
 * still being embedded are polled with GET /api/images/{id}/ every second.
 */
import type { ImageObject } from './api-types';

import { LiveFeed, browserSocket, socketUrl, type SocketLike } from './live-feed';

export type { SocketLike };
export const POLL_INTERVAL_MS = 1000;

export type ImageListener = (image: ImageObject) => void;

export interface StatusFeedOptions {
  /** GET /api/images/{id}/ */
  fetchImage: (id: number) => Promise<ImageObject>;
  /** Defaults to a WebSocket on this page's host. */
  openSocket?: () => SocketLike;
  pollIntervalMs?: number;
  /** Connection state changes, for the UI. */
  onConnectionChange?: (live: boolean) => void;
}

export function isTerminalStatus(status: ImageObject['status']): boolean {
  return status === 'ready' || status === 'failed';
}

/** ws(s)://host/ws/images/ for the current page. */
export function imagesSocketUrl(loc: { protocol: string; host: string } = location): string {
  return socketUrl('/ws/images/', loc);
}

/** Parses one websocket message; null when it is not an image.status message. */
export function parseStatusMessage(data: unknown): ImageObject | null {
  if (typeof data !== 'string') return null;
  try {
    const msg = JSON.parse(data) as { type?: unknown; image?: unknown };
    if (msg.type !== 'image.status' || typeof msg.image !== 'object' || msg.image === null) return null;
    const image = msg.image as ImageObject;
    return typeof image.id === 'number' ? image : null;
  } catch {
    return null;
  }
}

export class ImageStatusFeed extends LiveFeed {
  private readonly listeners = new Set<ImageListener>();
  private readonly tracked = new Set<number>();
  private readonly fetchImage: (id: number) => Promise<ImageObject>;

  constructor(options: StatusFeedOptions) {
    super({
      openSocket: options.openSocket ?? (() => browserSocket(imagesSocketUrl())()),
      pollIntervalMs: options.pollIntervalMs ?? POLL_INTERVAL_MS,
      onConnectionChange: options.onConnectionChange,
    });
    this.fetchImage = options.fetchImage;
  }

  /** Calls `listener` for every status update; returns an unsubscribe function. */
  subscribe(listener: ImageListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Watches an image until it is ready or failed (polled while the socket is down). */
  track(image: Pick<ImageObject, 'id' | 'status'>): void {
    if (isTerminalStatus(image.status)) this.tracked.delete(image.id);
    else this.tracked.add(image.id);
    this.updatePolling();
  }

  get trackedIds(): number[] {
    return [...this.tracked];
  }

  protected override handleMessage(data: unknown): void {
    const image = parseStatusMessage(data);
    if (image) this.emit(image);
  }

  /** Polls while the socket is down and something is being embedded. */
  protected override shouldPoll(): boolean {
    return this.tracked.size > 0;
  }

  /** One GET per tracked image; updates are emitted like socket messages. */
  protected override async poll(): Promise<void> {
    for (const id of [...this.tracked]) {
      try {
        this.emit(await this.fetchImage(id));
      } catch (err) {
        // 404: the image is gone; anything else is transient, try again next tick
        if ((err as { status?: unknown }).status === 404) this.tracked.delete(id);
      }
    }
  }

  private emit(image: ImageObject): void {
    if (this.tracked.has(image.id) && isTerminalStatus(image.status)) this.tracked.delete(image.id);
    for (const l of this.listeners) l(image);
    this.updatePolling();
  }
}
