import { describe, expect, it } from 'vitest';
import type { TeamStorage } from '../src/api-types';
import { storageBreakdown, storageFraction, storageLevel, storageText } from '../src/studio/storage';

const GB = 1024 ** 3;

function usage(over: Partial<TeamStorage> = {}): TeamStorage {
  return {
    team: 1, team_name: 'Radiology', used_bytes: 0, quota_bytes: 100 * GB, remaining_bytes: 100 * GB, quota_source: 'default',
    datasets_bytes: 0, images_bytes: 0, models_bytes: 0, uploads_bytes: 0, ...over,
  };
}

describe('team storage on the datasets page', () => {
  it('says how much of the quota is used', () => {
    expect(storageText(usage({ used_bytes: 3.5 * GB }))).toBe('3.5 GB of 100.0 GB used');
    expect(storageText(usage({ used_bytes: 512 }))).toBe('512 B of 100.0 GB used');
    expect(storageText(usage({ used_bytes: 2 * GB, quota_bytes: null, remaining_bytes: null }))).toBe('2.0 GB used (no quota)');
  });

  it('fills the bar with the share used, capped when over the quota, and none without a quota', () => {
    expect(storageFraction(usage({ used_bytes: 25 * GB }))).toBe(0.25);
    expect(storageFraction(usage({ used_bytes: 120 * GB }))).toBe(1);
    expect(storageFraction(usage({ used_bytes: 5, quota_bytes: 0 }))).toBe(1);
    expect(storageFraction(usage({ quota_bytes: null }))).toBeNull();
  });

  it('warns from 90 % and once nothing more fits', () => {
    expect(storageLevel(usage({ used_bytes: 89 * GB }))).toBe('ok');
    expect(storageLevel(usage({ used_bytes: 90 * GB }))).toBe('high');
    expect(storageLevel(usage({ used_bytes: 100 * GB }))).toBe('full');
    expect(storageLevel(usage({ used_bytes: 500 * GB, quota_bytes: null }))).toBe('ok');
  });

  it('lists what the bytes are, leaving out empty parts', () => {
    expect(storageBreakdown(usage({ datasets_bytes: 3 * GB, uploads_bytes: 1024 }))).toBe('datasets 3.0 GB · unfinished uploads 1.0 KB');
    expect(storageBreakdown(usage({ images_bytes: 2048, models_bytes: 5 * 1024 ** 2 }))).toBe('images 2.0 KB · model versions 5.0 MB');
    expect(storageBreakdown(usage())).toBe('nothing stored yet');
  });
});
