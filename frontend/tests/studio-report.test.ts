import { describe, expect, it } from 'vitest';
import { formatBytes, isSettled, progressText, stageFraction } from '../src/studio/progress';
import { confirmBody, groupProblems, type Problem, type SkipChoice } from '../src/studio/report';

function problem(code: string, path: string, blocking = false, action = 'skip_sample'): Problem {
  return { code, path, message: `${path} is wrong`, blocking, skippable: !blocking, action, sample_id: null } as Problem;
}

describe('validation report', () => {
  it('groups problems by code, blocking first, then by size', () => {
    const groups = groupProblems([
      problem('empty_mask', 'masks/a.png', false, 'keep_as_negative'),
      problem('size_mismatch', 'masks/b.png'),
      problem('empty_mask', 'masks/c.png', false, 'keep_as_negative'),
      problem('archive_path_traversal', '../evil.png', true, 'fix_and_retry'),
    ]);
    expect(groups.map((g) => [g.code, g.problems.length])).toEqual([
      ['archive_path_traversal', 1],
      ['empty_mask', 2],
      ['size_mismatch', 1],
    ]);
    expect(groups[1].problems.map((p) => p.path)).toEqual(['masks/a.png', 'masks/c.png']);
  });

  it('builds the confirm request from the ticked alternatives', () => {
    const choices: SkipChoice[] = [
      { code: 'image_without_mask', count: 3, default: 'import', alternative: 'skip', field: 'skip' },
      { code: 'empty_mask', count: 1, default: 'keep', alternative: 'skip', field: 'skip' },
      { code: 'duplicate_image', count: 2, default: 'skip copy', alternative: 'keep', field: 'keep_duplicates' },
    ];
    expect(confirmBody(choices, [])).toEqual({ skip: [], keep_duplicates: false });
    expect(confirmBody(choices, ['empty_mask', 'duplicate_image', 'unknown'])).toEqual({ skip: ['empty_mask'], keep_duplicates: true });
  });
});

describe('progress', () => {
  const base = { upload_size: 100, upload_received: 40, progress: { stage: 'checking', done: 30, total: 120 } };

  it('reports the transfer while uploading and the stage afterwards', () => {
    expect(stageFraction({ ...base, state: 'uploading' })).toBe(0.4);
    expect(stageFraction({ ...base, state: 'validating' })).toBe(0.25);
    expect(stageFraction({ ...base, state: 'validating', progress: { stage: 'extracting', done: 0, total: 0 } })).toBeNull();
    expect(stageFraction({ ...base, state: 'ready' })).toBe(1);
    expect(progressText({ ...base, state: 'validating' })).toBe('Validating: checking images and masks (30 / 120)');
    expect(progressText({ ...base, state: 'importing', progress: { stage: 'extracting', done: 0, total: 0 } })).toBe(
      'Importing: extracting the archive…',
    );
  });

  it('knows which states end polling and formats sizes', () => {
    expect(['awaiting_confirmation', 'imported', 'ready', 'failed', 'cancelled'].every((s) => isSettled(s as never))).toBe(true);
    expect(isSettled('importing')).toBe(false);
    expect(isSettled('validating')).toBe(false);
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(3 * 1024 ** 3)).toBe('3.0 GB');
  });
});
