/**
 * The training platform's jobs as page state: the shapes of a job's open JSON fields (progress,
 * history, result, params), the live messages of /ws/jobs/ and their reduction into the job list
 * and one job's view (late poll answers that raced a websocket message are recognised and dropped).
 *
 * Pure: no HTTP (jobs-client.ts) and no display text (jobs-text.ts).
 */
import type { JobObject, JobObjectStateEnum, KindEnum, ModelVersionStateEnum } from '../api-types';

export type JobKind = KindEnum;
export type JobState = JobObjectStateEnum;
export type ModelState = ModelVersionStateEnum;

export const JOB_KINDS: JobKind[] = ['distill', 'finetune', 'evaluate', 'export', 'embed'];
export const JOB_STATES: JobState[] = ['queued', 'running', 'succeeded', 'failed', 'cancelled'];
export const FINISHED_STATES: JobState[] = ['succeeded', 'failed', 'cancelled'];
/** Roles that may start, cancel and retry jobs and publish/archive a team's model versions. */
export const TRAINING_ROLES = ['trainer', 'admin'];

// -- types the generated schema leaves open (`unknown` JSON fields) ---------------------------------

/** kdsam_core's ProgressEvent.to_dict(): the job's latest event (`{}` before the first one). */
export interface ProgressEvent {
  kind: 'cache' | 'step' | 'epoch' | 'done' | string;
  phase: string;
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  losses: Record<string, number | null>;
  lr: number | null;
  throughput: number | null;
  eta_s: number | null;
  extra: Record<string, unknown>;
}

/** One finished epoch: `{epoch, lr, train_loss, val_loss, ...}`. */
export interface HistoryEntry {
  epoch: number;
  lr?: number | null;
  [loss: string]: number | null | undefined;
}

/** Statistics of one metric (kdsam_core.evaluation.metrics.summarize). */
export interface MetricSummary {
  n: number;
  mean: number | null;
  median: number | null;
  std: number | null;
  ci_low: number | null;
  ci_high: number | null;
  confidence: number;
}

/** `result.summary` of an evaluate job: dataset → model → {dice, iou}. */
export type EvaluationSummary = Record<string, Record<string, { dice: MetricSummary; iou: MetricSummary }>>;

export interface JobResult {
  model_version?: number;
  files?: Record<string, string>;
  summary?: EvaluationSummary;
  [key: string]: unknown;
}

export interface JobFilter {
  state?: JobState | '';
  kind?: JobKind | '';
  team?: number | '';
}

export function progressOf(job: Pick<JobObject, 'progress'>): ProgressEvent | null {
  const p = job.progress as Partial<ProgressEvent> | null | undefined;
  if (!p || typeof p !== 'object' || typeof p.kind !== 'string') return null;
  return {
    kind: p.kind,
    phase: p.phase ?? '',
    epoch: p.epoch ?? 0,
    epochs: p.epochs ?? 0,
    step: p.step ?? 0,
    steps: p.steps ?? 0,
    losses: p.losses ?? {},
    lr: p.lr ?? null,
    throughput: p.throughput ?? null,
    eta_s: p.eta_s ?? null,
    extra: p.extra ?? {},
  };
}

export function historyOf(job: Pick<JobObject, 'history'>): HistoryEntry[] {
  return Array.isArray(job.history) ? (job.history as HistoryEntry[]).filter((e) => e && typeof e.epoch === 'number') : [];
}

export function resultOf(job: Pick<JobObject, 'result'>): JobResult {
  return job.result && typeof job.result === 'object' ? (job.result as JobResult) : {};
}

export function paramsOf(job: Pick<JobObject, 'params'>): Record<string, unknown> {
  return job.params && typeof job.params === 'object' ? (job.params as Record<string, unknown>) : {};
}

export function isFinished(state: JobState): boolean {
  return FINISHED_STATES.includes(state);
}

// -- live messages and their reduction -------------------------------------------------------------

export type JobMessage =
  | { type: 'job.update'; job: JobObject }
  | { type: 'job.progress'; job: JobObject; event: ProgressEvent | null };

