/**
 * Forms that start jobs, generated from GET /api/jobs/schemas/ with the paper's defaults shown.
 *
 * Paths: `/jobs/new` (choose a kind) and `/jobs/new/:kind?dataset=5&model_version=3` (prefilled).
 * Other sections link here with `jobFormPath(kind, {dataset})`.
 */
import { ApiRequestError, errorMessage } from '../../api';
import type { Dataset, ModelVersion, TeamMembership } from '../../api-types';
import { h } from '../dom';
import type { FieldSchema, JobPagesDeps, JobsApi, KindSchema } from '../jobs-client';
import { JOB_KINDS, TRAINING_ROLES, type JobKind } from '../jobs-state';
import { KIND_TEXT } from '../jobs-text';
import { hashQuery, type RouteContext } from '../router';

export interface JobFormPrefill {
  dataset?: number;
  model_version?: number;
  model_versions?: number[];
  team?: number;
}

/** Studio path of the form that starts a `kind` job, prefilled (`#${path}` for an href). */
export function jobFormPath(kind: JobKind, prefill: JobFormPrefill = {}): string {
  const q = new URLSearchParams();
  if (prefill.team) q.set('team', String(prefill.team));
  if (prefill.dataset) q.set('dataset', String(prefill.dataset));
  if (prefill.model_version) q.set('model_version', String(prefill.model_version));
  if (prefill.model_versions?.length) q.set('model_versions', prefill.model_versions.join(','));
  const s = q.toString();
  return `/jobs/new/${encodeURIComponent(kind)}${s ? `?${s}` : ''}`;
}

/** The prefill a form path carries. */
export function parsePrefill(query: URLSearchParams): JobFormPrefill {
  const id = (v: string | null) => (v && /^\d+$/.test(v) ? Number(v) : undefined);
  const list = (query.get('model_versions') ?? '').split(',').map((v) => id(v.trim())).filter((v): v is number => v !== undefined);
  return {
    team: id(query.get('team')),
    dataset: id(query.get('dataset')),
    model_version: id(query.get('model_version')),
    model_versions: list.length ? list : undefined,
  };
}

// -- values ----------------------------------------------------------------------------------------

/** What a form control holds: text, a checkbox, or the ticked ids of a multi-picker. */
export type RawValue = string | boolean | string[];

/** The default as the form shows it ("0.0001", "yes", "mse+perceptual"). */
export function displayDefault(field: Pick<FieldSchema, 'default' | 'type'>): string {
  const v = field.default;
  if (v === null || v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'yes' : 'no';
  if (Array.isArray(v)) return v.join(', ');
  return String(v);
}

/** The control's initial value: the prefill, else the default. */
export function initialRaw(field: FieldSchema, prefill: JobFormPrefill = {}): RawValue {
  const pre = (prefill as Record<string, unknown>)[field.name];
  if (field.type === 'bool') return typeof field.default === 'boolean' ? field.default : false;
  if (field.type === 'list') {
    if (Array.isArray(pre)) return pre.map(String);
    return Array.isArray(field.default) ? field.default.map(String) : [];
  }
  if (pre !== undefined && pre !== null) return String(pre);
  return field.default === null || field.default === undefined ? '' : String(field.default);
}

export type Coerced = { ok: true; value: unknown; omit?: boolean } | { ok: false; error: string };

function quote(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : String(v);
}

/**
 * A control's value as the API wants it, or the message shown next to the field. Mirrors the
 * server's checks (webapp/jobs/params.py), which stay authoritative. An empty optional field is
 * omitted (the server fills its default).
 */
export function coerceField(field: FieldSchema, raw: RawValue): Coerced {
  if (field.type === 'bool') {
    return typeof raw === 'boolean' ? { ok: true, value: raw } : { ok: false, error: 'must be yes or no' };
  }
  if (field.type === 'list') {
    const items = Array.isArray(raw) ? raw : String(raw).split(',');
    const cleaned = items.map((v) => v.trim()).filter((v) => v !== '');
    if (cleaned.length === 0) {
      if (field.required) return { ok: false, error: field.kind === 'model_versions' ? 'choose at least one model version' : 'is required' };
      return { ok: true, value: undefined, omit: true };
    }
    const bad = cleaned.find((v) => !/^\d+$/.test(v));
    if (bad !== undefined) return { ok: false, error: `must be a list of ids, got ${quote(bad)}` };
    return { ok: true, value: cleaned.map(Number) };
  }
  const text = Array.isArray(raw) ? raw.join(',') : String(raw).trim();
  if (text === '') {
    if (field.required) return { ok: false, error: field.kind ? `choose a ${field.kind.replace('_', ' ')}` : 'is required' };
    return { ok: true, value: undefined, omit: true };
  }
  let value: unknown = text;
  if (field.type === 'int') {
    if (!/^[+-]?\d+$/.test(text)) return { ok: false, error: `must be an integer, got ${quote(text)}` };
    value = Number(text);
  } else if (field.type === 'float') {
    const n = Number(text);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(text) || !Number.isFinite(n)) return { ok: false, error: `must be a number, got ${quote(text)}` };
    value = n;
  }
  if (field.choices.length && !field.choices.map(String).includes(String(value))) {
    return { ok: false, error: `${quote(value)} is not one of ${field.choices.join(', ')}` };
  }
  if (typeof value === 'number') {
    if (field.minimum !== null && value < field.minimum) return { ok: false, error: `must be at least ${field.minimum}, got ${value}` };
    if (field.maximum !== null && value > field.maximum) return { ok: false, error: `must be at most ${field.maximum}, got ${value}` };
  }
  return { ok: true, value };
}

