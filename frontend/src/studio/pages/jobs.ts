/**
 * Jobs section of the studio: the job list (state, queue position, progress, live over /ws/jobs/
 * with a polling fallback), one job's page (loss and lr curves drawn as events arrive, throughput,
 * ETA, log tail, cancel/retry, the evaluation's Dice table and figures, produced model versions)
 * and the forms that start jobs (job-form.ts).
 */
import { errorMessage } from '../../api';
import type { JobObject, TeamMembership } from '../../api-types';
import { browserSocket, type SocketLike } from '../../live-feed';
import { layoutChart, lossSeries, lrSeries, renderChart, type Series } from '../chart';
import { h } from '../dom';
import { JobFeed, JobsApi, jobFileUrl, jobsSocketUrl, type JobPagesDeps } from '../jobs-client';
import {
  JOB_KINDS,
  JOB_STATES,
  TRAINING_ROLES,
  historyOf,
  isFinished,
  isStale,
  paramsOf,
  reduceJobList,
  reduceJobView,
  resultOf,
  type EvaluationSummary,
  type JobFilter,
  type JobView,
  type MetricSummary,
} from '../jobs-state';
import { KIND_TEXT, formatDuration, formatNumber, jobStateText, progressFraction, progressText, speedText } from '../jobs-text';
import type { RouteContext, Router } from '../router';
import { ensureJobStyles, renderJobForm, renderKindChooser } from './job-form';

export { registerModelRoutes } from './models';

const QUEUE_REFRESH_MS = 5000;

interface Resolved extends JobPagesDeps {
  api: JobsApi;
  openSocket: (url: string) => SocketLike;
}

export function registerJobRoutes(router: Router, deps: JobPagesDeps): void {
  ensureJobStyles();
  const d: Resolved = { ...deps, api: deps.api ?? new JobsApi(), openSocket: deps.openSocket ?? ((url) => browserSocket(url)()) };
  router.addNav({ label: 'Jobs', path: '/jobs' });
  router.add({ pattern: '/jobs', render: (ctx) => renderList(ctx, d) });
  router.add({ pattern: '/jobs/new', render: (ctx) => renderKindChooser(ctx, d.api) });
  router.add({ pattern: '/jobs/new/:kind', render: (ctx) => renderJobForm(ctx, d) });
  router.add({ pattern: '/jobs/:id', render: (ctx) => renderJob(ctx, d) });
}

function stateBadge(job: JobObject, id?: string): HTMLElement {
  return h('span', { class: `state-badge state-${job.state}`, 'data-state': job.state, id }, jobStateText(job));
}

function setBar(bar: HTMLProgressElement, fraction: number | null): void {
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
}

function liveBadge(id: string): HTMLElement {
  return h('span', { class: 'muted live-badge', id, 'data-live': 'false' }, 'connecting…');
}

function setLive(el: HTMLElement, live: boolean): void {
  el.dataset.live = String(live);
  el.textContent = live ? '● live' : '○ polling';
  el.title = live ? 'Updates arrive over the websocket.' : 'The websocket is not connected; polling the server.';
}

function time(iso: string | null): string {
  return iso ? new Date(iso).toLocaleString() : '—';
}

