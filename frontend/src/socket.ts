/**
 * Live image status: the websocket /ws/images/ (one `image.status` message per
 * change), reconnecting with backoff; while the socket is not open, the images
 * still being embedded are polled with GET /api/images/{id}/ every second.
 */
import type { ImageObject } from './api-types';

export const POLL_INTERVAL_MS = 1000;
const RECONNECT_MIN_MS = 1000;
const RECONNECT_MAX_MS = 15000;

export type ImageListener = (image: ImageObject) => void;

export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(): void;
}

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
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws/images/`;
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

export class ImageStatusFeed {
  private readonly listeners = new Set<ImageListener>();
  private readonly tracked = new Set<number>();
  private readonly opts: Required<Omit<StatusFeedOptions, 'onConnectionChange'>> &
    Pick<StatusFeedOptions, 'onConnectionChange'>;
  private socket: SocketLike | null = null;
  private live = false;
  private stopped = true;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  constructor(options: StatusFeedOptions) {
    this.opts = {
      openSocket: () => new WebSocket(imagesSocketUrl()) as unknown as SocketLike,
      pollIntervalMs: POLL_INTERVAL_MS,
      ...options,
    };
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

  get isLive(): boolean {
    return this.live;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.connect();
    this.updatePolling();
  }

  stop(): void {
    this.stopped = true;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const s = this.socket;
    this.socket = null;
    if (s) {
      s.onclose = s.onerror = s.onmessage = s.onopen = null;
      s.close();
    }
    this.setLive(false);
    this.updatePolling();
  }

  private emit(image: ImageObject): void {
    if (this.tracked.has(image.id) && isTerminalStatus(image.status)) this.tracked.delete(image.id);
    for (const l of this.listeners) l(image);
    this.updatePolling();
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.opts.onConnectionChange?.(live);
  }

  private connect(): void {
    if (this.stopped) return;
    let s: SocketLike;
    try {
      s = this.opts.openSocket();
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.setLive(true);
      this.updatePolling();
      // catch up with changes missed while disconnected
      void this.pollOnce();
    };
    s.onmessage = (ev) => {
      const image = parseStatusMessage(ev.data);
      if (image) this.emit(image);
    };
    s.onerror = () => {
      // onclose follows and handles the reconnect
    };
    s.onclose = () => {
      if (this.socket !== s) return;
      this.socket = null;
      this.setLive(false);
      this.updatePolling();
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    const delay = this.reconnectDelay;
    this.reconnectDelay = Math.min(this.reconnectDelay * 2, RECONNECT_MAX_MS);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.connect();
    }, delay);
  }

  /** Polls while the socket is down and something is being embedded. */
  private updatePolling(): void {
    const shouldPoll = !this.stopped && !this.live && this.tracked.size > 0;
    if (shouldPoll && !this.pollTimer) {
      this.pollTimer = setInterval(() => void this.pollOnce(), this.opts.pollIntervalMs);
    } else if (!shouldPoll && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  /** One GET per tracked image; updates are emitted like socket messages. */
  async pollOnce(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      for (const id of [...this.tracked]) {
        try {
          this.emit(await this.opts.fetchImage(id));
        } catch (err) {
          // 404: the image is gone; anything else is transient, try again next tick
          if ((err as { status?: unknown }).status === 404) this.tracked.delete(id);
        }
      }
    } finally {
      this.polling = false;
    }
  }
}