/** All fields: the params to submit, or the messages by field name. */
export function collectParams(fields: FieldSchema[], raws: Record<string, RawValue>): { params: Record<string, unknown>; errors: Record<string, string> } {
  const params: Record<string, unknown> = {};
  const errors: Record<string, string> = {};
  for (const field of fields) {
    const result = coerceField(field, raws[field.name] ?? (field.type === 'bool' ? false : ''));
    if (!result.ok) errors[field.name] = result.error;
    else if (!result.omit) params[field.name] = result.value;
  }
  return { params, errors };
}

/** The server's message without the "field: " prefix it starts with. */
export function fieldMessage(err: ApiRequestError): string {
  return err.field && err.message.startsWith(`${err.field}: `) ? err.message.slice(err.field.length + 2) : err.message;
}

/** Label of a parameter: `early_stopping_patience` → "Early stopping patience". */
export function fieldLabel(name: string): string {
  const text = name.replace(/_/g, ' ');
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function modelLabel(m: ModelVersion): string {
  const flags = [m.state !== 'published' ? m.state : '', m.weights === 'random' ? 'random weights' : '', m.is_active ? 'default' : ''].filter(Boolean);
  return `${m.name} (v${m.id}, ${m.architecture}${flags.length ? `, ${flags.join(', ')}` : ''})`;
}

// -- pages -----------------------------------------------------------------------------------------

export async function renderKindChooser(ctx: RouteContext, api: JobsApi): Promise<void> {
  const schemas = await api.schemas();
  if (!ctx.isActive()) return;
  const query = hashQuery();
  const prefill = parsePrefill(query);
  ctx.view.append(
    h('div', { class: 'studio-bar' }, h('h2', {}, 'New job'), h('a', { href: '#/jobs', class: 'button' }, 'Back to jobs')),
    h(
      'ul',
      { class: 'kind-list', id: 'job-kinds' },
      ...JOB_KINDS.filter((k) => schemas[k]).map((k) =>
        h(
          'li',
          { 'data-kind': k },
          h('a', { href: `#${jobFormPath(k, prefill)}`, id: `kind-${k}`, class: 'button' }, KIND_TEXT[k]),
          ' ',
          h('span', { class: 'muted' }, `${schemas[k].description} (${schemas[k].queue} queue)`),
        ),
      ),
    ),
  );
}

export async function renderJobForm(ctx: RouteContext, deps: JobPagesDeps & { api: JobsApi }): Promise<void> {
  const { api } = deps;
  const kind = ctx.params.kind as JobKind;
  const prefill = parsePrefill(hashQuery());
  const [schemas, teams, models, datasets] = await Promise.all([
    api.schemas(),
    api.teams(),
    api.models(true),
    api.datasets({ state: 'ready' }).catch(() => [] as Dataset[]),
  ]);
  if (!ctx.isActive()) return;
  const schema: KindSchema | undefined = schemas[kind];
  const { view } = ctx;
  if (!schema) {
    view.append(h('p', { class: 'error-message', id: 'job-form-unknown' }, `There is no job kind “${kind}”.`), h('a', { href: '#/jobs/new' }, 'Choose a kind'));
    return;
  }
  view.append(
    h('div', { class: 'studio-bar' }, h('h2', { id: 'job-form-title' }, `New job: ${KIND_TEXT[kind] ?? kind}`), h('a', { href: '#/jobs/new', class: 'button' }, 'Other kinds')),
    h('p', { class: 'muted', id: 'job-form-description' }, `${schema.description} Runs on the ${schema.queue} queue. Defaults are the paper's settings.`),
  );
  const trainTeams = teams.filter((t: TeamMembership) => TRAINING_ROLES.includes(t.role));
  if (trainTeams.length === 0) {
    view.append(h('p', { class: 'notice', id: 'job-form-no-team' }, 'Starting jobs needs the trainer or admin role in a team; ask your team admin.'));
    return;
  }
  const usableModels = models.filter((m) => m.state !== 'archived');
  const datasetTeam = prefill.dataset ? datasets.find((d) => d.id === prefill.dataset)?.team : undefined;
  const modelTeam = prefill.model_version ? usableModels.find((m) => m.id === prefill.model_version)?.team ?? undefined : undefined;
  const preferred = [prefill.team, datasetTeam, modelTeam].find((t) => t !== undefined && trainTeams.some((x) => x.id === t));

  const team = h('select', { id: 'job-team', name: 'team' }, ...trainTeams.map((t) => h('option', { value: t.id, selected: t.id === preferred }, `${t.name} (${t.role})`)));
  const priority = h('input', { id: 'job-priority', name: 'priority', type: 'number', min: 0, max: 9, step: 1, value: 0 });
  const errorsById = new Map<string, HTMLElement>();
  const readers = new Map<string, () => RawValue>();
  const datasetSelects: { select: HTMLSelectElement; field: FieldSchema }[] = [];

  const fillDatasets = () => {
    const teamId = Number(team.value);
    for (const { select, field } of datasetSelects) {
      const current = select.value || initialRaw(field, prefill);
      const mine = datasets.filter((d) => d.team === teamId);
      select.replaceChildren(
        h('option', { value: '' }, mine.length ? '— choose a dataset —' : '— no ready dataset in this team —'),
        ...mine.map((d) => h('option', { value: d.id, selected: String(d.id) === current }, `${d.name} (#${d.id}${d.counts ? `, ${d.counts.items} images` : ''})`)),
      );
    }
  };

  const rows = schema.fields.map((field) => {
    const id = `param-${field.name}`;
    const initial = initialRaw(field, prefill);
    let control: HTMLElement;
    if (field.kind === 'dataset') {
      const select = h('select', { id, name: field.name });
      datasetSelects.push({ select, field });
      readers.set(field.name, () => select.value);
      control = select;
    } else if (field.kind === 'model_version') {
      const fallback = usableModels.find((m) => m.is_active)?.id;
      const chosen = typeof initial === 'string' && initial ? initial : fallback !== undefined ? String(fallback) : '';
      const select = h(
        'select',
        { id, name: field.name },
        h('option', { value: '' }, '— choose a model version —'),
        ...usableModels.map((m) => h('option', { value: m.id, selected: String(m.id) === chosen }, modelLabel(m))),
      );
      readers.set(field.name, () => select.value);
      control = select;
    } else if (field.kind === 'model_versions') {
      const ticked = new Set(Array.isArray(initial) ? initial : []);
      const boxes = usableModels.map((m) => h('input', { type: 'checkbox', name: field.name, value: m.id, checked: ticked.has(String(m.id)) }));
      readers.set(field.name, () => boxes.filter((b) => b.checked).map((b) => b.value));
      control = h(
        'div',
        { id, class: 'model-picker' },
        ...usableModels.map((m, i) => h('label', { class: 'choice' }, boxes[i], ` ${modelLabel(m)}`)),
        usableModels.length === 0 ? h('span', { class: 'muted' }, 'No model versions.') : null,
      );
    } else if (field.type === 'bool') {
      const box = h('input', { id, name: field.name, type: 'checkbox', checked: initial === true });
      readers.set(field.name, () => box.checked);
      control = box;
    } else if (field.choices.length) {
      const select = h('select', { id, name: field.name }, ...field.choices.map((c) => h('option', { value: c, selected: String(c) === initial }, String(c))));
      readers.set(field.name, () => select.value);
      control = select;
    } else {
      const input = h('input', {
        id, name: field.name, type: 'text', value: typeof initial === 'string' ? initial : '',
        inputmode: field.type === 'int' ? 'numeric' : field.type === 'float' ? 'decimal' : null,
        placeholder: displayDefault(field),
      });
      readers.set(field.name, () => input.value);
      control = input;
    }
    const error = h('span', { class: 'field-error', id: `error-${field.name}`, role: 'alert' });
    errorsById.set(field.name, error);
    const range = field.minimum !== null || field.maximum !== null ? ` · range ${field.minimum ?? '−∞'}…${field.maximum ?? '∞'}` : '';
    const def = field.required ? 'required' : `default ${displayDefault(field)}`;
    return h(
      'div',
      { class: 'form-field', 'data-field': field.name },
      h('label', { for: id }, fieldLabel(field.name)),
      control,
      h('small', { class: 'muted' }, `${field.help} · ${def}${range}`),
      error,
    );
  });

  const submit = h('button', { id: 'job-submit', type: 'submit', class: 'primary' }, 'Start job');
  const formError = h('p', { class: 'error-message', id: 'job-form-error', hidden: true });
  const form = h(
    'form',
    { id: 'job-form', class: 'studio-form', 'data-kind': kind, novalidate: true },
    h('label', {}, 'Team ', team),
    h('label', {}, 'Priority (0–9, higher runs first) ', priority),
    ...rows,
    formError,
    submit,
  );
  view.append(form);
  fillDatasets();
  team.addEventListener('change', fillDatasets);

  const showErrors = (errors: Record<string, string>) => {
    for (const [name, el] of errorsById) {
      el.textContent = errors[name] ?? '';
      el.closest('.form-field')?.classList.toggle('invalid', !!errors[name]);
    }
  };

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    formError.hidden = true;
    const raws: Record<string, RawValue> = {};
    for (const [name, read] of readers) raws[name] = read();
    const { params, errors } = collectParams(schema.fields, raws);
    const prio = coerceField({ name: 'priority', type: 'int', required: false, default: 0, help: '', choices: [], minimum: 0, maximum: 9, kind: null }, priority.value);
    showErrors(errors);
    if (!prio.ok) {
      formError.textContent = `Priority ${prio.error}`;
      formError.hidden = false;
    }
    if (Object.keys(errors).length || !prio.ok) return;
    submit.disabled = true;
    void api
      .submit({ team: Number(team.value), kind, params, priority: prio.omit ? 0 : (prio.value as number) })
      .then(
        (job) => {
          if (ctx.isActive()) ctx.navigate(`/jobs/${job.id}`);
        },
        (err) => {
          submit.disabled = false;
          if (err instanceof ApiRequestError && err.field && errorsById.has(err.field)) {
            showErrors({ [err.field]: fieldMessage(err) });
            errorsById.get(err.field)?.scrollIntoView?.({ block: 'center' });
          } else {
            formError.textContent = errorMessage(err);
            formError.hidden = false;
          }
        },
      );
  });
}