// -- list ------------------------------------------------------------------------------------------
async function renderList(ctx: RouteContext, deps: Resolved): Promise<() => void> {
  const { view } = ctx;
  const { api } = deps;
  const filter: JobFilter = {};
  let jobs: JobObject[] = [];
  let teams: TeamMembership[] = [];
  const live = liveBadge('jobs-live');
  const body = h('tbody', {});
  const empty = h('p', { class: 'muted', id: 'job-list-empty', hidden: true }, 'No jobs yet. Start one with “New job”.');

  const select = (id: string, label: string, options: [string, string][], onChange: (v: string) => void) => {
    const el = h('select', { id }, ...options.map(([v, t]) => h('option', { value: v }, t)));
    el.addEventListener('change', () => onChange(el.value));
    return h('label', {}, `${label} `, el);
  };

  const draw = () => {
    const teamName = new Map(teams.map((t) => [t.id, t.name]));
    body.replaceChildren(...jobs.map((job) => row(job, teamName.get(job.team) ?? `team ${job.team}`)));
    empty.hidden = jobs.length > 0;
  };

  // a poll answer arrives as one message per job: draw once after the burst
  let drawQueued = false;
  const scheduleDraw = () => {
    if (drawQueued) return;
    drawQueued = true;
    queueMicrotask(() => {
      drawQueued = false;
      if (ctx.isActive()) draw();
    });
  };

  const reload = async () => {
    const fresh = await api.jobs(filter);
    if (!ctx.isActive()) return;
    // keep what the websocket delivered meanwhile when the answer is an older picture of a job
    const known = new Map(jobs.map((j) => [j.id, j]));
    jobs = fresh.map((j) => {
      const current = known.get(j.id);
      return current && isStale(current, j) ? current : j;
    });
    draw();
  };

  [teams, jobs] = await Promise.all([api.teams(), api.jobs(filter)]);
  if (!ctx.isActive()) return () => undefined;
  const canStart = teams.some((t) => TRAINING_ROLES.includes(t.role));
  view.append(
    h(
      'div',
      { class: 'studio-bar' },
      h('h2', {}, 'Jobs'),
      canStart ? h('a', { class: 'button primary', href: '#/jobs/new', id: 'new-job' }, 'New job') : null,
      live,
    ),
    h(
      'div',
      { class: 'grid-bar', id: 'job-filters' },
      select('job-filter-state', 'State', [['', 'all'], ...JOB_STATES.map((s): [string, string] => [s, s])], (v) => {
        filter.state = v as JobFilter['state'];
        void reload().catch((err) => deps.showError(errorMessage(err)));
      }),
      select('job-filter-kind', 'Kind', [['', 'all'], ...JOB_KINDS.map((k): [string, string] => [k, KIND_TEXT[k]])], (v) => {
        filter.kind = v as JobFilter['kind'];
        void reload().catch((err) => deps.showError(errorMessage(err)));
      }),
      teams.length > 1
        ? select('job-filter-team', 'Team', [['', 'all'], ...teams.map((t): [string, string] => [String(t.id), t.name])], (v) => {
            filter.team = v ? Number(v) : '';
            void reload().catch((err) => deps.showError(errorMessage(err)));
          })
        : null,
    ),
    h(
      'table',
      { class: 'studio-table', id: 'job-list' },
      h('thead', {}, h('tr', {}, ...['Job', 'Kind', 'Team', 'Owner', 'State', 'Progress', 'Created'].map((t) => h('th', {}, t)))),
      body,
    ),
    empty,
  );
  draw();

  const feed = new JobFeed({
    openSocket: () => deps.openSocket(jobsSocketUrl()),
    poll: () => api.jobs(filter),
    onMessage: (msg) => {
      if (!ctx.isActive()) return;
      jobs = reduceJobList(jobs, msg, filter);
      scheduleDraw();
      // a job started, finished or was cancelled: the queue positions of the others moved, and
      // jobs submitted elsewhere appear; reload once the burst of messages is over
      if (msg.type === 'job.update' && feed.isLive) scheduleReload();
    },
    onConnectionChange: (isLive) => setLive(live, isLive),
  });
  let reloadTimer: ReturnType<typeof setTimeout> | null = null;
  const scheduleReload = () => {
    if (reloadTimer) clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => {
      reloadTimer = null;
      void reload().catch(() => undefined);
    }, 500);
  };
  feed.start();
  return () => {
    feed.stop();
    if (reloadTimer) clearTimeout(reloadTimer);
  };
}

