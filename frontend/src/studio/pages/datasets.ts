/**
 * Datasets section of the studio: list (+ recent upload sessions), upload (transfer + validation progress),
 * upload session page (report, choices, confirm/cancel, import progress, why it failed), dataset page.
 * A dataset exists only once its import succeeded; everything before is its upload session.
 */
import { errorMessage } from '../../api';
import type { Dataset, DatasetItemPage, DatasetReport, DatasetUpload, DatasetsApi, Split, TeamStorage, UploadState } from '../datasets-api';
import { h } from '../dom';
import {
  formatBytes,
  isSettled,
  pollUntilSettled,
  progressText,
  stageFraction,
  stateText,
} from '../progress';
import { actionText, confirmBody, groupProblems, importedCount } from '../report';
import type { RouteContext, Router } from '../router';
import { storageSection, storageText } from '../storage';
import { uploadArchive } from '../upload';
import { jobFormPath } from './job-form';

const ARCHIVE_ACCEPT = '.zip,.tar,.tar.gz,.tgz,.tar.bz2,.tar.xz';
const PROBLEMS_SHOWN_PER_GROUP = 100;
const PAGE_SIZE = 48;

export interface DatasetPagesOptions {
  /** Where page-level errors go (the studio's error box). */
  showError: (message: string) => void;
}

export function registerDatasetRoutes(router: Router, api: DatasetsApi, opts: DatasetPagesOptions): void {
  router.addNav({ label: 'Datasets', path: '/datasets' });
  router.add({ pattern: '/datasets', render: (ctx) => renderList(ctx, api) });
  router.add({ pattern: '/datasets/upload', render: (ctx) => renderUpload(ctx, api, opts) });
  router.add({ pattern: '/datasets/uploads/:id', render: (ctx) => renderUploadSession(ctx, api, opts) });
  router.add({ pattern: '/datasets/:id', render: (ctx) => renderDataset(ctx, api, opts) });
}

function stateBadge(state: UploadState | Dataset['state'], id?: string): HTMLElement {
  return h('span', { class: `state-badge state-${state}`, 'data-state': state, id }, stateText(state));
}

function progressBar(id: string, fraction: number | null): HTMLProgressElement {
  const bar = h('progress', { id, max: 1 });
  setProgress(bar, fraction);
  return bar;
}

function setProgress(bar: HTMLProgressElement, fraction: number | null): void {
  if (fraction === null) bar.removeAttribute('value');
  else bar.value = fraction;
}

// -- list ------------------------------------------------------------------------------------------
async function renderList(ctx: RouteContext, api: DatasetsApi): Promise<void> {
  const { view } = ctx;
  view.append(
    h('div', { class: 'studio-bar' }, h('h2', {}, 'Datasets'), h('a', { class: 'button', href: '#/datasets/upload', id: 'upload-link' }, 'Upload a dataset')),
  );
  const [datasets, uploads, storage] = await Promise.all([
    api.list(),
    api.uploads().catch(() => [] as DatasetUpload[]),
    api.storage().catch(() => [] as TeamStorage[]),
  ]);
  if (!ctx.isActive()) return;
  if (storage.length) view.append(storageSection(storage));
  if (datasets.length === 0) {
    view.append(h('p', { class: 'muted', id: 'dataset-list-empty' }, 'No datasets yet. Upload one as a .zip or .tar.gz archive, as you downloaded it.'));
  } else {
    const rows = datasets.map((d) =>
      h(
        'tr',
        { 'data-dataset-id': d.id },
        h('td', {}, h('a', { href: `#/datasets/${d.id}` }, d.name)),
        h('td', {}, d.team_name),
        h('td', {}, d.format || '—'),
        h('td', { class: 'num' }, d.counts ? d.counts.items : '—'),
        h('td', { class: 'num' }, d.counts ? `${d.counts.splits.train} / ${d.counts.splits.val} / ${d.counts.splits.test}` : '—'),
        h('td', {}, new Date(d.created_at).toLocaleString()),
      ),
    );
    view.append(
      h(
        'table',
        { class: 'studio-table', id: 'dataset-list' },
        h('thead', {}, h('tr', {}, ...['Name', 'Team', 'Format', 'Images', 'Train / val / test', 'Created'].map((t) => h('th', {}, t)))),
        h('tbody', {}, ...rows),
      ),
    );
  }
  if (uploads.length) view.append(uploadsSection(uploads));
}