// -- styles of the jobs and models pages (kept here: studio.css belongs to the studio shell) -------
const STYLES = `
.state-badge.state-queued { background: #e0e7ff; color: #3730a3; }
.state-badge.state-running { background: #dbeafe; color: #1e40af; }
.state-badge.state-succeeded { background: #d1fae5; color: #065f46; }
.model-state-draft { background: #fef3c7; color: #92400e; }
.model-state-published { background: #d1fae5; color: #065f46; }
.live-badge { font-size: 0.85rem; }
.live-badge[data-live='true'] { color: #047857; }
a.button.primary { background: #2563eb; border-color: #2563eb; color: #fff; }
.job-bar { width: 8rem; vertical-align: middle; }
.job-progress-cell { min-width: 16rem; }
.job-charts .chart-row { display: flex; flex-wrap: wrap; gap: 1rem; }
.job-charts figure.chart { margin: 0; background: #fff; border-radius: 8px; padding: 0.5rem; }
.chart-legend { list-style: none; display: flex; flex-wrap: wrap; gap: 0.3rem 1rem; padding: 0; margin: 0.2rem 0 0; font-size: 0.85rem; }
.job-log { max-height: 20rem; overflow: auto; background: #111827; color: #e5e7eb; padding: 0.6rem; border-radius: 6px; font-size: 0.8rem; }
.job-figures { display: flex; flex-wrap: wrap; gap: 1rem; }
.job-figures figure { margin: 0; max-width: 100%; }
.job-figures img { background: #fff; max-width: 100%; }
.form-field { display: flex; flex-direction: column; gap: 0.15rem; }
.form-field > label { font-weight: 600; }
.form-field small { font-size: 0.8rem; }
.form-field.invalid input, .form-field.invalid select { border-color: #dc2626; outline: 1px solid #dc2626; }
.field-error { color: #b91c1c; font-size: 0.85rem; }
.field-error:empty { display: none; }
.model-picker { display: flex; flex-direction: column; gap: 0.2rem; }
.kind-list { list-style: none; padding: 0; display: flex; flex-direction: column; gap: 0.6rem; }
.kind-list .button { display: inline-block; min-width: 13rem; }
.lineage a, .lineage strong { white-space: nowrap; }
pre.json { max-height: 16rem; overflow: auto; background: #fff; padding: 0.5rem; font-size: 0.8rem; }
`;

/** Adds the jobs/models pages' styles once (no-op outside a browser). */
export function ensureJobStyles(doc: Document | undefined = typeof document === 'undefined' ? undefined : document): void {
  if (!doc || doc.getElementById('studio-jobs-style')) return;
  const style = doc.createElement('style');
  style.id = 'studio-jobs-style';
  style.textContent = STYLES;
  doc.head.append(style);
}