function row(job: JobObject, teamName: string): HTMLElement {
  const bar = h('progress', { max: 1, class: 'job-bar' });
  setBar(bar, progressFraction(job));
  const speed = speedText(job);
  return h(
    'tr',
    { 'data-job-id': job.id, 'data-state': job.state },
    h('td', {}, h('a', { href: `#/jobs/${job.id}`, class: 'job-link' }, `#${job.id}`)),
    h('td', {}, KIND_TEXT[job.kind] ?? job.kind),
    h('td', {}, teamName),
    h('td', {}, job.owner || '—'),
    h('td', {}, stateBadge(job)),
    h(
      'td',
      { class: 'job-progress-cell' },
      isFinished(job.state) ? null : bar,
      ' ',
      h('span', { class: 'muted job-progress-text' }, finishedText(job) ?? progressText(job)),
      speed ? h('span', { class: 'muted job-speed' }, ` · ${speed}`) : null,
    ),
    h('td', {}, time(job.created_at)),
  );
}

/** "took 3 min 05 s", "failed: <first line of the error>"; null while not finished. */
function finishedText(job: JobObject): string | null {
  if (!isFinished(job.state)) return null;
  const took = job.started_at && job.finished_at ? (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000 : null;
  const error = job.error ? job.error.split('\n')[0].slice(0, 120) : '';
  if (job.state === 'succeeded') return took !== null ? `took ${formatDuration(took)}` : '';
  return error || jobStateText(job);
}

// -- one job ---------------------------------------------------------------------------------------
async function renderJob(ctx: RouteContext, deps: Resolved): Promise<() => void> {
  const { api } = deps;
  const id = Number(ctx.params.id);
  let state: JobView = reduceJobView(null, { type: 'job.update', job: await api.job(id) });
  const teams = await api.teams().catch(() => [] as TeamMembership[]);
  if (!ctx.isActive()) return () => undefined;
  const canTrain = () => teams.some((t) => t.id === state.job.team && TRAINING_ROLES.includes(t.role));

  const { view } = ctx;
  const title = h('h2', { id: 'job-title' });
  const badgeSlot = h('span', { class: 'badge-slot' });
  const live = liveBadge('job-live');
  const meta = h('p', { class: 'muted', id: 'job-meta' });
  const cancel = h('button', { id: 'job-cancel', type: 'button', class: 'danger-outline' }, 'Cancel');
  const retry = h('button', { id: 'job-retry', type: 'button' }, 'Retry');
  const bar = h('progress', { id: 'job-progress', max: 1 });
  const progressLine = h('span', { id: 'job-progress-text', class: 'muted' });
  const speed = h('span', { id: 'job-speed', class: 'muted' });
  const error = h('p', { id: 'job-error', class: 'error-message', hidden: true });
  const charts = h('section', { id: 'job-charts', class: 'job-charts', hidden: true });
  const result = h('section', { id: 'job-result' });
  const params = h('section', { id: 'job-params' });
  const log = h('pre', { id: 'job-log', class: 'job-log' });

  view.append(
    h('div', { class: 'studio-bar' }, title, badgeSlot, live, h('a', { href: '#/jobs', class: 'button' }, 'All jobs')),
    meta,
    h('div', { class: 'actions' }, cancel, retry),
    h('section', { class: 'progress-box' }, h('div', { class: 'progress-row' }, bar), h('div', {}, progressLine, ' ', speed)),
    error,
    charts,
    result,
    params,
    h('details', { open: true, class: 'log-details' }, h('summary', {}, 'Log'), log),
  );

  const act = (call: () => Promise<JobObject>) => {
    cancel.disabled = retry.disabled = true;
    void call().then(
      (job) => apply({ type: 'job.update', job }),
      (err) => {
        deps.showError(errorMessage(err));
        drawControls();
      },
    );
  };
  cancel.addEventListener('click', () => act(() => api.cancel(id)));
  retry.addEventListener('click', () => act(() => api.retry(id)));

  const drawControls = () => {
    const job = state.job;
    const trainer = canTrain();
    cancel.hidden = !trainer || isFinished(job.state);
    cancel.disabled = job.cancel_requested;
    retry.hidden = !trainer || !(job.state === 'failed' || job.state === 'cancelled');
    retry.disabled = false;
  };

  let resultKey = '';
  let chartKey = '';

  const draw = () => {
    const job = state.job;
    title.textContent = `Job #${job.id} · ${KIND_TEXT[job.kind] ?? job.kind}`;
    badgeSlot.replaceChildren(stateBadge(job, 'job-state'));
    meta.textContent = [
      `by ${job.owner || '—'}`,
      `created ${time(job.created_at)}`,
      job.started_at ? `started ${time(job.started_at)}` : '',
      job.finished_at ? `finished ${time(job.finished_at)}` : '',
      `attempt ${job.attempts}/${job.max_attempts}`,
      job.worker_host ? `on ${job.worker_host}` : '',
      `${job.queue} queue, priority ${job.priority}`,
    ].filter(Boolean).join(' · ');
    drawControls();
    setBar(bar, progressFraction(job));
    bar.hidden = job.state === 'failed' || job.state === 'cancelled';
    progressLine.textContent = progressText(job);
    speed.textContent = speedText(job);
    error.hidden = !job.error;
    error.textContent = job.error;
    error.className = job.state === 'cancelled' ? 'notice' : 'error-message';

    const key = JSON.stringify([historyOf(job), state.live, job.state]);
    if (key !== chartKey) {
      chartKey = key;
      drawCharts(charts, state);
    }
    const rkey = JSON.stringify([job.state, job.result, job.model_versions]);
    if (rkey !== resultKey) {
      resultKey = rkey;
      drawResult(result, job);
      drawParams(params, job);
    }
    const logWasAtBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 24;
    const logText = job.log_tail || '(empty)';
    if (log.textContent !== logText) {
      log.textContent = logText;
      if (logWasAtBottom) log.scrollTop = log.scrollHeight;
    }
  };
  const apply = (msg: Parameters<typeof reduceJobView>[1]) => {
    if (!ctx.isActive()) return;
    const next = reduceJobView(state, msg);
    if (next === state) return;
    state = next;
    draw();
    feed.updatePolling();
  };

  const feed = new JobFeed({
    openSocket: () => deps.openSocket(jobsSocketUrl(id)),
    poll: () => api.job(id),
    shouldPoll: () => !isFinished(state.job.state),
    onMessage: apply,
    onConnectionChange: (isLive) => setLive(live, isLive),
  });
  draw();
  feed.start();
  // the websocket tells about this job's own changes only: while it waits, refresh its queue position
  const queueTimer = setInterval(() => {
    if (state.job.state !== 'queued' || !ctx.isActive()) return;
    void api.job(id).then((job) => apply({ type: 'job.update', job }), () => undefined);
  }, QUEUE_REFRESH_MS);
  return () => {
    feed.stop();
    clearInterval(queueTimer);
  };
}

function drawCharts(section: HTMLElement, state: JobView): void {
  const history = historyOf(state.job);
  const input = { history, live: state.live };
  const losses = lossSeries(input);
  const lrs = lrSeries(input);
  const training = state.job.kind === 'distill' || state.job.kind === 'finetune';
  section.hidden = losses.length === 0 && lrs.length === 0 && (!training || isFinished(state.job.state));
  if (section.hidden) return;
  const maxX = Math.max(1, ...history.map((e) => e.epoch), state.live ? Math.ceil(state.live.x) : 0);
  const xDomain: [number, number] = [0, maxX];
  const last = history[history.length - 1];
  section.replaceChildren(
    h('h3', {}, 'Training curves'),
    h(
      'div',
      { class: 'chart-row' },
      chartFigure('chart-losses', 'Loss per epoch', losses, { xDomain, integerX: true, xLabel: 'epoch', yLabel: 'loss', title: 'Losses per epoch' }),
      chartFigure('chart-lr', 'Learning rate', lrs, { xDomain, integerX: true, xLabel: 'epoch', yLabel: 'lr', logY: true, title: 'Learning rate per epoch' }),
    ),
    last
      ? h('p', { class: 'muted', id: 'job-last-epoch' }, `Epoch ${last.epoch}: ${Object.entries(last).filter(([k]) => k !== 'epoch').map(([k, v]) => `${k} ${formatNumber(v as number)}`).join(' · ')}`)
      : h('p', { class: 'muted', id: 'job-last-epoch' }, 'The curves start after the first epoch.'),
  );
}

function chartFigure(id: string, caption: string, series: Series[], options: Parameters<typeof layoutChart>[1]): HTMLElement {
  const layout = layoutChart(series, { width: 520, height: 240, ...options });
  const legend = h(
    'ul',
    { class: 'chart-legend' },
    ...series.filter((s) => !s.live).map((s) =>
      h('li', {}, h('span', { class: 'swatch', style: `display:inline-block;width:2.4em;height:0;border-top:2px ${s.dashed ? 'dashed' : 'solid'} ${s.color};vertical-align:middle` }), ` ${s.name}`),
    ),
  );
  const figure = h('figure', { id, class: 'chart', 'data-points': series.reduce((n, s) => n + (s.live ? 0 : s.points.length), 0) }, h('figcaption', {}, caption));
  figure.append(renderChart(layout, options), legend);
  return figure;
}

function pct(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? '—' : `${(v * 100).toFixed(1)}`;
}

function ciText(m: MetricSummary | undefined): string {
  if (!m || m.mean === null) return '—';
  const ci = m.ci_low !== null && m.ci_high !== null ? ` [${pct(m.ci_low)}, ${pct(m.ci_high)}]` : '';
  return `${pct(m.mean)}${ci}`;
}

/** "kdsam (v3)" → 3 */
function versionOf(modelKey: string): number | null {
  const m = /\(v(\d+)\)\s*$/.exec(modelKey);
  return m ? Number(m[1]) : null;
}

function diceTable(summary: EvaluationSummary): HTMLElement {
  const rows: HTMLElement[] = [];
  for (const [dataset, byModel] of Object.entries(summary)) {
    for (const [model, stats] of Object.entries(byModel)) {
      const version = versionOf(model);
      rows.push(
        h(
          'tr',
          { 'data-dataset': dataset, 'data-model': model },
          h('td', {}, dataset),
          h('td', {}, version ? h('a', { href: `#/models/${version}` }, model) : model),
          h('td', { class: 'num' }, stats.dice?.n ?? '—'),
          h('td', { class: 'num dice-mean' }, ciText(stats.dice)),
          h('td', { class: 'num' }, pct(stats.dice?.median)),
          h('td', { class: 'num' }, ciText(stats.iou)),
        ),
      );
    }
  }
  return h(
    'table',
    { class: 'studio-table', id: 'dice-table' },
    h('thead', {}, h('tr', {}, ...['Dataset', 'Model', 'Images', 'Dice % (95% CI)', 'Median Dice %', 'IoU % (95% CI)'].map((t) => h('th', {}, t)))),
    h('tbody', {}, ...rows),
  );
}

const FILE_LABELS: Record<string, string> = {
  json: 'results.json (per image)',
  markdown_dice: 'Table 1 (Dice, Markdown)',
  markdown_iou: 'Table 1 (IoU, Markdown)',
  figure2: 'Figure 2 (Dice)',
  figure3: 'Figure 3 (cases)',
};

function drawResult(section: HTMLElement, job: JobObject): void {
  const result = resultOf(job);
  const parts: (HTMLElement | null)[] = [];
  const produced = [...new Set([...(job.model_versions ?? [])])];
  if (produced.length) {
    parts.push(
      h('h3', {}, 'Model versions produced'),
      h('ul', { id: 'job-models' }, ...produced.map((v) => h('li', {}, h('a', { href: `#/models/${v}`, 'data-model-version': v }, `Model version ${v}`), ' — review and publish it on its page'))),
    );
  }
  if (job.kind === 'export' && typeof result.model_version === 'number') {
    parts.push(
      h('h3', {}, 'Export'),
      h(
        'ul',
        { id: 'job-export' },
        h('li', {}, 'Exported the decoder of ', h('a', { href: `#/models/${result.model_version}`, id: 'job-export-model' }, `model version ${result.model_version}`)),
        typeof result.decoder === 'string' ? h('li', {}, h('a', { href: `/models/${result.model_version}/decoder.onnx`, download: true }, 'decoder.onnx')) : null,
        typeof result.decoder_int8 === 'string' ? h('li', {}, h('a', { href: `/models/${result.model_version}/decoder_int8.onnx`, download: true, id: 'job-export-int8' }, 'decoder_int8.onnx (int8)')) : null,
      ),
    );
  }
  if (result.summary && typeof result.summary === 'object' && job.kind === 'evaluate') {
    parts.push(h('h3', {}, 'Dice (paper protocol: one box prompt per object)'), diceTable(result.summary));
  }
  if (job.kind === 'finetune' && result.evaluation && typeof result.evaluation === 'object') {
    const ev = result.evaluation as { split?: string; protocol?: string; dice?: MetricSummary; iou?: MetricSummary };
    parts.push(
      h('h3', {}, 'Validation of the best epoch'),
      h(
        'p',
        { id: 'job-validation' },
        `Dice ${ciText(ev.dice)} % · IoU ${ciText(ev.iou)} % on ${ev.dice?.n ?? '—'} ${ev.split ?? 'val'} images`,
        ev.protocol ? h('span', { class: 'muted' }, ` (${ev.protocol})`) : null,
      ),
    );
  }
  const files = result.files ?? {};
  const figures = ['figure2', 'figure3'].filter((k) => typeof files[k] === 'string');
  if (figures.length) {
    parts.push(
      h('div', { id: 'job-figures', class: 'job-figures' }, ...figures.map((k) =>
        h('figure', { 'data-figure': k }, h('img', { src: jobFileUrl(job.id, files[k]), alt: FILE_LABELS[k], loading: 'lazy', style: 'max-width:100%' }), h('figcaption', {}, FILE_LABELS[k])),
      )),
    );
  }
  const downloads = Object.entries(files).filter(([k]) => !figures.includes(k));
  if (downloads.length) {
    parts.push(h('ul', { id: 'job-files' }, ...downloads.map(([k, name]) => h('li', {}, h('a', { href: jobFileUrl(job.id, name), target: '_blank' }, FILE_LABELS[k] ?? name)))));
  }
  if (isFinished(job.state) && Object.keys(result).length) {
    parts.push(h('details', { class: 'result-json' }, h('summary', {}, 'Result (JSON)'), h('pre', { class: 'json' }, JSON.stringify(result, null, 1))));
  }
  section.replaceChildren(...parts.filter((p): p is HTMLElement => p !== null));
}

function drawParams(section: HTMLElement, job: JobObject): void {
  const params = paramsOf(job);
  const link = (k: string, v: unknown): Node | string => {
    if (k === 'dataset' && typeof v === 'number') return h('a', { href: `#/datasets/${v}` }, `dataset ${v}`);
    if (k === 'model_version' && typeof v === 'number') return h('a', { href: `#/models/${v}` }, `model version ${v}`);
    if (k === 'model_versions' && Array.isArray(v)) {
      const span = h('span', {});
      v.forEach((x, i) => span.append(i ? ', ' : '', h('a', { href: `#/models/${x}` }, `v${x}`)));
      return span;
    }
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  };
  section.replaceChildren(
    h('details', {}, h('summary', {}, 'Parameters'), h('dl', { class: 'stats' }, ...Object.entries(params).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, link(k, v))]))),
  );
}
