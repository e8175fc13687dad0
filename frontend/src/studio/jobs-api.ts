/**
 * The training platform as the studio sees it: a typed client of the jobs and model-versions API,
 * the live job feed (websocket /ws/jobs/ with a polling fallback), the reduction of its messages
 * into page state, and the pure formatting of progress, throughput and ETA.
 *
 * Errors are the shared ApiRequestError of ../api.ts (the server's error.message, with `field`
 * for a 400 that names a parameter); unsafe methods send X-CSRFToken from the csrftoken cookie.
 */
import { type ApiClientOptions, HttpClient } from '../api';
import { LiveFeed, type SocketLike } from '../live-feed';
import type { Dataset, JobObject, JobSubmitRequest, KindEnum, ModelVersion, TeamMembership } from '../api-types';

export type { Dataset, JobObject, ModelVersion, TeamMembership };
export type JobKind = KindEnum;
export type JobState = JobObject['state'];
export type ModelState = ModelVersion['state'];

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

export type FieldType = 'int' | 'float' | 'bool' | 'str' | 'list';
export type PickerKind = 'dataset' | 'model_version' | 'model_versions';

/** One parameter of a job kind (GET /api/jobs/schemas/). */
export interface FieldSchema {
  name: string;
  type: FieldType | string;
  required: boolean;
  default: unknown;
  help: string;
  choices: (string | number)[];
  minimum: number | null;
  maximum: number | null;
  kind: PickerKind | null;
}

export interface KindSchema {
  description: string;
  queue: string;
  fields: FieldSchema[];
}

export type JobSchemas = Record<string, KindSchema>;

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

/** The files endpoint of a file listed in `result.files`. */
export function jobFileUrl(jobId: number, name: string): string {
  return `/api/jobs/${jobId}/files/${name.split('/').map(encodeURIComponent).join('/')}`;
}

// -- client ----------------------------------------------------------------------------------------

export type JobsApiOptions = ApiClientOptions;

export class JobsApi extends HttpClient {
  session(): Promise<{ user: { username: string; is_staff: boolean } }> {
    return this.json('/api/session/');
  }

  teams(): Promise<TeamMembership[]> {
    return this.json('/api/teams/');
  }

  /** GET /api/datasets/ (optionally only `state`, of `team`). */
  datasets(filter: { state?: string; team?: number } = {}): Promise<Dataset[]> {
    const q = new URLSearchParams();
    if (filter.state) q.set('state', filter.state);
    if (filter.team) q.set('team', String(filter.team));
    return this.json(`/api/datasets/${q.size ? `?${q}` : ''}`);
  }

  jobs(filter: JobFilter = {}): Promise<JobObject[]> {
    return this.json(`/api/jobs/${jobQuery(filter)}`);
  }

  job(id: number): Promise<JobObject> {
    return this.json(`/api/jobs/${id}/`);
  }

  schemas(): Promise<JobSchemas> {
    return this.json('/api/jobs/schemas/');
  }

  submit(body: { team: number; kind: JobKind; params: Record<string, unknown>; priority?: number }): Promise<JobObject> {
    const request: JobSubmitRequest = { team: body.team, kind: body.kind, params: body.params, priority: body.priority ?? 0 };
    return this.post('/api/jobs/', request);
  }

  cancel(id: number): Promise<JobObject> {
    return this.post(`/api/jobs/${id}/cancel/`);
  }

  retry(id: number): Promise<JobObject> {
    return this.post(`/api/jobs/${id}/retry/`);
  }

  /** GET a JSON or text file of `result.files` (the evaluation's results.json, table1.md). */
  async fileText(jobId: number, name: string): Promise<string> {
    return (await this.send(jobFileUrl(jobId, name), { headers: { Accept: '*/*' } })).text();
  }

  /** GET /api/models/: published versions; `all` adds the drafts of teams where you train. */
  models(all = false): Promise<ModelVersion[]> {
    return this.json(`/api/models/${all ? '?all=1' : ''}`);
  }

  model(id: number): Promise<ModelVersion> {
    return this.json(`/api/models/${id}/`);
  }

