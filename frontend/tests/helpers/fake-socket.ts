import type { SocketLike } from '../../src/live-feed';

/** A websocket the test drives by calling its handlers. */
export class FakeSocket implements SocketLike {
  onopen: ((ev: Event) => void) | null = null;
  onclose: ((ev: CloseEvent) => void) | null = null;
  onerror: ((ev: Event) => void) | null = null;
  onmessage: ((ev: MessageEvent) => void) | null = null;
  closed = false;
  close(): void {
    this.closed = true;
  }
}