/** Parses one websocket message; null when it is not a job message. */
export function parseJobMessage(data: unknown): JobMessage | null {
  if (typeof data !== 'string') return null;
  try {
    const msg = JSON.parse(data) as { type?: unknown; job?: unknown; event?: unknown };
    if (msg.type !== 'job.update' && msg.type !== 'job.progress') return null;
    const job = msg.job as JobObject | null;
    if (!job || typeof job !== 'object' || typeof job.id !== 'number') return null;
    if (msg.type === 'job.update') return { type: 'job.update', job };
    const event = msg.event && typeof msg.event === 'object' ? progressOf({ progress: msg.event }) : null;
    return { type: 'job.progress', job, event };
  } catch {
    return null;
  }
}

/** Running position of a progress event, for recognising a late message: (epoch, step). */
function progressKey(job: JobObject): number[] | null {
  const p = progressOf(job);
  if (!p) return null;
  const kindRank = p.kind === 'done' ? 2 : p.kind === 'epoch' ? 1 : 0;
  return [p.epoch, p.kind === 'epoch' || p.kind === 'done' ? p.steps || p.step : p.step, kindRank];
}

function compareKeys(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

/**
 * True when `incoming` is an older picture of the same running attempt than `current` (a poll
 * answer that raced a websocket message): same attempt and phase, earlier epoch/step.
 */
export function isStale(current: JobObject | null | undefined, incoming: JobObject): boolean {
  if (!current || current.id !== incoming.id) return false;
  if (isFinished(current.state) && incoming.state === 'running' && current.attempts === incoming.attempts) return true;
  if (current.state !== 'running' || incoming.state !== 'running' || current.attempts !== incoming.attempts) return false;
  const a = progressOf(current);
  const b = progressOf(incoming);
  if (!a || !b || a.phase !== b.phase) return !!a && !b;
  const ka = progressKey(current);
  const kb = progressKey(incoming);
  return !!ka && !!kb && compareKeys(kb, ka) < 0;
}

/** A point drawn after the last finished epoch while an epoch is under way (x in epochs). */
export interface LivePoint {
  x: number;
  values: Record<string, number>;
  lr: number | null;
}

/** What the job page shows: the job and the running point of the loss curves. */
export interface JobView {
  job: JobObject;
  live: LivePoint | null;
}

/** The step event's training losses under the names the history uses (`loss` → `train_loss`). */
export function liveFromEvent(event: ProgressEvent | null): LivePoint | null {
  if (!event || event.kind !== 'step' || !(event.epochs > 0) || !(event.steps > 0) || event.epoch < 1) return null;
  const values: Record<string, number> = {};
  for (const [key, value] of Object.entries(event.losses)) {
    if (typeof value === 'number' && Number.isFinite(value)) values[key.startsWith('train_') ? key : `train_${key}`] = value;
  }
  return { x: event.epoch - 1 + Math.min(1, event.step / event.steps), values, lr: event.lr };
}

/** Event → state: the next JobView after a message (or a polled job, as a `job.update`). */
export function reduceJobView(view: JobView | null, msg: JobMessage): JobView {
  if (view && view.job.id !== msg.job.id) return view;
  if (view && isStale(view.job, msg.job)) return view;
  const job = msg.job;
  if (job.state !== 'running') return { job, live: null };
  if (msg.type === 'job.progress') {
    const event = msg.event ?? progressOf(job);
    return { job, live: liveFromEvent(event) };
  }
  const same = view && view.job.attempts === job.attempts && view.job.state === 'running';
  return { job, live: same ? view.live : liveFromEvent(progressOf(job)) };
}

function newestFirst(a: JobObject, b: JobObject): number {
  if (a.created_at !== b.created_at) return a.created_at < b.created_at ? 1 : -1;
  return b.id - a.id;
}

export function matchesFilter(job: JobObject, filter: JobFilter): boolean {
  return (!filter.state || job.state === filter.state) && (!filter.kind || job.kind === filter.kind) && (!filter.team || job.team === Number(filter.team));
}

/** Event → state for the list: upsert (newest first), dropping jobs the filter no longer matches. */
export function reduceJobList(jobs: JobObject[], msg: JobMessage, filter: JobFilter = {}): JobObject[] {
  const index = jobs.findIndex((j) => j.id === msg.job.id);
  if (index >= 0 && isStale(jobs[index], msg.job)) return jobs;
  const rest = index >= 0 ? jobs.filter((_, i) => i !== index) : jobs;
  if (!matchesFilter(msg.job, filter)) return rest;
  return [...rest, msg.job].sort(newestFirst);
}
