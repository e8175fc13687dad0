/**
 * Models section of the studio: the model versions I can see (published, plus drafts of teams
 * where I train) and one version's page: lineage (parents, teacher, training data, producing job,
 * children), metrics, downloads, publish/archive, and "Fine-tune" / "Evaluate" / "Export" forms.
 */
import { errorMessage } from '../../api';
import type { Evaluation, ModelVersion, TeamMembership } from '../../api-types';
import { append, h } from '../dom';
import { JobsApi, type JobPagesDeps } from '../jobs-client';
import { TRAINING_ROLES } from '../jobs-state';
import { formatNumber } from '../jobs-text';
import type { RouteContext, Router } from '../router';
import { ensureJobStyles, jobFormPath } from './job-form';

const MAX_ANCESTORS = 20;

export function registerModelRoutes(router: Router, deps: JobPagesDeps): void {
  ensureJobStyles();
  const api = deps.api ?? new JobsApi();
  router.addNav({ label: 'Models', path: '/models' });
  router.add({ pattern: '/models', render: (ctx) => renderList(ctx, api) });
  router.add({ pattern: '/models/:id', render: (ctx) => renderModel(ctx, api, deps) });
}

function badge(state: ModelVersion['state'], id?: string): HTMLElement {
  return h('span', { class: `state-badge model-state-${state}`, 'data-state': state, id }, state);
}

interface MetricRow {
  dataset: number;
  datasetName: string;
  split: string;
  n: number | null;
  dice: number | null;
  diceLow: number | null;
  diceHigh: number | null;
  iou: number | null;
  job: number | null;
}

type Stat = { mean?: number | null; ci_low?: number | null; ci_high?: number | null; n?: number } | undefined;

/** The version's `evaluations`: only those of my teams (the server shows no one else's), newest first. */
function metricRows(model: ModelVersion): MetricRow[] {
  return (model.evaluations ?? []).map((e: Evaluation) => {
    const metrics = e.metrics && typeof e.metrics === 'object' ? (e.metrics as { dice?: Stat; iou?: Stat }) : {};
    return {
      dataset: e.dataset,
      datasetName: e.dataset_name,
      split: e.split,
      n: metrics.dice?.n ?? null,
      dice: metrics.dice?.mean ?? null,
      diceLow: metrics.dice?.ci_low ?? null,
      diceHigh: metrics.dice?.ci_high ?? null,
      iou: metrics.iou?.mean ?? null,
      job: e.job,
    };
  });
}

function pct(v: number | null): string {
  return v === null || !Number.isFinite(v) ? '—' : (v * 100).toFixed(1);
}

function bestDice(m: ModelVersion): string {
  const latest = new Map<string, MetricRow>(); // newest first: the latest result per dataset and split
  for (const r of metricRows(m)) {
    const key = `${r.dataset}/${r.split}`;
    if (r.dice !== null && !latest.has(key)) latest.set(key, r);
  }
  if (!latest.size) return '—';
  return [...latest.values()].map((r) => `${r.datasetName}: ${pct(r.dice)}`).join(', ');
}

function paramCount(m: ModelVersion): string {
  const p = m.parameters as Record<string, unknown> | null;
  const total = p && typeof p.total === 'number' ? p.total : null;
  return total === null ? '—' : `${(total / 1e6).toFixed(1)} M`;
}

// -- list ------------------------------------------------------------------------------------------
async function renderList(ctx: RouteContext, api: JobsApi): Promise<void> {
  const [models, teams] = await Promise.all([api.models(true), api.teams().catch(() => [] as TeamMembership[])]);
  if (!ctx.isActive()) return;
  const teamName = new Map(teams.map((t) => [t.id, t.name]));
  ctx.view.append(
    h('div', { class: 'studio-bar' }, h('h2', {}, 'Model versions'), h('span', { class: 'muted' }, 'Published versions, and drafts of the teams where you train.')),
  );
  if (!models.length) {
    ctx.view.append(h('p', { class: 'muted', id: 'model-list-empty' }, 'No model versions.'));
    return;
  }
  ctx.view.append(
    h(
      'table',
      { class: 'studio-table', id: 'model-list' },
      h('thead', {}, h('tr', {}, ...['Name', 'Version', 'Architecture', 'Weights', 'State', 'Team', 'Parameters', 'Dice %', 'Parent', 'Created'].map((t) => h('th', {}, t)))),
      h(
        'tbody',
        {},
        ...models.map((m) =>
          h(
            'tr',
            { 'data-model-id': m.id, 'data-state': m.state },
            h('td', {}, h('a', { href: `#/models/${m.id}` }, m.name), m.is_active ? h('span', { class: 'class-tag' }, ' default') : null),
            h('td', { class: 'num' }, `v${m.id}`),
            h('td', {}, m.architecture),
            h('td', {}, m.weights),
            h('td', {}, badge(m.state)),
            h('td', {}, m.team === null ? 'deployment' : teamName.get(m.team) ?? `team ${m.team}`),
            h('td', { class: 'num' }, paramCount(m)),
            h('td', {}, bestDice(m)),
            h('td', {}, m.parent ? h('a', { href: `#/models/${m.parent}` }, `v${m.parent}`) : '—'),
            h('td', {}, new Date(m.created_at).toLocaleString()),
          ),
        ),
      ),
    ),
  );
}

