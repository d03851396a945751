import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { ensureConfigured, ninja, prepare, type BuildOptions } from './build.ts';
import { configureFlags, readBuildConfig } from './config.ts';
import { IohangError } from './errors.ts';
import { statePaths, workspacePaths } from './paths.ts';
import { BASE_TAG, describeApplyFailure, git } from './tree.ts';

export type Verdict = 'ok' | 'FAIL' | 'skipped';

export interface SeriesCheckRow {
  index: number;
  file: string;
  subject: string;
  applies: Verdict;
  compiles: Verdict;
  /** e.g. "ok", "2 warnings", "1 errors" */
  checkpatch: string;
  checkpatchOk: boolean;
  detail?: string;
}

/** checkpatch's summary line: "total: 0 errors, 1 warnings, 20 lines checked". */
export function parseCheckpatchTotals(output: string): { errors: number; warnings: number } | undefined {
  const m = /total: (\d+) errors?, (\d+) warnings?/.exec(output);
  return m ? { errors: Number(m[1]), warnings: Number(m[2]) } : undefined;
}

/**
 * Apply the series one patch at a time in a scratch tree; after each, compile and run
 * checkpatch on it. Signed-off-by is not required (we add none; see DEVELOPERS.md).
 */
export async function checkSeries(opts: BuildOptions & { compile?: boolean } = {}): Promise<SeriesCheckRow[]> {
  const log = opts.log ?? console.error;
  const ws = workspacePaths(opts.root);
  const { lock, series, tree } = await prepare(opts);
  const sp = statePaths(lock.version);
  const scratch = join(sp.home, 'check', lock.version.replace(/^\d+:/, ''));
  if (!existsSync(join(scratch, '.git'))) {
    mkdirSync(scratch, { recursive: true });
    await git(tree)`git clone -q --shared ${tree} ${scratch}`;
  }
  const g = git(scratch);
  await g`git fetch -q origin --tags`;
  await g`git am --abort`.nothrow();
  await g`git checkout -q --detach ${BASE_TAG}`;
  await g`git reset -q --hard ${BASE_TAG}`;
  const buildDir = sp.buildDir('check');
  if (opts.compile !== false) await ensureConfigured(scratch, buildDir, configureFlags(readBuildConfig(ws.root), 'default'), log);
  const targets = Object.values(readBuildConfig(ws.root).targets);
  const rows: SeriesCheckRow[] = [];
  let broken = false;
  for (const [i, p] of series.entries()) {
    const row: SeriesCheckRow = { index: i + 1, file: p.file, subject: p.subject, applies: 'skipped', compiles: 'skipped', checkpatch: 'skipped', checkpatchOk: false };
    rows.push(row);
    if (broken) continue;
    const am = await g`git am -q ${p.path}`.nothrow();
    if (am.exitCode !== 0) {
      const f = describeApplyFailure(p, i, am.stdout + am.stderr, readFileSync(p.path, 'utf8'));
      row.applies = 'FAIL';
      row.detail = `does not apply at ${f.file ?? '?'}${f.line ? `:${f.line}` : ''}`;
      await g`git am --abort`.nothrow();
      broken = true;
      continue;
    }
    row.applies = 'ok';
    const cp = await $({ cwd: scratch, quiet: true })`scripts/checkpatch.pl --no-signoff ${p.path}`.nothrow();
    const totals = parseCheckpatchTotals(cp.stdout);
    row.checkpatchOk = cp.exitCode === 0 && totals !== undefined && totals.errors === 0;
    row.checkpatch = !totals ? 'no verdict' : totals.errors + totals.warnings === 0 ? 'ok' : `${totals.errors} errors, ${totals.warnings} warnings`;
    if (opts.compile === false) continue;
    log(`compiling with patch ${i + 1}/${series.length}: ${p.subject}`);
    try {
      await ninja(buildDir, targets, `patch ${i + 1}`, sp.ccache);
      row.compiles = 'ok';
    } catch (e) {
      row.compiles = 'FAIL';
      row.detail = e instanceof IohangError ? e.message.split('\n').slice(0, 3).join(' ') : String(e);
    }
  }
  return rows;
}

export function formatSeriesTable(rows: SeriesCheckRow[]): string {
  if (rows.length === 0) return 'patches/series is empty: nothing to check';
  const head = ['#', 'patch', 'applies', 'compiles', 'checkpatch'];
  const body = rows.map((r) => [String(r.index), r.subject, r.applies, r.compiles, r.checkpatch]);
  const widths = head.map((h, c) => Math.max(h.length, ...body.map((b) => b[c]!.length)));
  const line = (cells: string[]) => cells.map((cell, c) => cell.padEnd(widths[c]!)).join('  ').trimEnd();
  const details = rows.filter((r) => r.detail).map((r) => `patch ${r.index}: ${r.detail}`);
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line), ...details].join('\n');
}

export function seriesCheckPassed(rows: SeriesCheckRow[]): boolean {
  return rows.every((r) => r.applies === 'ok' && r.compiles !== 'FAIL' && r.checkpatchOk);
}
