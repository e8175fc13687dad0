/**
 * Promise API over encoder.worker.ts: the KD-SAM student encoder in the browser
 * (privacy mode). `init` downloads the encoder ONNX once per URL and creates the
 * session (WebGPU or WASM); `embed` preprocesses RGBA pixels like SAM and returns
 * the [1, 256, 64, 64] embedding. Progress messages ('download', 'session',
 * 'encode') go to the optional callback.
 */
import { ORT_WASM_PATH } from './decoder-protocol';

export type EncoderBackend = 'wasm' | 'webgpu';

export interface EncoderInfo {
  backend: EncoderBackend;
  /** WASM threads (0 on WebGPU). */
  numThreads: number;
  /** Milliseconds to create the session (after the download). */
  sessionMs: number;
  modelBytes: number;
}

export interface EncodedImage {
  data: Float32Array;
  dims: number[];
  /** [height, width] after the longest-side resize to 1024. */
  inputSize: [number, number];
  originalSize: [number, number];
  preprocessMs: number;
  runMs: number;
}

export type EncoderToWorker =
  | { type: 'init'; requestId: number; modelUrl: string; wasmPaths: string; numThreads?: number; preferWebGpu?: boolean }
  | { type: 'embed'; requestId: number; pixels: Uint8ClampedArray; width: number; height: number };

export type EncoderFromWorker =
  | { type: 'ready'; requestId: number; info: EncoderInfo }
  | { type: 'progress'; requestId: number; stage: string; loaded?: number; total?: number }
  | ({ type: 'embedding'; requestId: number } & EncodedImage)
  | { type: 'error'; requestId: number; message: string };

export interface EncoderProgress {
  stage: string;
  loaded?: number;
  total?: number;
}

interface WorkerLike {
  postMessage(message: EncoderToWorker, transfer?: Transferable[]): void;
  terminate(): void;
  onmessage: ((ev: MessageEvent<EncoderFromWorker>) => void) | null;
  onerror: ((ev: ErrorEvent) => void) | null;
}

type WithoutRequestId<T> = T extends unknown ? Omit<T, 'requestId'> : never;

export function createEncoderWorker(): WorkerLike {
  return new Worker(new URL('./encoder.worker.ts', import.meta.url), { type: 'module', name: 'kdsam-encoder' }) as unknown as WorkerLike;
}

export class BrowserEncoder {
  private worker: WorkerLike | null = null;
  private nextId = 1;
  private readonly waiters = new Map<number, { resolve(m: EncoderFromWorker): void; reject(e: Error): void }>();
  private inits = new Map<string, Promise<EncoderInfo>>();
  onProgress: ((p: EncoderProgress) => void) | null = null;

  constructor(private readonly factory: () => WorkerLike = createEncoderWorker) {}

  private get w(): WorkerLike {
    if (!this.worker) {
      // created lazily: server mode never starts the encoder worker
      const worker = this.factory();
      worker.onmessage = (ev) => {
        const msg = ev.data;
        if (msg.type === 'progress') {
          this.onProgress?.(msg);
          return;
        }
        const waiter = this.waiters.get(msg.requestId);
        if (!waiter) return;
        this.waiters.delete(msg.requestId);
        if (msg.type === 'error') waiter.reject(new Error(msg.message));
        else waiter.resolve(msg);
      };
      worker.onerror = (ev) => {
        ev.preventDefault?.();
        const err = new Error(`encoder worker crashed: ${ev.message || 'unknown error'}`);
        for (const waiter of this.waiters.values()) waiter.reject(err);
        this.waiters.clear();
        this.inits.clear();
        this.worker?.terminate();
        this.worker = null;
      };
      this.worker = worker;
    }
    return this.worker;
  }

  private request(msg: WithoutRequestId<EncoderToWorker>, transfer: Transferable[] = []): Promise<EncoderFromWorker> {
    const requestId = this.nextId++;
    return new Promise((resolve, reject) => {
      this.waiters.set(requestId, { resolve, reject });
      this.w.postMessage({ ...msg, requestId } as EncoderToWorker, transfer);
    });
  }

  init(modelUrl: string, options: { numThreads?: number; preferWebGpu?: boolean; wasmPaths?: string } = {}): Promise<EncoderInfo> {
    const known = this.inits.get(modelUrl);
    if (known) return known;
    const p = this.request({ type: 'init', modelUrl, wasmPaths: options.wasmPaths ?? ORT_WASM_PATH, numThreads: options.numThreads, preferWebGpu: options.preferWebGpu }).then((m) => {
      if (m.type !== 'ready') throw new Error('encoder worker sent no init info');
      return m.info;
    });
    this.inits.clear();
    this.inits.set(modelUrl, p);
    p.catch(() => this.inits.delete(modelUrl));
    return p;
  }

  /** Embeds RGBA pixels (an ImageData's data); the pixel buffer is transferred. */
  async embed(pixels: Uint8ClampedArray, width: number, height: number): Promise<EncodedImage> {
    const m = await this.request({ type: 'embed', pixels, width, height }, [pixels.buffer as ArrayBuffer]);
    if (m.type !== 'embedding') throw new Error('encoder worker sent no embedding');
    const { data, dims, inputSize, originalSize, preprocessMs, runMs } = m;
    return { data, dims, inputSize, originalSize, preprocessMs, runMs };
  }

  dispose(): void {
    this.worker?.terminate();
    this.worker = null;
  }
}