// -- one version -----------------------------------------------------------------------------------
async function ancestors(api: JobsApi, model: ModelVersion): Promise<(ModelVersion | number)[]> {
  const chain: (ModelVersion | number)[] = [];
  let parent: number | null = model.parent;
  const seen = new Set([model.id]);
  while (parent !== null && !seen.has(parent) && chain.length < MAX_ANCESTORS) {
    seen.add(parent);
    try {
      const p = await api.model(parent);
      chain.unshift(p);
      parent = p.parent;
    } catch {
      chain.unshift(parent as number); // not visible to me (archived, another team's draft)
      break;
    }
  }
  return chain;
}

async function renderModel(ctx: RouteContext, api: JobsApi, deps: JobPagesDeps): Promise<void> {
  const id = Number(ctx.params.id);
  const [model, session, teams, all] = await Promise.all([
    api.model(id),
    api.session().catch(() => ({ user: { username: '', is_staff: false } })),
    api.teams().catch(() => [] as TeamMembership[]),
    api.models(true).catch(() => [] as ModelVersion[]),
  ]);
  const chain = await ancestors(api, model);
  if (!ctx.isActive()) return;
  const { view } = ctx;
  const teamName = new Map(teams.map((t) => [t.id, t.name]));
  const trainsIn = (team: number | null) => team !== null && teams.some((t) => t.id === team && TRAINING_ROLES.includes(t.role));
  const canManage = model.team === null ? session.user.is_staff : trainsIn(model.team);
  const canTrain = teams.some((t) => TRAINING_ROLES.includes(t.role));
  const children = all.filter((m) => m.parent === model.id);

  const act = (call: () => Promise<ModelVersion>, after: (m: ModelVersion) => void) => {
    void call().then(after, (err) => deps.showError(errorMessage(err)));
  };
  const publish = h('button', { id: 'model-publish', type: 'button', class: 'primary' }, 'Publish');
  publish.addEventListener('click', () => {
    publish.disabled = true;
    act(() => api.publish(id), () => ctx.isActive() && void rerender());
  });
  const archive = h('button', { id: 'model-archive', type: 'button' }, 'Archive');
  archive.addEventListener('click', () => {
    if (typeof window.confirm === 'function' && !window.confirm(`Archive ${model.name}? It disappears from pickers and lists.`)) return;
    archive.disabled = true;
    act(() => api.archive(id), () => ctx.isActive() && ctx.navigate('/models'));
  });
  const rerender = async () => {
    // re-run this route (same path): the simplest way to show the new state everywhere
    view.replaceChildren();
    await renderModel(ctx, api, deps);
  };

  const jobLinks = canTrain
    ? h(
        'div',
        { class: 'actions', id: 'model-job-links' },
        model.architecture === 'kdsam' ? h('a', { class: 'button', id: 'model-finetune', href: `#${jobFormPath('finetune', { model_version: id, team: model.team ?? undefined })}` }, 'Fine-tune') : null,
        h('a', { class: 'button', id: 'model-evaluate', href: `#${jobFormPath('evaluate', { model_versions: [id], team: model.team ?? undefined })}` }, 'Evaluate'),
        h('a', { class: 'button', id: 'model-export', href: `#${jobFormPath('export', { model_version: id, team: model.team ?? undefined })}` }, 'Export'),
      )
    : null;

  const params = model.parameters && typeof model.parameters === 'object' ? (model.parameters as Record<string, unknown>) : {};
  const training = model.training_data && typeof model.training_data === 'object' ? (model.training_data as Record<string, unknown>) : {};

  append(
    view,
    h('div', { class: 'studio-bar' }, h('h2', { id: 'model-name' }, `${model.name} (v${model.id})`), badge(model.state, 'model-state'), model.is_active ? h('span', { class: 'class-tag', id: 'model-default' }, 'deployment default') : null),
    model.banner ? h('p', { class: 'notice', id: 'model-banner' }, model.banner) : null,
    h(
      'div',
      { class: 'actions', id: 'model-actions' },
      canManage && model.state === 'draft' ? publish : null,
      canManage && model.state !== 'archived' && !model.is_active ? archive : null,
      !canManage ? h('span', { class: 'muted' }, model.team === null ? 'Deployment-wide versions are managed by site staff.' : 'Publishing needs the trainer or admin role in its team.') : null,
    ),
    jobLinks,
    h(
      'dl',
      { class: 'stats', id: 'model-facts' },
      ...(
        [
          ['Architecture', model.architecture],
          ['Weights', model.weights],
          ['Team', model.team === null ? 'deployment-wide' : teamName.get(model.team) ?? `team ${model.team}`],
          ['Parameters', `${paramCount(model)}${Object.keys(params).length > 1 ? ` (${Object.entries(params).filter(([k]) => k !== 'total').map(([k, v]) => `${k} ${typeof v === 'number' ? `${(v / 1e6).toFixed(2)} M` : String(v)}`).join(', ')})` : ''}`],
          ['Image size', `${model.image_size} px`],
          ['Created', new Date(model.created_at).toLocaleString()],
          ['Checkpoint SHA-256', model.checkpoint_sha256 ? `${model.checkpoint_sha256.slice(0, 16)}…` : '—'],
        ] as const
      ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
      h('dt', {}, 'Decoder'),
      h('dd', {}, h('a', { href: model.decoder_onnx_url, download: true, id: 'model-decoder' }, 'decoder.onnx'), model.decoder_onnx_int8_url ? ' · ' : '', model.decoder_onnx_int8_url ? h('a', { href: model.decoder_onnx_int8_url, download: true, id: 'model-decoder-int8' }, 'decoder_int8.onnx') : ''),
    ),
    lineageSection(model, chain, children, training),
    metricsSection(model),
  );
}

function modelLink(m: ModelVersion | number): HTMLElement {
  return typeof m === 'number'
    ? h('span', { class: 'muted' }, `v${m} (not visible)`)
    : h('a', { href: `#/models/${m.id}`, 'data-model-id': m.id }, `${m.name} (v${m.id})`);
}

function lineageSection(model: ModelVersion, chain: (ModelVersion | number)[], children: ModelVersion[], training: Record<string, unknown>): HTMLElement {
  const path = h('p', { id: 'model-lineage-path', class: 'lineage' });
  [...chain, model].forEach((m, i) => {
    if (i) path.append(' → ');
    path.append(m === model ? h('strong', {}, `${model.name} (v${model.id})`) : modelLink(m));
  });
  const items: [string, Node | string][] = [];
  if (model.teacher) items.push(['Teacher (distilled from)', `SAM ${model.teacher}`]);
  if (typeof training.dataset === 'number') {
    const what = [training.split ? `${training.split} split` : '', typeof training.items === 'number' ? `${training.items} images` : ''].filter(Boolean).join(', ');
    const link = h('a', { href: `#/datasets/${training.dataset}`, id: 'model-training-data' }, String(training.dataset_name ?? `dataset ${training.dataset}`));
    const dd = h('span', {}, link, what ? ` (${what})` : '');
    items.push(['Trained on', dd]);
  }
  if (model.job !== null) items.push(['Produced by', h('a', { href: `#/jobs/${model.job}`, id: 'model-job' }, `job #${model.job}`)]);
  if (children.length) {
    const span = h('span', { id: 'model-children' });
    children.forEach((c, i) => span.append(i ? ', ' : '', modelLink(c)));
    items.push(['Derived versions', span]);
  }
  return h(
    'section',
    { id: 'model-lineage' },
    h('h3', {}, 'Lineage'),
    path,
    items.length ? h('dl', { class: 'stats' }, ...items.flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])) : h('p', { class: 'muted' }, 'No recorded parents or training data (imported or default weights).'),
  );
}

