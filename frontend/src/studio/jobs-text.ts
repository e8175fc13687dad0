/**
 * What the jobs pages say: state and kind names, durations, ETA, throughput, losses, and the
 * progress line and bar fraction of a job. Pure formatting of jobs-state.ts's shapes.
 */
import type { JobObject } from '../api-types';
import { progressOf, type JobKind, type JobState } from './jobs-state';

const STATE_TEXT: Record<JobState, string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Succeeded',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

export const KIND_TEXT: Record<JobKind, string> = {
  distill: 'Distillation (phase 1)',
  finetune: 'Fine-tuning (phase 2)',
  evaluate: 'Evaluation',
  export: 'ONNX export',
  embed: 'Embeddings',
};

export function jobStateText(job: Pick<JobObject, 'state' | 'cancel_requested'>): string {
  if (job.state === 'running' && job.cancel_requested) return 'Cancelling';
  return STATE_TEXT[job.state] ?? job.state;
}

/** "42 s", "3 min 05 s", "1 h 02 min", "2 d 03 h"; "—" when unknown. */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${Math.floor(s / 60)} min ${pad(s % 60)} s`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${pad(Math.floor((s % 3600) / 60))} min`;
  return `${Math.floor(s / 86400)} d ${pad(Math.floor((s % 86400) / 3600))} h`;
}

export function formatEta(seconds: number | null | undefined): string {
  if (seconds !== null && seconds !== undefined && seconds >= 0 && seconds < 1) return 'finishing up';
  const text = formatDuration(seconds);
  return text === '—' ? 'ETA unknown' : `about ${text} left`;
}

/** "12.3 img/s", "0.42 img/s"; "—" when unknown. */
export function formatThroughput(perSecond: number | null | undefined): string {
  if (perSecond === null || perSecond === undefined || !Number.isFinite(perSecond) || perSecond <= 0) return '—';
  const digits = perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2;
  return `${perSecond.toFixed(digits)} img/s`;
}

/** Losses and learning rates: 4 significant digits, exponent for very small or large values. */
export function formatNumber(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs < 1e-3 || abs >= 1e5) return value.toExponential(2).replace('e+', 'e');
  return String(Number(value.toPrecision(4)));
}

/**
 * 0..1 of the whole job, or null when unknown (indeterminate bar): epochs done plus the share of
 * the current epoch for training, items done for caching and evaluation.
 */
export function progressFraction(job: Pick<JobObject, 'state' | 'progress'>): number | null {
  if (job.state === 'succeeded') return 1;
  if (job.state === 'queued') return 0;
  const p = progressOf(job);
  if (!p) return job.state === 'running' ? null : 0;
  if (p.kind === 'done') return 1;
  if (p.epochs > 0 && p.epoch > 0) {
    const within = p.kind === 'epoch' ? 1 : p.steps > 0 ? Math.min(1, p.step / p.steps) : 0;
    return clamp01((p.epoch - 1 + within) / p.epochs);
  }
  if (p.steps > 0) return clamp01(p.step / p.steps);
  return null;
}

function clamp01(v: number): number {
  return Math.max(0, Math.min(1, v));
}

const PHASE_TEXT: Record<string, string> = {
  distill: 'distilling',
  finetune: 'fine-tuning',
  evaluate: 'evaluating',
  embed: 'embedding',
};

/** One line under the bar: "Queued · position 2 in the gpu queue", "distilling · epoch 3/100 · step 12/40". */
export function progressText(job: Pick<JobObject, 'state' | 'progress' | 'queue_position' | 'queue' | 'cancel_requested' | 'error'>): string {
  if (job.state === 'queued') {
    return job.queue_position ? `Queued · position ${job.queue_position} in the ${job.queue} queue` : 'Queued';
  }
  const p = progressOf(job);
  if (job.state !== 'running') {
    return jobStateText(job);
  }
  const parts = [jobStateText(job)];
  if (!p) {
    parts.push('starting');
    return parts.join(' · ');
  }
  if (p.kind === 'cache') {
    const what = typeof p.extra.what === 'string' ? p.extra.what : 'embeddings';
    parts.push(`caching ${what}${p.steps ? ` ${p.step}/${p.steps}` : ''}`);
    return parts.join(' · ');
  }
  if (p.phase) parts.push(PHASE_TEXT[p.phase] ?? p.phase);
  if (p.epochs > 0) parts.push(`epoch ${p.epoch}/${p.epochs}`);
  if (p.kind === 'step' && p.steps > 0) parts.push(`${p.epochs > 0 ? 'step' : 'image'} ${p.step}/${p.steps}`);
  return parts.join(' · ');
}

/** "12.3 img/s · about 4 min 10 s left" while running; '' otherwise. */
export function speedText(job: Pick<JobObject, 'state' | 'progress'>): string {
  if (job.state !== 'running') return '';
  const p = progressOf(job);
  if (!p) return '';
  const parts: string[] = [];
  if (p.throughput) parts.push(formatThroughput(p.throughput));
  if (p.eta_s !== null && p.kind !== 'cache') parts.push(formatEta(p.eta_s));
  return parts.join(' · ');
}
