/**
 * Web Worker that owns the onnxruntime-web session of the KD-SAM student image
 * encoder (privacy mode: the image never leaves the browser). It preprocesses
 * RGBA pixels exactly as SAM does (preprocess.ts) and runs the encoder:
 * WebGPU when `navigator.gpu` gives an adapter (ort's WebGPU build, loaded only
 * then), otherwise WASM SIMD with threads when cross-origin isolated. A WebGPU
 * session that cannot be created falls back to WASM. Messages are handled in order.
 */
import * as ortWasm from 'onnxruntime-web/wasm';
import { chooseNumThreads } from './decoder-protocol';
import type { EncoderBackend, EncoderFromWorker, EncoderInfo, EncoderToWorker } from './encoder';
import { preprocess } from './preprocess';

type Ort = typeof ortWasm;

interface WorkerScope {
  crossOriginIsolated?: boolean;
  navigator: { hardwareConcurrency?: number; gpu?: { requestAdapter(): Promise<unknown> } };
  onmessage: ((ev: MessageEvent<EncoderToWorker>) => void) | null;
  postMessage(message: EncoderFromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

let state: { ort: Ort; session: ortWasm.InferenceSession; info: EncoderInfo; url: string; longSide: number } | null = null;

/** The encoder's square input side from the model's input shape ([1, 3, S, S]); SAM's 1024 if unknown. */
function inputLongSide(session: ortWasm.InferenceSession): number {
  const meta = (session as unknown as { inputMetadata?: ReadonlyArray<{ shape?: ReadonlyArray<number | string> }> })
    .inputMetadata;
  const side = meta?.[0]?.shape?.[3];
  return typeof side === 'number' && side > 0 ? side : 1024;
}

async function webgpuAvailable(): Promise<boolean> {
  try {
    return !!scope.navigator.gpu && !!(await scope.navigator.gpu.requestAdapter());
  } catch {
    return false;
  }
}

function progress(requestId: number, stage: string, loaded?: number, total?: number): void {
  scope.postMessage({ type: 'progress', requestId, stage, loaded, total });
}

async function download(requestId: number, url: string): Promise<Uint8Array> {
  const res = await fetch(url, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`Cannot download the encoder model ${url}: HTTP ${res.status}`);
  const total = Number(res.headers.get('Content-Length')) || undefined;
  if (!res.body) return new Uint8Array(await res.arrayBuffer());
  const reader = res.body.getReader();
  const parts: Uint8Array[] = [];
  let loaded = 0;
  let last = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    loaded += value.byteLength;
    if (loaded - last > 2 << 20) {
      last = loaded;
      progress(requestId, 'download', loaded, total);
    }
  }
  const bytes = new Uint8Array(loaded);
  let offset = 0;
  for (const p of parts) {
    bytes.set(p, offset);
    offset += p.byteLength;
  }
  progress(requestId, 'download', loaded, total ?? loaded);
  return bytes;
}

async function create(ort: Ort, bytes: Uint8Array, backend: EncoderBackend): Promise<ortWasm.InferenceSession> {
  return ort.InferenceSession.create(bytes, { executionProviders: [backend], graphOptimizationLevel: 'all' });
}

async function init(msg: Extract<EncoderToWorker, { type: 'init' }>): Promise<EncoderInfo> {
  if (state?.url === msg.modelUrl) return state.info;
  if (state) await state.session.release();
  state = null;
  const threads = msg.numThreads ?? chooseNumThreads(scope.crossOriginIsolated === true, scope.navigator.hardwareConcurrency);
  const bytes = await download(msg.requestId, msg.modelUrl);
  progress(msg.requestId, 'session');
  const t0 = performance.now();
  let ort: Ort = ortWasm;
  let backend: EncoderBackend = 'wasm';
  let session: ortWasm.InferenceSession | null = null;
  if (msg.preferWebGpu !== false && (await webgpuAvailable())) {
    try {
      ort = (await import('onnxruntime-web/webgpu')) as unknown as Ort;
      ort.env.wasm.wasmPaths = msg.wasmPaths;
      ort.env.wasm.numThreads = threads;
      session = await create(ort, bytes, 'webgpu');
      backend = 'webgpu';
    } catch (err) {
      console.warn(`WebGPU encoder unavailable (${(err as Error).message}); using WASM`);
      ort = ortWasm;
      session = null;
    }
  }
  if (!session) {
    ort.env.wasm.wasmPaths = msg.wasmPaths;
    ort.env.wasm.numThreads = threads;
    ort.env.wasm.proxy = false;
    session = await create(ort, bytes, 'wasm');
  }
  const info: EncoderInfo = {
    backend,
    numThreads: backend === 'wasm' ? (ort.env.wasm.numThreads ?? 1) : 0,
    sessionMs: performance.now() - t0,
    modelBytes: bytes.byteLength,
  };
  state = { ort, session, info, url: msg.modelUrl, longSide: inputLongSide(session) };
  return info;
}

async function embed(msg: Extract<EncoderToWorker, { type: 'embed' }>): Promise<EncoderFromWorker> {
  if (!state) throw new Error('encoder model not loaded');
  const { ort, session, longSide } = state;
  const t0 = performance.now();
  const pre = preprocess(msg.pixels, msg.width, msg.height, { longSide });
  const t1 = performance.now();
  progress(msg.requestId, 'encode');
  const input = new ort.Tensor('float32', pre.tensor, pre.dims);
  const results = await session.run({ [session.inputNames[0]]: input });
  const t2 = performance.now();
  const out = results[session.outputNames[0]];
  const data = new Float32Array(out.data as Float32Array);
  const dims = [...out.dims];
  for (const t of Object.values(results)) t.dispose();
  input.dispose();
  return {
    type: 'embedding',
    requestId: msg.requestId,
    data,
    dims,
    inputSize: pre.inputSize,
    originalSize: pre.originalSize,
    preprocessMs: t1 - t0,
    runMs: t2 - t1,
  };
}

async function handle(msg: EncoderToWorker): Promise<void> {
  try {
    if (msg.type === 'init') {
      scope.postMessage({ type: 'ready', requestId: msg.requestId, info: await init(msg) });
    } else {
      const out = await embed(msg);
      scope.postMessage(out, out.type === 'embedding' ? [out.data.buffer as ArrayBuffer] : []);
    }
  } catch (err) {
    scope.postMessage({ type: 'error', requestId: msg.requestId, message: err instanceof Error ? err.message : String(err) });
  }
}

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (ev) => {
  queue = queue.then(() => handle(ev.data));
};