function metricsSection(model: ModelVersion): HTMLElement {
  const rows = metricRows(model);
  const metrics = model.metrics && typeof model.metrics === 'object' ? (model.metrics as Record<string, unknown>) : {};
  const distill = metrics.distillation as { best_val_loss?: number; best_epoch?: number } | undefined;
  return h(
    'section',
    { id: 'model-metrics' },
    h('h3', {}, 'Metrics'),
    rows.length
      ? h(
          'table',
          { class: 'studio-table', id: 'model-metrics-table' },
          h('thead', {}, h('tr', {}, ...['Dataset', 'Split', 'Images', 'Dice % (95% CI)', 'IoU %', 'Job'].map((t) => h('th', {}, t)))),
          h(
            'tbody',
            {},
            ...rows.map((r) =>
              h(
                'tr',
                { 'data-dataset': r.dataset },
                h('td', {}, h('a', { href: `#/datasets/${r.dataset}` }, r.datasetName)),
                h('td', {}, r.split || '—'),
                h('td', { class: 'num' }, r.n ?? '—'),
                h('td', { class: 'num' }, `${pct(r.dice)}${r.diceLow !== null && r.diceHigh !== null ? ` [${pct(r.diceLow)}, ${pct(r.diceHigh)}]` : ''}`),
                h('td', { class: 'num' }, pct(r.iou)),
                h('td', {}, r.job !== null ? h('a', { href: `#/jobs/${r.job}` }, `#${r.job}`) : '—'),
              ),
            ),
          ),
        )
      : h('p', { class: 'muted', id: 'model-no-metrics' }, 'Not evaluated by your teams yet: start an evaluation to compare it on a dataset.'),
    rows.length ? h('p', { class: 'muted', id: 'model-metrics-scope' }, "Your teams' evaluations only: other teams' results on this version are private to them.") : null,
    distill ? h('p', { id: 'model-distillation' }, `Distillation: best validation loss ${formatNumber(distill.best_val_loss)} at epoch ${distill.best_epoch ?? '—'}.`) : null,
  );
}
