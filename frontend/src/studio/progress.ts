/** What the upload pages show while an upload session is processed, and polling until it settles. */
import type { DatasetUpload, UploadState } from './datasets-api';

export const POLL_INTERVAL_MS = 700;

const SETTLED: UploadState[] = ['awaiting_confirmation', 'imported', 'failed', 'cancelled'];

export function isSettled(state: UploadState | 'ready'): boolean {
  return state === 'ready' || SETTLED.includes(state);
}

/** 0..1, or null when the current stage has no known total (indeterminate bar). */
export function stageFraction(dataset: Pick<DatasetUpload, 'progress' | 'upload_size' | 'upload_received'> & { state: UploadState | 'ready' }): number | null {
  if (dataset.state === 'uploading') {
    return dataset.upload_size > 0 ? dataset.upload_received / dataset.upload_size : null;
  }
  if (isSettled(dataset.state)) return 1;
  const { done, total } = dataset.progress;
  return total > 0 ? Math.min(1, done / total) : null;
}

const STATE_TEXT: Record<UploadState | 'ready', string> = {
  uploading: 'Uploading',
  validating: 'Validating',
  awaiting_confirmation: 'Validated — waiting for your confirmation',
  importing: 'Importing',
  imported: 'Imported',
  ready: 'Ready',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

const STAGE_TEXT: Record<string, string> = {
  extracting: 'extracting the archive',
  checking: 'checking images and masks',
  storing: 'storing images and masks',
  queued: 'queued',
};

export function stateText(state: UploadState | 'ready'): string {
  return STATE_TEXT[state] ?? state;
}

/** e.g. "Validating: checking images and masks (120 / 1000)". */
export function progressText(dataset: Pick<DatasetUpload, 'progress'> & { state: UploadState | 'ready' }): string {
  const base = stateText(dataset.state);
  if (isSettled(dataset.state) || dataset.state === 'uploading') return base;
  const stage = STAGE_TEXT[dataset.progress.stage];
  if (!stage) return `${base}…`;
  const { done, total } = dataset.progress;
  return total > 0 ? `${base}: ${stage} (${done} / ${total})` : `${base}: ${stage}…`;
}

export function formatBytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

/** Calls `fetch` every `intervalMs` and `onUpdate` with each answer until `isSettled` (or `active()` turns false). */
export async function pollUntilSettled(
  fetch: () => Promise<DatasetUpload>,
  onUpdate: (upload: DatasetUpload) => void,
  opts: { intervalMs?: number; active?: () => boolean } = {},
): Promise<DatasetUpload | null> {
  const active = opts.active ?? (() => true);
  for (;;) {
    const dataset = await fetch();
    if (!active()) return null;
    onUpdate(dataset);
    if (isSettled(dataset.state)) return dataset;
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? POLL_INTERVAL_MS));
    if (!active()) return null;
  }
}