/** Recent upload sessions with their state: where a user sees why an upload failed. */
function uploadsSection(uploads: DatasetUpload[]): HTMLElement {
  const rows = uploads.map((u) =>
    h(
      'tr',
      { 'data-upload-id': u.id, 'data-state': u.state },
      h('td', {}, h('a', { href: `#/datasets/uploads/${u.id}` }, u.name)),
      h('td', {}, u.team_name),
      h('td', {}, stateBadge(u.state)),
      h('td', { class: 'upload-reason' }, u.state === 'imported' && u.dataset ? h('a', { href: `#/datasets/${u.dataset}` }, 'open the dataset') : u.error || progressText(u)),
      h('td', {}, new Date(u.created_at).toLocaleString()),
    ),
  );
  return h(
    'section',
    { id: 'upload-sessions' },
    h('h3', {}, 'Recent uploads'),
    h(
      'table',
      { class: 'studio-table', id: 'upload-list' },
      h('thead', {}, h('tr', {}, ...['Name', 'Team', 'State', 'Details', 'Started'].map((t) => h('th', {}, t)))),
      h('tbody', {}, ...rows),
    ),
  );
}

// -- upload ----------------------------------------------------------------------------------------
async function renderUpload(ctx: RouteContext, api: DatasetsApi, opts: DatasetPagesOptions): Promise<void> {
  const { view } = ctx;
  view.append(
    h('h2', {}, 'Upload a dataset'),
    h('p', { class: 'muted' }, 'Upload the archive (.zip or .tar.gz) as you downloaded it: Kvasir-SEG, ISIC, HC18, BUSI, DICOM or a generic images/ + masks/ layout. It is validated before anything is imported.'),
  );
  const teams = (await api.teams()).filter((t) => t.role === 'trainer' || t.role === 'admin');
  if (!ctx.isActive()) return;
  if (teams.length === 0) {
    view.append(h('p', { class: 'notice', id: 'upload-no-team' }, 'Uploading datasets needs the trainer or admin role in a team; ask your team admin.'));
    return;
  }
  const team = h('select', { id: 'upload-team', name: 'team' }, ...teams.map((t) => h('option', { value: t.id }, t.name)));
  const storage = new Map((await api.storage().catch(() => [] as TeamStorage[])).map((u) => [u.team, u]));
  if (!ctx.isActive()) return;
  const teamStorage = h('span', { id: 'upload-team-storage', class: 'muted' });
  const showStorage = () => {
    const usage = storage.get(Number(team.value));
    teamStorage.textContent = usage ? storageText(usage) : '';
  };
  team.addEventListener('change', showStorage);
  showStorage();
  const name = h('input', { id: 'upload-name', name: 'name', type: 'text', maxlength: 200, placeholder: 'defaults to the file name' });
  const description = h('textarea', { id: 'upload-description', name: 'description', rows: 2, maxlength: 5000, placeholder: 'optional' });
  const file = h('input', { id: 'upload-file', name: 'file', type: 'file', accept: ARCHIVE_ACCEPT, required: true });
  const submit = h('button', { id: 'upload-submit', type: 'submit' }, 'Upload and validate');
  const form = h(
    'form',
    { id: 'dataset-upload-form', class: 'studio-form' },
    h('label', {}, 'Team ', team, ' ', teamStorage),
    h('label', {}, 'Name ', name),
    h('label', {}, 'Description ', description),
    h('label', {}, 'Archive ', file),
    submit,
  );
  const transferBar = progressBar('transfer-progress', 0);
  const transferText = h('span', { id: 'transfer-text', class: 'muted' }, '');
  const validationBar = progressBar('validation-progress', 0);
  const validationText = h('span', { id: 'validation-text', class: 'muted' }, '');
  const progressBox = h(
    'section',
    { id: 'upload-progress', class: 'progress-box', hidden: true },
    h('div', { class: 'progress-row' }, h('span', { class: 'progress-label' }, 'Transfer'), transferBar, transferText),
    h('div', { class: 'progress-row' }, h('span', { class: 'progress-label' }, 'Validation'), validationBar, validationText),
  );
  view.append(form, progressBox);

  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const chosen = file.files?.[0];
    if (!chosen) return;
    submit.disabled = true;
    progressBox.hidden = false;
    void (async () => {
      try {
        const dataset = await uploadArchive(api, chosen, chosen.name, { team: Number(team.value), name: name.value || chosen.name.replace(/\.(zip|tar(\.(gz|bz2|xz))?|tgz)$/i, ''), description: description.value }, {
          onProgress: (sent, total) => {
            setProgress(transferBar, total ? sent / total : 1);
            transferText.textContent = `${formatBytes(sent)} of ${formatBytes(total)}`;
          },
        });
        validationText.textContent = progressText(dataset);
        const settled = await pollUntilSettled(
          () => api.uploadStatus(dataset.id),
          (d) => {
            setProgress(validationBar, d.state === 'uploading' ? 0 : stageFraction(d));
            validationText.textContent = progressText(d);
          },
          { active: ctx.isActive },
        );
        if (settled && ctx.isActive()) ctx.navigate(`/datasets/uploads/${settled.id}`);
      } catch (err) {
        submit.disabled = false;
        opts.showError(errorMessage(err));
      }
    })();
  });
}

