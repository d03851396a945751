import { readFileSync } from 'node:fs';
import { $ } from 'zx';
import { baseTree, buildContext, ensureConfigured, ninja, withBuilderTree, type BuildOptions } from './build.ts';
import { configureFlags, readBuildConfig } from './config.ts';
import { IohangError, textTable } from '@iohang/core';
import { runQemuTestsIn } from './qemu-tests.ts';
import { applySeries, describeApplyFailure } from './tree.ts';

export type Verdict = 'ok' | 'FAIL' | 'skipped';

export interface SeriesCheckRow {
  index: number;
  file: string;
  subject: string;
  applies: Verdict;
  compiles: Verdict;
  /** QEMU's tests that exist at this patch: "ok (3)", "FAIL: unit/x", "skipped" */
  tests: string;
  /** e.g. "ok", "0 errors, 2 warnings" */
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
 * Walk the series one patch at a time in the builder's own tree and build directory, so
 * every step is an incremental build: after each patch, compile and run checkpatch on it.
 * Signed-off-by is not required (we add none; see DEVELOPERS.md). The tree ends at the
 * last patch that applied, which is what the next build continues from.
 */
export async function checkSeries(opts: BuildOptions & { compile?: boolean } = {}): Promise<SeriesCheckRow[]> {
  const ctx = buildContext(opts);
  const { log, series, sp } = ctx;
  const config = readBuildConfig(ctx.ws.root);
  return withBuilderTree(ctx, async () => {
    const tree = await baseTree(ctx);
    const buildDir = sp.buildDir('default');
    if (opts.compile !== false) await ensureConfigured(tree, buildDir, configureFlags(config, 'default'), log);
    const rows: SeriesCheckRow[] = [];
    let broken = false;
    for (const [i, p] of series.entries()) {
      const row: SeriesCheckRow = { index: i + 1, file: p.file, subject: p.subject, applies: 'skipped', compiles: 'skipped', tests: 'skipped', checkpatch: 'skipped', checkpatchOk: false };
      rows.push(row);
      if (broken) continue;
      try {
        await applySeries(tree, series.slice(0, i + 1));
        row.applies = 'ok';
      } catch (e) {
        const f = describeApplyFailure(p, i, e instanceof IohangError ? e.message : String(e), readFileSync(p.path, 'utf8'));
        row.applies = 'FAIL';
        row.detail = `does not apply${f.file ? ` at ${f.file}${f.line ? `:${f.line}` : ''}` : ''}`;
        broken = true;
        continue;
      }
      const cp = await $({ cwd: tree, quiet: true })`scripts/checkpatch.pl --no-signoff ${p.path}`.nothrow();
      const totals = parseCheckpatchTotals(cp.stdout);
      row.checkpatchOk = cp.exitCode === 0 && totals !== undefined && totals.errors === 0;
      row.checkpatch = !totals ? 'no verdict' : totals.errors + totals.warnings === 0 ? 'ok' : `${totals.errors} errors, ${totals.warnings} warnings`;
      if (!row.checkpatchOk || totals?.warnings) row.detail = cp.stdout.split('\n').filter((l) => /^(ERROR|WARNING):/.test(l)).join('; ');
      if (opts.compile === false) continue;
      log(`compiling with patch ${i + 1}/${series.length}: ${p.subject}`);
      try {
        await ninja(buildDir, Object.values(config.targets), `patch ${i + 1}`, sp.ccache);
        row.compiles = 'ok';
        const results = await runQemuTestsIn(tree, buildDir, config, sp.ccache);
        const failed = results.filter((r) => !r.passed).map((r) => r.name);
        row.tests = failed.length ? `FAIL: ${failed.join(', ')}` : `ok (${results.length})`;
      } catch (e) {
        row.compiles = 'FAIL';
        row.detail = e instanceof IohangError ? e.message.split('\n').slice(0, 6).join('\n  ') : String(e);
        broken = true;
      }
    }
    return rows;
  });
}

export function formatSeriesTable(rows: SeriesCheckRow[]): string {
  if (rows.length === 0) return 'patches/series is empty: nothing to check';
  const head = ['#', 'patch', 'applies', 'compiles', 'tests', 'checkpatch'];
  const body = rows.map((r) => [String(r.index), r.subject, r.applies, r.compiles, r.tests, r.checkpatch]);
  const details = rows.filter((r) => r.detail).map((r) => `patch ${r.index}: ${r.detail}`);
  return [...textTable(head, body), ...details].join('\n');
}

export function seriesCheckPassed(rows: SeriesCheckRow[]): boolean {
  return rows.every((r) => r.applies === 'ok' && r.compiles !== 'FAIL' && !r.tests.startsWith('FAIL') && r.checkpatchOk);
}
