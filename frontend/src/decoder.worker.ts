/**
 * Web Worker that owns the onnxruntime-web InferenceSession for SAM's mask
 * decoder: created once from the decoder ONNX URL, then run per prompt against
 * the current image embedding. Messages are handled one at a time, in order.
 */
import * as ort from 'onnxruntime-web/wasm';
import { upsampleMasks } from './mask-upsample';
import {
  DECODER_INPUTS,
  LOW_RES_DECODER_INPUTS,
  chooseNumThreads,
  type DecodeOutput,
  type FromWorker,
  type InitInfo,
  type ToWorker,
} from './decoder-protocol';

interface WorkerScope {
  crossOriginIsolated?: boolean;
  navigator: { hardwareConcurrency?: number };
  onmessage: ((ev: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

/** One session per decoder URL (an image's embedding belongs to one model version's decoder). */
const sessions = new Map<string, { session: ort.InferenceSession; info: InitInfo }>();
let current: string | null = null;
/**
 * The image embeddings handed over most recently, by key, oldest first (4 MB each): going back to
 * one of them (use-embedding) needs neither Cache Storage, decoding nor a transfer.
 */
const EMBEDDINGS_KEPT = 4;
const embeddings = new Map<string, ort.Tensor>();

function keepEmbedding(key: string, tensor: ort.Tensor): void {
  const previous = embeddings.get(key);
  if (previous && previous !== tensor) previous.dispose();
  embeddings.delete(key);
  embeddings.set(key, tensor); // most recent last
  while (embeddings.size > EMBEDDINGS_KEPT) {
    const [oldest, t] = embeddings.entries().next().value as [string, ort.Tensor];
    embeddings.delete(oldest);
    t.dispose();
  }
}

async function init(modelUrl: string, wasmPaths: string, numThreads?: number): Promise<InitInfo> {
  const known = sessions.get(modelUrl);
  if (known) {
    current = modelUrl;
    return known.info;
  }
  if (sessions.size === 0) {
    ort.env.wasm.wasmPaths = wasmPaths;
    ort.env.wasm.numThreads =
      numThreads ?? chooseNumThreads(scope.crossOriginIsolated === true, scope.navigator.hardwareConcurrency);
    ort.env.wasm.proxy = false;
  }

  const res = await fetch(modelUrl, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`Cannot download the decoder model ${modelUrl}: HTTP ${res.status}`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  const created = await ort.InferenceSession.create(bytes, {
    executionProviders: ['wasm'],
    graphOptimizationLevel: 'all',
  });
  // the browser decoder stops at the low-res logits (no orig_im_size input, no masks output)
  const lowResOnly = !created.outputNames.includes('masks');
  const required: readonly string[] = lowResOnly ? LOW_RES_DECODER_INPUTS : DECODER_INPUTS;
  const missing = required.filter((name) => !created.inputNames.includes(name));
  if (missing.length) {
    await created.release();
    throw new Error(`The decoder model lacks the inputs ${missing.join(', ')} (has ${created.inputNames.join(', ')})`);
  }
  const info: InitInfo = {
    numThreads: ort.env.wasm.numThreads ?? 1,
    inputNames: [...created.inputNames],
    outputNames: [...created.outputNames],
  };
  await warmUp(created);
  sessions.set(modelUrl, { session: created, info });
  current = modelUrl;
  return info;
}

/**
 * Runs on zeros right after loading, off the user's path: onnxruntime-web's first run of a session
 * allocates and plans (several times a normal run), and the next few still run V8's baseline WASM
 * code (about 2x slower) until the hot kernels are tiered up. WARM_UP_RUNS covers both, so the
 * first clicks cost what later ones do.
 */
const WARM_UP_RUNS = 4;

async function warmUp(session: ort.InferenceSession): Promise<void> {
  const feeds: Record<string, ort.Tensor> = {
    image_embeddings: new ort.Tensor('float32', new Float32Array(256 * 64 * 64), [1, 256, 64, 64]),
    point_coords: new ort.Tensor('float32', new Float32Array([512, 512, 0, 0]), [1, 2, 2]),
    point_labels: new ort.Tensor('float32', new Float32Array([1, -1]), [1, 2]),
    mask_input: new ort.Tensor('float32', new Float32Array(256 * 256), [1, 1, 256, 256]),
    has_mask_input: new ort.Tensor('float32', new Float32Array([0]), [1]),
    orig_im_size: new ort.Tensor('float32', new Float32Array([1024, 1024]), [2]),
  };
  try {
    const inputs = Object.fromEntries(Object.entries(feeds).filter(([name]) => session.inputNames.includes(name)));
    for (let i = 0; i < WARM_UP_RUNS; i++) {
      const results = await session.run(inputs);
      for (const t of Object.values(results)) t.dispose();
    }
  } catch (err) {
    // a model with another embedding size: no warm-up, the first click pays for it
    console.warn(`decoder warm-up skipped: ${err instanceof Error ? err.message : String(err)}`);
  }
}

function ownBuffer(a: Float32Array): Float32Array {
  // a fresh, whole ArrayBuffer can be transferred; anything else is copied first
  const whole = a.buffer instanceof ArrayBuffer && a.byteOffset === 0 && a.byteLength === a.buffer.byteLength;
  return whole ? a : new Float32Array(a);
}

function output(results: ort.InferenceSession.ReturnType, name: string, index: number, names: readonly string[]): ort.Tensor {
  const t = results[name] ?? results[names[index]];
  if (!t) throw new Error(`decoder output "${name}" missing`);
  return t;
}

async function run(key: string, feeds: Extract<ToWorker, { type: 'run' }>['feeds'], modelUrl?: string): Promise<DecodeOutput> {
  const url = modelUrl ?? current;
  const session = url ? sessions.get(url)?.session : undefined;
  if (!session) throw new Error('decoder model not loaded');
  const tensor = embeddings.get(key);
  if (!tensor) throw new Error('image embedding not loaded in the decoder');
  const inputs: Record<string, ort.Tensor> = { image_embeddings: tensor };
  for (const [name, t] of Object.entries(feeds)) {
    if (session.inputNames.includes(name)) inputs[name] = new ort.Tensor('float32', t.data, t.dims);
  }
  const t0 = performance.now();
  const results = await session.run(inputs);
  const runMs = performance.now() - t0;
  const names = session.outputNames;
  const lowResOnly = !names.includes('masks');
  const iou = lowResOnly ? output(results, 'iou_predictions', 0, names) : output(results, 'iou_predictions', 1, names);
  const lowRes = lowResOnly ? output(results, 'low_res_masks', 1, names) : output(results, 'low_res_masks', 2, names);
  let masks: Float32Array;
  let maskDims: number[];
  if (lowResOnly) {
    // SAM's post-processing to the original size, done here for every candidate (a few ms)
    const [origH, origW] = [Math.round(feeds.orig_im_size.data[0]), Math.round(feeds.orig_im_size.data[1])];
    const [, count, lowH, lowW] = lowRes.dims;
    masks = upsampleMasks(lowRes.data as Float32Array, count, lowH, lowW, origH, origW);
    maskDims = [1, count, origH, origW];
  } else {
    const m = output(results, 'masks', 0, names);
    masks = ownBuffer(m.data as Float32Array);
    maskDims = [...m.dims];
  }
  const out: DecodeOutput = {
    masks,
    maskDims,
    iou: ownBuffer(iou.data as Float32Array),
    lowRes: ownBuffer(lowRes.data as Float32Array),
    lowResDims: [...lowRes.dims],
    runMs,
    totalMs: performance.now() - t0,
  };
  for (const t of Object.values(results)) t.dispose();
  return out;
}

async function handle(msg: ToWorker): Promise<void> {
  try {
    switch (msg.type) {
      case 'init': {
        const i = await init(msg.modelUrl, msg.wasmPaths, msg.numThreads);
        scope.postMessage({ type: 'ok', requestId: msg.requestId, info: i });
        break;
      }
      case 'embedding': {
        keepEmbedding(msg.key, new ort.Tensor('float32', msg.data, msg.dims));
        scope.postMessage({ type: 'ok', requestId: msg.requestId });
        break;
      }
      case 'use-embedding': {
        const kept = embeddings.get(msg.key);
        if (kept) keepEmbedding(msg.key, kept);
        scope.postMessage({ type: 'ok', requestId: msg.requestId, found: kept !== undefined });
        break;
      }
      case 'run': {
        const out = await run(msg.key, msg.feeds, msg.modelUrl);
        scope.postMessage({ type: 'result', requestId: msg.requestId, output: out }, [
          out.masks.buffer,
          out.iou.buffer,
          out.lowRes.buffer,
        ] as Transferable[]);
        break;
      }
    }
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    scope.postMessage({ type: 'error', requestId: msg.requestId, message });
  }
}

let queue: Promise<void> = Promise.resolve();
scope.onmessage = (ev) => {
  queue = queue.then(() => handle(ev.data));
};