// -- one upload session ----------------------------------------------------------------------------
async function renderUploadSession(ctx: RouteContext, api: DatasetsApi, opts: DatasetPagesOptions): Promise<() => void> {
  const id = Number(ctx.params.id);
  let stopped = false;
  const active = () => !stopped && ctx.isActive();

  const draw = async (upload: DatasetUpload): Promise<void> => {
    if (upload.state === 'imported' && upload.dataset) {
      ctx.navigate(`/datasets/${upload.dataset}`);
      return;
    }
    const { view } = ctx;
    view.replaceChildren();
    view.append(
      h(
        'div',
        { class: 'studio-bar' },
        h('h2', { id: 'dataset-name' }, upload.name),
        stateBadge(upload.state, 'dataset-state'),
        h('span', { class: 'muted' }, `${upload.team_name} · ${upload.original_filename}${upload.format ? ` · ${upload.format}` : ''}`),
      ),
    );
    if (upload.state !== 'awaiting_confirmation' && !isSettled(upload.state)) {
      const bar = progressBar('dataset-progress', stageFraction(upload));
      const text = h('span', { id: 'dataset-progress-text', class: 'muted' }, progressText(upload));
      view.append(
        h('section', { class: 'progress-box' }, h('div', { class: 'progress-row' }, bar, text)),
        h('button', { id: 'cancel-dataset', type: 'button', onclick: () => void act(() => api.cancel(id)) }, 'Cancel'),
      );
      const settled = await pollUntilSettled(
        () => api.uploadStatus(id),
        (d) => {
          setProgress(bar, stageFraction(d));
          text.textContent = progressText(d);
        },
        { active },
      );
      if (settled && active()) await draw(settled);
      return;
    }
    if ((upload.state === 'failed' || upload.state === 'cancelled') && upload.error) {
      view.append(h('p', { class: 'error-message', id: 'dataset-error' }, upload.error));
    }
    if (upload.state === 'failed' || upload.state === 'cancelled') {
      view.append(h('p', { class: 'muted', id: 'nothing-kept' }, 'Nothing was imported: no dataset and no stored file remain. Fix the archive and upload it again.'));
    }
    const report = await api.uploadReport(id);
    if (!active()) return;
    if (report.report) view.append(reportSection(report, upload.state === 'awaiting_confirmation', { confirm, cancel: () => act(() => api.cancel(id)) }));
    if (upload.state === 'failed' || upload.state === 'cancelled') {
      view.append(
        h('div', { class: 'actions' },
          h('a', { class: 'button', href: '#/datasets/upload', id: 'upload-again' }, 'Upload again'),
          h('button', {
            id: 'forget-upload', type: 'button',
            onclick: () => void api.removeUpload(id).then(() => ctx.navigate('/datasets'), (err) => opts.showError(errorMessage(err))),
          }, 'Remove from the list')),
      );
    }
  };

  const act = async (call: () => Promise<DatasetUpload>) => {
    try {
      const upload = await call();
      if (active()) await draw(upload);
    } catch (err) {
      opts.showError(errorMessage(err));
    }
  };
  const confirm = (body: Parameters<DatasetsApi['confirm']>[1]) => act(() => api.confirm(id, body));

  await draw(await api.uploadStatus(id));
  return () => {
    stopped = true;
  };
}

