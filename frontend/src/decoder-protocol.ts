/**
 * Messages between decoder.ts (main thread) and decoder.worker.ts, plus the
 * onnxruntime-web runtime settings both sides agree on.
 */
import type { PromptFeeds } from './prompts';

/**
 * Where the build copies onnxruntime-web's .wasm and .mjs loader: dist/ort/, which
 * Django serves under /static/app/ (vite.config.ts: BASE + ORT_DIR). Absolute, so
 * it does not depend on the URL of the worker chunk.
 */
export const ORT_WASM_PATH = '/static/app/ort/';

/** WASM threads: hardwareConcurrency capped at 4 when cross-origin isolated, else 1. */
export function chooseNumThreads(crossOriginIsolated: boolean, hardwareConcurrency: number | undefined): number {
  if (!crossOriginIsolated) return 1;
  const n = Math.floor(hardwareConcurrency ?? 1);
  return Math.max(1, Math.min(4, Number.isFinite(n) ? n : 1));
}

export const DECODER_INPUTS = [
  'image_embeddings',
  'point_coords',
  'point_labels',
  'mask_input',
  'has_mask_input',
  'orig_im_size',
] as const;

/** The browser decoder (no post-processing in the graph): every input but orig_im_size. */
export const LOW_RES_DECODER_INPUTS = DECODER_INPUTS.filter((name) => name !== 'orig_im_size');

export type ToWorker =
  | { type: 'init'; requestId: number; modelUrl: string; wasmPaths: string; numThreads?: number }
  | { type: 'embedding'; requestId: number; key: string; data: Float32Array; dims: number[] }
  /** Makes a kept embedding current again (reply `found`): reopening needs no transfer or decoding. */
  | { type: 'use-embedding'; requestId: number; key: string }
  | { type: 'run'; requestId: number; key: string; feeds: PromptFeeds; modelUrl?: string };

export interface InitInfo {
  numThreads: number;
  inputNames: string[];
  outputNames: string[];
}

export interface DecodeOutput {
  /** Logits at the original image size; threshold at the model's mask_threshold (0.0). */
  masks: Float32Array;
  /** [1, 1, H, W] */
  maskDims: number[];
  iou: Float32Array;
  lowRes: Float32Array;
  lowResDims: number[];
  /** Milliseconds spent in session.run. */
  runMs: number;
  /** Milliseconds for session.run plus upsampling the masks to the original size. */
  totalMs?: number;
}

export type FromWorker =
  | { type: 'ok'; requestId: number; info?: InitInfo; found?: boolean }
  | { type: 'result'; requestId: number; output: DecodeOutput }
  | { type: 'error'; requestId: number; message: string };