  publish(id: number): Promise<ModelVersion> {
    return this.post(`/api/models/${id}/publish/`);
  }

  archive(id: number): Promise<ModelVersion> {
    return this.post(`/api/models/${id}/archive/`);
  }
}

export function jobQuery(filter: JobFilter): string {
  const q = new URLSearchParams();
  if (filter.state) q.set('state', filter.state);
  if (filter.kind) q.set('kind', filter.kind);
  if (filter.team) q.set('team', String(filter.team));
  const s = q.toString();
  return s ? `?${s}` : '';
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

// -- formatting ------------------------------------------------------------------------------------

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

// -- live feed: websocket with polling fallback ----------------------------------------------------

export const JOB_POLL_INTERVAL_MS = 2000;
export type { SocketLike };

/** ws(s)://host/ws/jobs/ (every job of my teams) or /ws/jobs/{id}/. */
export function jobsSocketUrl(jobId?: number, loc: { protocol: string; host: string } = location): string {
  return `${loc.protocol === 'https:' ? 'wss:' : 'ws:'}//${loc.host}/ws/jobs/${jobId ? `${jobId}/` : ''}`;
}

export interface JobFeedOptions {
  /** Opens the websocket (a WebSocket on this page's host by default). */
  openSocket: () => SocketLike;
  /** What a poll fetches while the socket is down (emitted as `job.update` messages). */
  poll: () => Promise<JobObject[] | JobObject>;
  /** Whether polling is still useful (e.g. false once the watched job finished). */
  shouldPoll?: () => boolean;
  onMessage: (msg: JobMessage) => void;
  onConnectionChange?: (live: boolean) => void;
  pollIntervalMs?: number;
}

/**
 * Job messages from the websocket; while it is not open (blocked, reconnecting) the same state is
 * polled every couple of seconds. Reconnects with backoff; polls once on every (re)connect to
 * catch up with what was missed.
 */
export class JobFeed {
  private readonly feed: LiveFeed;

  constructor(opts: JobFeedOptions) {
    this.feed = new LiveFeed({
      openSocket: opts.openSocket,
      onMessage: (data) => {
        const msg = parseJobMessage(data);
        if (msg) opts.onMessage(msg);
      },
      poll: async () => {
        const answer = await opts.poll();
        if (this.feed.isStopped) return;
        for (const job of Array.isArray(answer) ? answer : [answer]) opts.onMessage({ type: 'job.update', job });
      },
      shouldPoll: () => opts.shouldPoll?.() ?? true,
      pollIntervalMs: opts.pollIntervalMs ?? JOB_POLL_INTERVAL_MS,
      onConnectionChange: opts.onConnectionChange,
    });
  }

  get isLive(): boolean {
    return this.feed.isLive;
  }

  start(): void {
    this.feed.start();
  }

  stop(): void {
    this.feed.stop();
  }

  /** Re-evaluates whether to poll (call after the watched state changed). */
  updatePolling(): void {
    this.feed.updatePolling();
  }

  pollOnce(): Promise<void> {
    return this.feed.pollOnce();
  }
}

export function browserSocket(url: string): () => SocketLike {
  return () => new WebSocket(url) as unknown as SocketLike;
}

// -- what the pages need ---------------------------------------------------------------------------

/** Dependencies of the jobs and models pages (registerJobRoutes / registerModelRoutes). */
export interface JobPagesDeps {
  /** Where page-level errors go (the studio's error box). */
  showError: (message: string) => void;
  /** Defaults to a client of this origin. */
  api?: JobsApi;
  /** Defaults to a browser WebSocket (tests and the websocket-less fallback can pass another). */
  openSocket?: (url: string) => SocketLike;
}

/** The query part of the current hash (`#/jobs/new/export?model_version=3` → `model_version=3`). */
export function hashQuery(hash: string = typeof location === 'undefined' ? '' : location.hash): URLSearchParams {
  const i = hash.indexOf('?');
  return new URLSearchParams(i < 0 ? '' : hash.slice(i + 1));
}