// -- one dataset -----------------------------------------------------------------------------------
async function renderDataset(ctx: RouteContext, api: DatasetsApi, opts: DatasetPagesOptions): Promise<() => void> {
  const id = Number(ctx.params.id);
  let stopped = false;
  const active = () => !stopped && ctx.isActive();
  const dataset = await api.get(id);
  if (!active()) return () => {};
  const { view } = ctx;
  view.append(
    h(
      'div',
      { class: 'studio-bar' },
      h('h2', { id: 'dataset-name' }, dataset.name),
      stateBadge(dataset.state, 'dataset-state'),
      h('span', { class: 'muted' }, `${dataset.team_name} · ${dataset.original_filename}${dataset.format ? ` · ${dataset.format}` : ''}`),
    ),
  );
  if (dataset.description) view.append(h('p', { id: 'dataset-description' }, dataset.description));
  view.append(trainingLinks(dataset));
  view.append(countsSection(dataset));
  view.append(await gridSection(api, dataset, active));
  const report = await api.report(id).catch(() => null);
  if (!active()) return () => {};
  if (report?.report) view.append(reportSection(report, false, { confirm: async () => {}, cancel: async () => {} }));
  view.append(
    h('button', {
      id: 'delete-dataset', type: 'button', class: 'danger',
      onclick: () => {
        if (!confirmDialog(`Delete ${dataset.name} and its stored files?`)) return;
        void api.remove(id).then(() => ctx.navigate('/datasets'), (err) => opts.showError(errorMessage(err)));
      },
    }, 'Delete dataset'),
  );
  return () => {
    stopped = true;
  };
}

function confirmDialog(message: string): boolean {
  return typeof window.confirm === 'function' ? window.confirm(message) : true;
}

/** Start the method's phases on this dataset (forms prefilled with it and its team). */
function trainingLinks(dataset: Dataset): HTMLElement {
  const link = (kind: 'distill' | 'finetune' | 'evaluate' | 'embed', label: string) =>
    h('a', { class: 'button', id: `start-${kind}`, href: `#${jobFormPath(kind, { dataset: dataset.id, team: dataset.team })}` }, label);
  return h('div', { class: 'actions', id: 'dataset-job-links' },
    link('distill', 'Distil an encoder'), link('finetune', 'Fine-tune a decoder'),
    link('evaluate', 'Evaluate models'), link('embed', 'Precompute embeddings'));
}

