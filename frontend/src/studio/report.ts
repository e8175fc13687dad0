/** Turning a validation report into what the page shows and the confirm request the user chose. */
import type { ConfirmRequest, DatasetReport } from './datasets-api';

export type Problem = NonNullable<DatasetReport['report']>['problems'][number];
export type SkipChoice = DatasetReport['choices'][number];

export interface ProblemGroup {
  code: string;
  blocking: boolean;
  action: string;
  problems: Problem[];
}

const ACTION_TEXT: Record<string, string> = {
  fix_and_retry: 'blocks the import: fix the files and upload again',
  import_unlabelled: 'imported without a mask',
  ignore_file: 'file ignored',
  skip_sample: 'sample skipped',
  keep_as_negative: 'kept as a negative (empty mask)',
  binarise: 'mask binarised',
  skip_duplicate: 'later copy skipped',
  rename: 'renamed',
};

export function actionText(action: string): string {
  return ACTION_TEXT[action] ?? action;
}

/** Problems grouped by code: blocking groups first, then larger groups, then by code. */
export function groupProblems(problems: Problem[]): ProblemGroup[] {
  const groups = new Map<string, ProblemGroup>();
  for (const p of problems) {
    let group = groups.get(p.code);
    if (!group) {
      group = { code: p.code, blocking: p.blocking, action: p.action, problems: [] };
      groups.set(p.code, group);
    }
    group.problems.push(p);
  }
  return [...groups.values()].sort(
    (a, b) => Number(b.blocking) - Number(a.blocking) || b.problems.length - a.problems.length || a.code.localeCompare(b.code),
  );
}

/** The confirm body for the alternatives the user ticked (codes of `choices`). */
export function confirmBody(choices: SkipChoice[], chosen: Iterable<string>): ConfirmRequest {
  const picked = new Set(chosen);
  const skip = choices.filter((c) => c.field === 'skip' && picked.has(c.code)).map((c) => c.code) as ConfirmRequest['skip'];
  const keep = choices.some((c) => c.field === 'keep_duplicates' && picked.has(c.code));
  return { skip, keep_duplicates: keep };
}

/** How many images the import keeps, before the user's extra skips. */
export function importedCount(report: NonNullable<DatasetReport['report']>): number {
  return report.pairs + report.unlabelled;
}
