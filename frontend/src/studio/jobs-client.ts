/**
 * The training platform over the wire: a typed client of the jobs and model-versions API and the
 * live job feed (websocket /ws/jobs/ with a polling fallback, on ../live-feed.ts) that turns
 * socket messages and poll answers into jobs-state.ts's JobMessage.
 *
 * Errors are the shared ApiRequestError of ../api.ts (the server's error.message, with `field`
 * for a 400 that names a parameter); unsafe methods send X-CSRFToken from the csrftoken cookie.
 */
import { type ApiClientOptions, HttpClient } from '../api';
import type { Dataset, JobObject, JobSubmitRequest, ModelVersion, Session, TeamMembership } from '../api-types';
import { LiveFeed, socketUrl, type SocketLike } from '../live-feed';
import { parseJobMessage, type JobFilter, type JobKind, type JobMessage } from './jobs-state';

// -- GET /api/jobs/schemas/ (the generated schema leaves it an open object) -------------------------

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

/** The files endpoint of a file listed in `result.files`. */
export function jobFileUrl(jobId: number, name: string): string {
  return `/api/jobs/${jobId}/files/${name.split('/').map(encodeURIComponent).join('/')}`;
}

export function jobQuery(filter: JobFilter): string {
  const q = new URLSearchParams();
  if (filter.state) q.set('state', filter.state);
  if (filter.kind) q.set('kind', filter.kind);
  if (filter.team) q.set('team', String(filter.team));
  const s = q.toString();
  return s ? `?${s}` : '';
}

// -- client ----------------------------------------------------------------------------------------

export type JobsApiOptions = ApiClientOptions;

/** What starts a job: JobSubmitRequest with `priority` optional (0 by default). */
export type JobSubmission = Pick<JobSubmitRequest, 'team'> & { kind: JobKind; params: Record<string, unknown>; priority?: number };

export class JobsApi extends HttpClient {
  session(): Promise<Session> {
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

  submit(body: JobSubmission): Promise<JobObject> {
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

// -- live feed: websocket with polling fallback ----------------------------------------------------

export const JOB_POLL_INTERVAL_MS = 2000;

/** ws(s)://host/ws/jobs/ (every job of my teams) or /ws/jobs/{id}/. */
export function jobsSocketUrl(jobId?: number, loc: { protocol: string; host: string } = location): string {
  return socketUrl(`/ws/jobs/${jobId ? `${jobId}/` : ''}`, loc);
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
export class JobFeed extends LiveFeed {
  private readonly jobOptions: JobFeedOptions;

  constructor(opts: JobFeedOptions) {
    super({
      openSocket: opts.openSocket,
      pollIntervalMs: opts.pollIntervalMs ?? JOB_POLL_INTERVAL_MS,
      onConnectionChange: opts.onConnectionChange,
    });
    this.jobOptions = opts;
  }

  protected override handleMessage(data: unknown): void {
    const msg = parseJobMessage(data);
    if (msg) this.jobOptions.onMessage(msg);
  }

  protected override async poll(): Promise<void> {
    const answer = await this.jobOptions.poll();
    if (this.isStopped) return;
    for (const job of Array.isArray(answer) ? answer : [answer]) this.jobOptions.onMessage({ type: 'job.update', job });
  }

  protected override shouldPoll(): boolean {
    return this.jobOptions.shouldPoll?.() ?? true;
  }
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