function countsSection(dataset: Dataset): HTMLElement {
  const c = dataset.counts;
  if (!c) return h('p', {}, 'No counts.');
  const classes = Object.keys(c.classes);
  const ratio = dataset.split_ratios;
  const splitRows = (['train', 'val', 'test'] as const).map((s) =>
    h(
      'tr',
      { 'data-split': s },
      h('th', {}, s),
      h('td', { class: 'num' }, c.splits[s]),
      h('td', { class: 'num' }, `${Math.round(ratio[s] * 100)} %`),
      ...classes.map((k) => h('td', { class: 'num' }, c.split_classes[s]?.[k] ?? 0)),
    ),
  );
  return h(
    'section',
    { id: 'dataset-counts', class: 'counts' },
    h(
      'dl',
      { class: 'stats' },
      ...(
        [
          ['Images', c.items],
          ['With mask', c.pairs],
          ['Unlabelled', c.unlabelled],
          ['Negatives (empty mask)', c.negatives],
          ['Split groups', c.groups],
        ] as const
      ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
    ),
    h('h3', {}, `Split (seed ${dataset.split_seed})`),
    h(
      'table',
      { class: 'studio-table', id: 'dataset-split' },
      h('thead', {}, h('tr', {}, h('th', {}, 'split'), h('th', {}, 'images'), h('th', {}, 'target'), ...classes.map((k) => h('th', {}, k)))),
      h('tbody', {}, ...splitRows),
    ),
  );
}

async function gridSection(api: DatasetsApi, dataset: Dataset, active: () => boolean): Promise<HTMLElement> {
  let split: Split | '' = '';
  let page = 1;
  const grid = h('div', { id: 'thumbnail-grid', class: 'thumb-grid' });
  const info = h('span', { class: 'muted', id: 'grid-info' });
  const prev = h('button', { type: 'button', id: 'grid-prev' }, '‹ Previous');
  const next = h('button', { type: 'button', id: 'grid-next' }, 'Next ›');
  const overlay = h('input', { type: 'checkbox', id: 'overlay-toggle', checked: true });
  const section = h(
    'section',
    { class: 'grid-section' },
    h(
      'div',
      { class: 'grid-bar' },
      h('label', {}, 'Split ', h('select', { id: 'grid-split', onchange: (ev: Event) => { split = (ev.target as HTMLSelectElement).value as Split | ''; page = 1; void load(); } },
        h('option', { value: '' }, 'all'), h('option', { value: 'train' }, 'train'), h('option', { value: 'val' }, 'val'), h('option', { value: 'test' }, 'test'))),
      h('label', {}, overlay, ' mask overlay'),
      prev,
      next,
      info,
    ),
    grid,
  );
  overlay.addEventListener('change', () => grid.classList.toggle('no-overlay', !overlay.checked));
  prev.addEventListener('click', () => { page = Math.max(1, page - 1); void load(); });
  next.addEventListener('click', () => { page += 1; void load(); });

  const load = async () => {
    const result: DatasetItemPage = await api.items(dataset.id, { split, page, pageSize: PAGE_SIZE });
    if (!active()) return;
    const pages = Math.max(1, Math.ceil(result.count / result.page_size));
    prev.disabled = page <= 1;
    next.disabled = page >= pages;
    info.textContent = `${result.count} images · page ${page} of ${pages}`;
    grid.replaceChildren(
      ...result.results.map((item) =>
        h(
          'figure',
          { class: 'thumb', 'data-item-id': item.item_id, 'data-split': item.split },
          h(
            'a',
            { href: item.image_url, target: '_blank', class: 'thumb-stack', title: `${item.item_id} (${item.width}×${item.height})` },
            h('img', { src: item.thumbnail_url, alt: item.item_id, loading: 'lazy' }),
            item.mask_thumbnail_url ? h('img', { src: item.mask_thumbnail_url, alt: '', class: 'thumb-mask', loading: 'lazy' }) : null,
          ),
          h(
            'figcaption',
            {},
            h('span', { class: 'thumb-id' }, item.item_id),
            h('span', { class: `split-tag split-${item.split}` }, item.split),
            item.class_label ? h('span', { class: 'class-tag' }, item.class_label) : null,
            item.unlabelled ? h('span', { class: 'flag' }, 'unlabelled') : null,
            item.negative ? h('span', { class: 'flag' }, 'negative') : null,
          ),
        ),
      ),
    );
  };
  await load();
  return section;
}

interface ReportActions {
  confirm: (body: Parameters<DatasetsApi['confirm']>[1]) => Promise<void>;
  cancel: () => Promise<void>;
}

function reportSection(data: DatasetReport, awaiting: boolean, actions: ReportActions): HTMLElement {
  const report = data.report!;
  const size = report.image_size;
  const summary = h(
    'dl',
    { class: 'stats', id: 'report-summary' },
    ...(
      [
        ['Format', report.format_title ?? report.format ?? 'not recognised'],
        ['Images found', report.images],
        ['Image + mask pairs', report.pairs],
        ['Unlabelled images', report.unlabelled],
        ['Negatives (empty mask)', report.negatives],
        ['Skipped', report.skipped],
        ['Image sizes', size ? `${size.min_width}–${size.max_width} × ${size.min_height}–${size.max_height} px` : '—'],
        ['Classes', Object.entries(report.class_counts).map(([k, v]) => `${k}: ${v}`).join(', ') || '—'],
      ] as const
    ).flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]),
  );
  const groups = groupProblems(report.problems);
  const problemList = h(
    'div',
    { id: 'problem-list' },
    groups.length === 0 ? h('p', { class: 'ok', id: 'no-problems' }, 'No problems found.') : null,
    ...groups.map((g) =>
      h(
        'details',
        { class: `problem-group ${g.blocking ? 'blocking' : 'skippable'}`, 'data-code': g.code, open: g.blocking || groups.length === 1 },
        h('summary', {}, h('code', {}, g.code), ` × ${g.problems.length} — ${actionText(g.action)}`),
        h(
          'ul',
          {},
          ...g.problems.slice(0, PROBLEMS_SHOWN_PER_GROUP).map((p) => h('li', { class: 'problem', 'data-path': p.path }, h('code', {}, p.path), ' ', p.message)),
          g.problems.length > PROBLEMS_SHOWN_PER_GROUP ? h('li', { class: 'muted' }, `… and ${g.problems.length - PROBLEMS_SHOWN_PER_GROUP} more`) : null,
        ),
      ),
    ),
  );
  const section = h(
    'section',
    { id: 'dataset-report', class: 'report' },
    h('h3', {}, report.importable ? 'Validation report' : 'Validation report — cannot be imported'),
    summary,
    h('h4', {}, `Problems (${report.problems.length})`),
    problemList,
  );
  if (!awaiting) {
    return h('details', { class: 'report-details', open: !report.importable }, h('summary', {}, 'Validation report'), section);
  }
  const boxes = data.choices.map((c) =>
    h(
      'label',
      { class: 'choice' },
      h('input', { type: 'checkbox', name: 'choice', value: c.code }),
      ` ${c.code} (${c.count}): instead of “${c.default}”, ${c.alternative}`,
    ),
  );
  const confirmButton = h('button', { id: 'confirm-import', type: 'button', class: 'primary' }, `Import ${importedCount(report)} images`);
  confirmButton.addEventListener('click', () => {
    confirmButton.disabled = true;
    const chosen = boxes.map((b) => b.querySelector('input')!).filter((i) => i.checked).map((i) => i.value);
    void actions.confirm(confirmBody(data.choices, chosen)).finally(() => {
      confirmButton.disabled = false;
    });
  });
  section.append(
    boxes.length ? h('fieldset', { id: 'skip-choices' }, h('legend', {}, 'Your choices for skippable problems'), ...boxes) : '',
    h('div', { class: 'actions' }, confirmButton, h('button', { id: 'cancel-import', type: 'button', onclick: () => void actions.cancel() }, 'Cancel')),
  );
  return section;
}
