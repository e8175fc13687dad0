/**
 * A team's storage on the datasets page: "x GB of y GB used" with a bar, from GET /api/datasets/storage/
 * (docs/api-datasets.md#storage-quota). Uploads that would pass the quota are refused by the server
 * (413 team_quota_exceeded); this only shows where a team stands.
 */
import type { TeamStorage } from '../api-types';
import { h } from './dom';
import { formatBytes } from './progress';

export type { TeamStorage };

/** Share of the quota used, 0..1 (capped), or null when the team has no quota. */
export function storageFraction(usage: Pick<TeamStorage, 'used_bytes' | 'quota_bytes'>): number | null {
  if (usage.quota_bytes === null) return null;
  if (usage.quota_bytes <= 0) return 1;
  return Math.min(1, usage.used_bytes / usage.quota_bytes);
}

/** e.g. "3.5 GB of 100.0 GB used", or "3.5 GB used (no quota)". */
export function storageText(usage: Pick<TeamStorage, 'used_bytes' | 'quota_bytes'>): string {
  if (usage.quota_bytes === null) return `${formatBytes(usage.used_bytes)} used (no quota)`;
  return `${formatBytes(usage.used_bytes)} of ${formatBytes(usage.quota_bytes)} used`;
}

export type StorageLevel = 'ok' | 'high' | 'full';

/** `full` once nothing more fits, `high` from 90 %. */
export function storageLevel(usage: Pick<TeamStorage, 'used_bytes' | 'quota_bytes'>): StorageLevel {
  const fraction = storageFraction(usage);
  if (fraction === null) return 'ok';
  if (usage.quota_bytes !== null && usage.used_bytes >= usage.quota_bytes) return 'full';
  return fraction >= 0.9 ? 'high' : 'ok';
}

/** What the bytes are (tooltip and details line): only the parts that hold something. */
export function storageBreakdown(usage: TeamStorage): string {
  const parts: [string, number][] = [
    ['datasets', usage.datasets_bytes],
    ['images', usage.images_bytes],
    ['model versions', usage.models_bytes],
    ['unfinished uploads', usage.uploads_bytes],
  ];
  const held = parts.filter(([, bytes]) => bytes > 0).map(([label, bytes]) => `${label} ${formatBytes(bytes)}`);
  return held.length ? held.join(' · ') : 'nothing stored yet';
}

/** The advice shown once a team's quota is used up (the server's 413 message says the same). */
export const FULL_TEXT = 'The storage quota is used up: uploads are refused. Delete datasets or images the team no longer needs, or ask an admin to raise the quota.';

/** One row per team: name, "x of y used", a bar, what the bytes are. */
export function storageSection(usages: TeamStorage[]): HTMLElement {
  const rows = usages.map((u) => {
    const fraction = storageFraction(u);
    const level = storageLevel(u);
    const bar = h('progress', { class: 'storage-bar', max: 1, 'aria-label': `Storage of ${u.team_name}` });
    if (fraction === null) bar.hidden = true;
    else bar.value = fraction;
    return h(
      'div',
      { class: `storage-row storage-${level}`, 'data-team-id': u.team, 'data-level': level, title: storageBreakdown(u) },
      h('span', { class: 'storage-team' }, u.team_name),
      bar,
      h('span', { class: 'storage-text' }, storageText(u)),
      h('span', { class: 'muted storage-parts' }, storageBreakdown(u)),
      level === 'full' ? h('p', { class: 'notice storage-advice' }, FULL_TEXT) : null,
    );
  });
  return h('section', { id: 'team-storage', class: 'storage' }, h('h3', {}, 'Storage'), ...rows);
}
