/**
 * Promise API over decoder.worker.ts.
 *
 * decode() is latest-request-wins: at most one run is in the worker and at most
 * one waits behind it. A newer request replaces the waiting one (which resolves
 * to null), and a result that finishes while a newer request waits is dropped
 * (resolves to null) too, so fast clicking never queues stale work.
 */
import {
  ORT_WASM_PATH,
  type DecodeOutput,
  type FromWorker,
  type InitInfo,
  type ToWorker,
} from './decoder-protocol';
import type { PromptFeeds } from './prompts';

export type { DecodeOutput, InitInfo };

/** What decoder.ts needs from a Worker (a fake one in tests). */
export interface WorkerLike {
  postMessage(message: ToWorker, transfer?: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: MessageEvent<FromWorker>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
}

export function createDecoderWorker(): WorkerLike {
  return new Worker(new URL('./decoder.worker.ts', import.meta.url), {
    type: 'module',
    name: 'kdsam-decoder',
  }) as unknown as WorkerLike;
}

type WithoutRequestId<T> = T extends unknown ? Omit<T, 'requestId'> : never;

interface Waiter {
  resolve(value: FromWorker): void;
  reject(err: Error): void;
}

interface DecodeJob {
  key: string;
  feeds: PromptFeeds;
  modelUrl?: string;
  resolve(value: DecodeOutput | null): void;
  reject(err: Error): void;
}

export class DecoderClosedError extends Error {
  constructor(message = 'the decoder was closed') {
    super(message);
    this.name = 'DecoderClosedError';
  }
}

export class Decoder {
  private readonly worker: WorkerLike;
  private nextId = 1;
  private readonly waiters = new Map<number, Waiter>();
  private readonly inits = new Map<string, Promise<InitInfo>>();
  private running: DecodeJob | null = null;
  private waiting: DecodeJob | null = null;
  private closed: Error | null = null;

  constructor(worker: WorkerLike = createDecoderWorker()) {
    this.worker = worker;
    worker.onmessage = (ev) => this.onMessage(ev.data);
    worker.onerror = (ev) => {
      ev.preventDefault?.();
      this.fail(new Error(`decoder worker crashed: ${ev.message || 'unknown error'}`));
    };
  }

  private onMessage(msg: FromWorker): void {
    const waiter = this.waiters.get(msg.requestId);
    if (!waiter) return;
    this.waiters.delete(msg.requestId);
    if (msg.type === 'error') waiter.reject(new Error(msg.message));
    else waiter.resolve(msg);
  }

  private fail(err: Error): void {
    this.closed = err;
    for (const w of this.waiters.values()) w.reject(err);
    this.waiters.clear();
    this.waiting?.reject(err);
    this.waiting = null;
  }

  private request(msg: WithoutRequestId<ToWorker>, transfer: Transferable[] = []): Promise<FromWorker> {
    if (this.closed) return Promise.reject(this.closed);
    const requestId = this.nextId++;
    return new Promise<FromWorker>((resolve, reject) => {
      this.waiters.set(requestId, { resolve, reject });
      this.worker.postMessage({ ...msg, requestId } as ToWorker, transfer);
    });
  }

  /** Loads a decoder ONNX once per URL; later calls with the same URL share the first load. */
  init(modelUrl: string, options: { wasmPaths?: string; numThreads?: number } = {}): Promise<InitInfo> {
    const known = this.inits.get(modelUrl);
    if (known) return known;
    const promise = this.request({
      type: 'init',
      modelUrl,
      wasmPaths: options.wasmPaths ?? ORT_WASM_PATH,
      numThreads: options.numThreads,
    }).then((msg) => {
      if (msg.type !== 'ok' || !msg.info) throw new Error('decoder worker sent no init info');
      return msg.info;
    });
    this.inits.set(modelUrl, promise);
    // a failed load may be retried
    promise.catch(() => {
      if (this.inits.get(modelUrl) === promise) this.inits.delete(modelUrl);
    });
    return promise;
  }

  /**
   * Hands an image embedding to the worker under `key`. The Float32Array's buffer
   * is transferred (it is unusable here afterwards).
   */
  async setEmbedding(key: string, data: Float32Array, dims: number[]): Promise<void> {
    await this.request({ type: 'embedding', key, data, dims }, [data.buffer as ArrayBuffer]);
  }

  /**
   * Whether the worker still keeps the embedding handed over under `key` (it keeps the last few):
   * then decode() can use it again without setEmbedding().
   */
  async useEmbedding(key: string): Promise<boolean> {
    const msg = await this.request({ type: 'use-embedding', key });
    return msg.type === 'ok' && msg.found === true;
  }

  /** Runs the decoder; null when a newer decode() superseded this one. */
  decode(key: string, feeds: PromptFeeds, modelUrl?: string): Promise<DecodeOutput | null> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise<DecodeOutput | null>((resolve, reject) => {
      this.waiting?.resolve(null);
      this.waiting = { key, feeds, modelUrl, resolve, reject };
      this.pump();
    });
  }

  /** Drops a waiting decode (e.g. when the prompt is cleared or the image changes). */
  cancelPending(): void {
    this.waiting?.resolve(null);
    this.waiting = null;
  }

  /** True while a decode is running or waiting. */
  get busy(): boolean {
    return this.running !== null || this.waiting !== null;
  }

  private pump(): void {
    if (this.running || !this.waiting) return;
    const job = this.waiting;
    this.waiting = null;
    this.running = job;
    this.request({ type: 'run', key: job.key, feeds: job.feeds, ...(job.modelUrl ? { modelUrl: job.modelUrl } : {}) }).then(
      (msg) => {
        this.running = null;
        if (this.waiting) job.resolve(null); // stale: a newer prompt is waiting
        else if (msg.type === 'result') job.resolve(msg.output);
        else job.reject(new Error('decoder worker sent no result'));
        this.pump();
      },
      (err: Error) => {
        this.running = null;
        if (this.waiting) job.resolve(null);
        else job.reject(err);
        this.pump();
      },
    );
  }

  dispose(): void {
    this.fail(new DecoderClosedError());
    this.worker.terminate();
  }
}
