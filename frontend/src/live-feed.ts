/**
 * A websocket with a polling fallback, the base of the image status feed (socket.ts) and the job
 * feed (studio/jobs-client.ts): reconnects with exponential backoff, reports when it is live, polls
 * while it is not (and while the subclass still wants updates), and polls once on every
 * (re)connect to catch up. A subclass says what a message means (`handleMessage`), what one
 * polling round does (`poll`) and whether polling is still useful (`shouldPoll`).
 */

export const RECONNECT_MIN_MS = 1000;
export const RECONNECT_MAX_MS = 15000;

export interface SocketLike {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
  close(): void;
}

export interface LiveFeedOptions {
  openSocket: () => SocketLike;
  pollIntervalMs: number;
  onConnectionChange?: (live: boolean) => void;
}

/** ws(s)://host{path} for the current page (`path` starts with `/`). */
export function socketUrl(path: string, loc: { protocol: string; host: string } = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}${path}`;
}

/** Opens a browser WebSocket on `url`. */
export function browserSocket(url: string): () => SocketLike {
  return () => new WebSocket(url) as unknown as SocketLike;
}

export abstract class LiveFeed {
  private socket: SocketLike | null = null;
  private live = false;
  private stopped = true;
  private reconnectDelay = RECONNECT_MIN_MS;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;
  private polling = false;

  constructor(private readonly feedOptions: LiveFeedOptions) {}

  /** A websocket message's data, as received. */
  protected abstract handleMessage(data: unknown): void;

  /** One polling round (errors are treated as transient: the next tick tries again). */
  protected abstract poll(): Promise<void>;

  /** Whether polling is still useful while the socket is down. */
  protected shouldPoll(): boolean {
    return true;
  }

  get isLive(): boolean {
    return this.live;
  }

  get isStopped(): boolean {
    return this.stopped;
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

  /** Re-evaluates whether to poll (call after the watched state changed). */
  updatePolling(): void {
    const want = !this.stopped && !this.live && this.shouldPoll();
    if (want && !this.pollTimer) {
      this.pollTimer = setInterval(() => void this.pollOnce(), this.feedOptions.pollIntervalMs);
    } else if (!want && this.pollTimer) {
      clearInterval(this.pollTimer);
      this.pollTimer = null;
    }
  }

  async pollOnce(): Promise<void> {
    if (this.polling || this.stopped) return;
    this.polling = true;
    try {
      await this.poll();
    } catch {
      // transient (server restarting, network): the next tick tries again
    } finally {
      this.polling = false;
      this.updatePolling();
    }
  }

  private setLive(live: boolean): void {
    if (this.live === live) return;
    this.live = live;
    this.feedOptions.onConnectionChange?.(live);
  }

  private connect(): void {
    if (this.stopped) return;
    let s: SocketLike;
    try {
      s = this.feedOptions.openSocket();
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = s;
    s.onopen = () => {
      this.reconnectDelay = RECONNECT_MIN_MS;
      this.setLive(true);
      this.updatePolling();
      void this.pollOnce(); // catch up with changes missed while disconnected
    };
    s.onmessage = (ev) => this.handleMessage(ev.data);
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
}
