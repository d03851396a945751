/**
 * QEMU's own test suites on the unpatched source ("base") and on the series, in two build
 * directories with the same configure flags and the same environment, compared test by
 * test: a test that fails with the series but not on base is a new failure.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASE_VARIANT, baseWorktree, buildContext, ensureConfigured, ninja, seriesTree, withBuilderTree, type BuildContext, type BuildOptions } from './build.ts';
import { configureFlags, readBuildConfig, type BuildConfig } from './config.ts';
import { IohangError, iohangHome, textTable } from '@iohang/core';
import { TEST_ROM_DIRS, writeWrapper } from './qemu-tests.ts';
import { runTestProgram } from './run.ts';
import { iotestsCheckFinished, parseIotestsCheck, parseTap, type TestResults, type TestStatus } from './test-output.ts';
import { SUITE_QTEST_NODES, SUITE_UNIT_TESTS } from './test-lists.ts';

export type Side = 'base' | 'series';
export const SIDES: readonly Side[] = ['base', 'series'];
export type SuiteName = 'unit' | 'qtest' | 'iotests-raw' | 'iotests-qcow2';
export const SUITE_NAMES: readonly SuiteName[] = ['unit', 'qtest', 'iotests-raw', 'iotests-qcow2'];
// ---------------------------------------------------------------------------------------
// Comparison

export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

export function countResults(r: TestResults): Counts {
  const v = Object.values(r);
  return { passed: v.filter((s) => s === 'pass').length, failed: v.filter((s) => s === 'fail').length, skipped: v.filter((s) => s === 'skip').length };
}

export interface NewFailure {
  test: string;
  /** On base: passed, skipped ("not run") or absent (a test only the series has). */
  base: TestStatus | 'absent';
  /**
   * "absent": it passed on base and did not report with the series (its binary crashed?);
   * "skip": it passed on base and the series skipped it.
   */
  series: 'fail' | 'skip' | 'absent';
}

export interface SuiteComparison {
  base: Counts;
  series: Counts;
  /** Fail with the series, but not on base; or passed on base and skipped or missing with the series. */
  newFailures: NewFailure[];
  /** Failed on base, pass with the series. */
  fixed: string[];
  /** Failed on both sides: the environment (a missing tool or module), not the series. */
  failBoth: string[];
  /** Reported by one side only (e.g. the series' own iotest). */
  onlyBase: string[];
  onlySeries: string[];
}

export function compareResults(base: TestResults, series: TestResults): SuiteComparison {
  const ids = [...new Set([...Object.keys(base), ...Object.keys(series)])].sort();
  const c: SuiteComparison = { base: countResults(base), series: countResults(series), newFailures: [], fixed: [], failBoth: [], onlyBase: [], onlySeries: [] };
  for (const id of ids) {
    const b = base[id];
    const s = series[id];
    if (!b) c.onlySeries.push(id);
    if (!s) c.onlyBase.push(id);
    if (s === 'fail' && b !== 'fail') c.newFailures.push({ test: id, base: b ?? 'absent', series: 'fail' });
    else if (s === 'skip' && b === 'pass') c.newFailures.push({ test: id, base: 'pass', series: 'skip' });
    else if (!s && b === 'pass') c.newFailures.push({ test: id, base: 'pass', series: 'absent' });
    else if (s === 'fail' && b === 'fail') c.failBoth.push(id);
    else if (b === 'fail' && s === 'pass') c.fixed.push(id);
  }
  return c;
}

/**
 * Runs that prove nothing: a suite, or a unit test binary ("test-x /path" ids), that
 * reported no passing test -- it ran nothing, or skipped everything.
 */
export function emptyRuns(suite: SuiteName, results: TestResults): string[] {
  const groups = new Map<string, TestStatus[]>([[suite, Object.values(results)]]);
  if (suite === 'unit') {
    for (const [id, status] of Object.entries(results)) {
      const binary = id.split(' ')[0]!;
      groups.set(binary, [...(groups.get(binary) ?? []), status]);
    }
  }
  return [...groups]
    .filter(([, statuses]) => !statuses.includes('pass'))
    .map(([name, statuses]) => `${name}: no test passed (${statuses.length} reported, ${statuses.filter((x) => x === 'skip').length} skipped)`);
}

// ---------------------------------------------------------------------------------------
// Running

/** One side's build directory, ready to run tests. */
export interface SideContext {
  side: Side;
  tree: string;
  buildDir: string;
  /** qemu-system-x86_64 with the firmware directories (-L), named so tests know the target. */
  wrapper: string;
  env: NodeJS.ProcessEnv;
}

/**
 * The environment both sides run with: only the build directory differs. Variables a
 * developer may have set for QEMU's tests are dropped so they cannot favour one side.
 */
export function suiteEnv(buildDir: string, wrapper: string, from: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(from)) if (!/^(QTEST_|QEMU_|IMGFMT|IMGPROTO|TEST_DIR|SOCK_DIR|MALLOC_PERTURB_|G_TEST_)/.test(k)) env[k] = v;
  return {
    ...env,
    LC_ALL: 'C.UTF-8',
    QTEST_QEMU_BINARY: wrapper,
    QTEST_QEMU_IMG: join(buildDir, 'qemu-img'),
    QTEST_QEMU_STORAGE_DAEMON_BINARY: join(buildDir, 'storage-daemon', 'qemu-storage-daemon'),
    QEMU_PROG: wrapper,
    // What meson's test setup gives them: the build's venv (configure --python, system site packages).
    PYTHON: join(buildDir, 'pyvenv', 'bin', 'python3'),
  };
}

export interface SuiteRun {
  results: TestResults;
  seconds: number;
  /** Things worth knowing that are not a test result (a timeout, a crash). */
  notes: string[];
}

export interface SuiteSpec {
  name: SuiteName;
  /** Ninja targets beyond the shipped binaries. */
  targets: string[];
  /** Run the suite, or only the tests `only` names (a retry). */
  run(ctx: SideContext, logFile: string, only?: string[], progress?: (line: string) => void): Promise<SuiteRun>;
}

const MIN = 60_000;

function unitSuite(): SuiteSpec {
  return {
    name: 'unit',
    targets: SUITE_UNIT_TESTS.map((t) => `tests/unit/${t}`),
    async run(ctx, logFile, only) {
      const results: TestResults = {};
      const notes: string[] = [];
      let seconds = 0;
      for (const t of SUITE_UNIT_TESTS) {
        const paths = only?.filter((id) => id.startsWith(`${t} /`)).map((id) => id.slice(t.length + 1));
        if (paths && !paths.length) continue;
        const bin = join(ctx.buildDir, 'tests', 'unit', t);
        const l = paths ? undefined : await runTestProgram(bin, ['-l'], { cwd: ctx.buildDir, env: ctx.env, logFile, timeoutMs: 2 * MIN });
        const r = await runTestProgram(bin, ['--tap', '-k', ...(paths ?? []).flatMap((p) => ['-p', p])], { cwd: ctx.buildDir, env: ctx.env, logFile, timeoutMs: 10 * MIN });
        seconds += r.seconds;
        const parsed = parseTap(r.stdout, `${t} `);
        Object.assign(results, parsed);
        const listed = l && l.stdout.split('\n').filter((line) => line.startsWith('/')).length;
        if (listed !== undefined && Object.keys(parsed).length !== listed) {
          // It stopped early, or reported fewer cases than it has.
          results[`${t} (cases)`] = 'fail';
          notes.push(`${t} reported ${Object.keys(parsed).length} of the ${listed} cases -l lists`);
        }
        if (r.exitCode !== 0 && !Object.values(parsed).includes('fail')) {
          // It died without reporting a failing case (a crash, an abort, the timeout).
          results[`${t} (process)`] = 'fail';
          notes.push(`${t} exited ${r.timedOut ? 'on the timeout' : `with ${r.exitCode}`} after ${Object.keys(parsed).length} cases`);
        }
      }
      return { results, seconds, notes };
    },
  };
}

/** The qos-test paths of the qtest suite, from `qos-test -l`. */
export function selectQosPaths(listing: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('/') && l.split('/').some((node) => SUITE_QTEST_NODES.test(node)));
}

function qtestSuite(): SuiteSpec {
  return {
    name: 'qtest',
    targets: ['tests/qtest/qos-test'],
    async run(ctx, logFile, only) {
      const bin = join(ctx.buildDir, 'tests', 'qtest', 'qos-test');
      let paths = only;
      const notes: string[] = [];
      let seconds = 0;
      if (!paths) {
        const l = await runTestProgram(bin, ['-l'], { cwd: ctx.buildDir, env: ctx.env, logFile, timeoutMs: 2 * MIN });
        seconds += l.seconds;
        paths = selectQosPaths(l.stdout);
        if (!paths.length) return { results: { 'qos-test -l': 'fail' }, seconds, notes: [`qos-test -l listed no virtio-blk/virtio-scsi tests (exit ${l.exitCode})`] };
      }
      const r = await runTestProgram(bin, ['--tap', '-k', ...paths.flatMap((p) => ['-p', p])], { cwd: ctx.buildDir, env: ctx.env, logFile, timeoutMs: 15 * MIN });
      seconds += r.seconds;
      const results = parseTap(r.stdout);
      if (r.exitCode !== 0 && !Object.values(results).includes('fail')) {
        results['qos-test (process)'] = 'fail';
        notes.push(`qos-test exited ${r.timedOut ? 'on the timeout' : `with ${r.exitCode}`} after ${Object.keys(results).length - 1} cases`);
      }
      return { results, seconds, notes };
    },
  };
}

export type IotestsFormat = 'raw' | 'qcow2';

function iotestsSuite(format: IotestsFormat, tests?: string[]): SuiteSpec {
  return {
    name: `iotests-${format}`,
    targets: [],
    async run(ctx, logFile, only, progress) {
      const dir = join(ctx.tree, 'tests', 'qemu-iotests');
      // A named test may exist on one side only (the series' own io-hang); check would refuse the whole list.
      const wanted = only ?? tests;
      const selection = wanted?.filter((t) => existsSync(join(dir, t)) || existsSync(join(dir, 'tests', t)));
      const notes: string[] = [];
      const missing = wanted?.filter((t) => !selection!.includes(t)) ?? [];
      if (missing.length) notes.push(`not in this tree: ${missing.join(' ')}`);
      if (selection && !selection.length) return { results: {}, seconds: 0, notes };
      const args = ['--color', 'off', `-${format}`, ...(selection ? selection : ['-g', 'quick'])];
      let n = 0;
      // As QEMU's meson runs it: the build's python, not whatever python3 is first on PATH.
      const r = await runTestProgram(ctx.env.PYTHON!, ['./check', ...args], {
        cwd: join(ctx.buildDir, 'tests', 'qemu-iotests'),
        env: ctx.env,
        logFile,
        timeoutMs: 60 * MIN,
        onLine: (line) => {
          // The \r-terminated "started" part comes first on the same line; keep the last.
          const m = /(?:^|\r)(\S+)\s+(pass|fail|not run)\s+\[/.exec(line);
          if (m && progress && ++n % 10 === 0) progress(`${n} done, last ${m[1]} ${m[2]}`);
        },
      });
      const results = parseIotestsCheck(r.stdout);
      if (!iotestsCheckFinished(r.stdout)) {
        results['check (process)'] = 'fail';
        notes.push(`check stopped ${r.timedOut ? 'on the timeout' : `with exit ${r.exitCode}`} after ${Object.keys(results).length - 1} tests`);
      }
      return { results, seconds: r.seconds, notes };
    },
  };
}

export interface SuitesOptions extends BuildOptions {
  /** Suites to run, default all. */
  only?: SuiteName[];
  /** Run these iotests instead of the quick group, per image format (the CI's bounded subset). */
  iotests?: Partial<Record<IotestsFormat, string[]>>;
  /**
   * Run new failures again, RERUNS times on each side, to tell a flaky test apart from one
   * that always fails (both fail the run, unless the test is flaky on base too). Default true.
   */
  retry?: boolean;
  /** Where the raw outputs go; default ~/.cache/iohang/suites/<time>. */
  logDir?: string;
}

export interface SideRun extends SuiteRun {
  logFile: string;
}

/** A new failure run again on both sides: its status in every run, the first one included. */
export interface Rerun {
  test: string;
  base: TestStatus[];
  series: TestStatus[];
}

export interface SuiteReport {
  suite: SuiteName;
  base: SideRun;
  series: SideRun;
  comparison: SuiteComparison;
  /** The new failures that were run again. */
  reruns: Rerun[];
}

export interface SuitesReport {
  logDir: string;
  suites: SuiteReport[];
  /** Over all suites, the tests flaky on both sides left out: flaky with the series only is a failure. */
  newFailures: (NewFailure & { suite: SuiteName; flaky: boolean })[];
  /** Suites or unit binaries on either side that passed no test at all (see emptyRuns). */
  emptyRuns: string[];
  /** Seconds spent building both sides. */
  buildSeconds: number;
}

/** Runs of each side for a new failure, the first one included. */
export const RUNS_PER_NEW_FAILURE = 3;

/** Passed in some runs and failed or skipped in others. */
export const isFlaky = (runs: TestStatus[]) => runs.includes('pass') && runs.some((x) => x !== 'pass');

/** Flaky with the series and on base too: the environment, not the series. */
export const flakyOnBoth = (r: Rerun) => isFlaky(r.series) && r.base.some((x) => x !== 'pass');

export function suiteSpecs(opts: Pick<SuitesOptions, 'only' | 'iotests'> = {}): SuiteSpec[] {
  const all = [unitSuite(), qtestSuite(), iotestsSuite('raw', opts.iotests?.raw), iotestsSuite('qcow2', opts.iotests?.qcow2)];
  return opts.only ? all.filter((s) => opts.only!.includes(s.name)) : all;
}

export function parseSuiteList(list: string): SuiteName[] {
  const names = list.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = names.filter((n) => !(SUITE_NAMES as readonly string[]).includes(n));
  if (bad.length) throw new IohangError(`unknown suite ${bad.join(', ')}`, `Use one or more of: ${SUITE_NAMES.join(',')}`);
  return names as SuiteName[];
}

/** Configure (same flags) and build one side's build directory with the suites' test targets. */
async function prepareSide(side: Side, build: BuildContext, config: BuildConfig, targets: string[]): Promise<SideContext> {
  const { log, sp } = build;
  const tree = side === 'base' ? await baseWorktree(build) : await seriesTree(build);
  const buildDir = sp.buildDir(side === 'base' ? BASE_VARIANT : 'default');
  await ensureConfigured(tree, buildDir, configureFlags(config, 'default'), log);
  await ninja(buildDir, [...Object.values(config.targets), ...targets], `qemu + tests (${side})`, sp.ccache);
  const wrapper = writeWrapper(buildDir, Object.keys(config.firmware));
  return { side, tree, buildDir, wrapper, env: suiteEnv(buildDir, wrapper) };
}

/**
 * Run the new failures of one suite again on both sides, alternately, until each side has
 * run them `runs` times in all: a flaky test shows as passing in some runs. Pseudo tests
 * (a crashed binary, missing cases) are not run again: they are failures whatever happens.
 */
export async function rerunNewFailures(spec: SuiteSpec, ctx: Record<Side, SideContext>, c: SuiteComparison, logDir: string, log: (line: string) => void, runs = RUNS_PER_NEW_FAILURE): Promise<Rerun[]> {
  const tests = c.newFailures.filter((f) => f.series !== 'absent' && !/\((process|cases|bail out)\)$/.test(f.test));
  if (!tests.length) return [];
  const reruns: Rerun[] = tests.map((f) => ({ test: f.test, base: [f.base as TestStatus], series: [f.series as TestStatus] }));
  log(`suites: ${spec.name}: ${tests.length} new failures; running them ${runs - 1} more times on each side`);
  for (let i = 1; i < runs; i++) {
    for (const side of SIDES) {
      const logFile = join(logDir, `${spec.name}-${side}-rerun-${i}.log`);
      writeFileSync(logFile, `# ${spec.name} on ${side}, run ${i + 1} of the new failures: ${tests.map((t) => t.test).join(' ')}\n`);
      const again = await spec.run(ctx[side], logFile, tests.map((t) => t.test));
      for (const r of reruns) r[side].push(again.results[r.test] ?? 'fail');
    }
  }
  for (const r of reruns) {
    const verdict = isFlaky(r.series) ? (flakyOnBoth(r) ? 'flaky on both sides' : 'flaky with the series') : 'fails every time';
    log(`suites: ${spec.name}: ${r.test}: ${verdict} (series ${r.series.join(' ')}; base ${r.base.join(' ')})`);
  }
  return reruns;
}

/**
 * Build what the suites need in the base and the series build directories, run each suite
 * on base, then on the series, and compare. Holds the builder's tree lock throughout: no
 * build may relink the binaries under the tests.
 */
export async function runSuites(opts: SuitesOptions = {}): Promise<SuitesReport> {
  const log = opts.log ?? console.error;
  const specs = suiteSpecs(opts);
  const logDir = opts.logDir ?? join(iohangHome(), 'suites', new Date().toISOString().replace(/[:.]/g, '-'));
  mkdirSync(logDir, { recursive: true });
  log(`suites: ${specs.map((s) => s.name).join(', ')}; raw outputs in ${logDir}`);
  const build = buildContext(opts);
  const config = readBuildConfig(build.ws.root);
  const targets = specs.flatMap((s) => s.targets);
  if (!TEST_ROM_DIRS.some((d) => existsSync(join(d, 'efi-e1000.rom')))) {
    log("suites: warning: no efi-e1000.rom (Debian package ipxe-qemu; sudo npm run setup): tests that start '-M pc' with its default NIC fail on both sides");
  }
  return withBuilderTree(build, async () => {
    const started = Date.now();
    const ctx = {} as Record<Side, SideContext>;
    for (const side of SIDES) {
      log(`suites: building ${side}`);
      ctx[side] = await prepareSide(side, build, config, targets);
    }
    const buildSeconds = (Date.now() - started) / 1000;
    log(`suites: both sides built in ${buildSeconds.toFixed(1)} s`);
    const suites: SuiteReport[] = [];
    for (const spec of specs) {
      const runs = {} as Record<Side, SideRun>;
      for (const side of SIDES) {
        const logFile = join(logDir, `${spec.name}-${side}.log`);
        writeFileSync(logFile, `# ${spec.name} on ${side}: ${ctx[side].buildDir}\n`);
        log(`suites: ${spec.name} on ${side} ...`);
        const run = await spec.run(ctx[side], logFile, undefined, (line) => log(`suites: ${spec.name} on ${side}: ${line}`));
        runs[side] = { ...run, logFile };
        const n = countResults(run.results);
        log(`suites: ${spec.name} on ${side}: ${n.passed} passed, ${n.failed} failed, ${n.skipped} skipped in ${run.seconds.toFixed(1)} s${run.notes.length ? ` (${run.notes.join('; ')})` : ''}`);
      }
      const comparison = compareResults(runs.base.results, runs.series.results);
      const reruns = opts.retry === false ? [] : await rerunNewFailures(spec, ctx, comparison, logDir, log);
      suites.push({ suite: spec.name, base: runs.base, series: runs.series, comparison, reruns });
    }
    const report: SuitesReport = { logDir, suites, newFailures: newFailuresOf(suites), emptyRuns: emptyRunsOf(suites), buildSeconds };
    writeFileSync(join(logDir, 'results.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  });
}

/** The new failures of every suite, each marked flaky or not; those flaky on base too left out. */
export function newFailuresOf(suites: Pick<SuiteReport, 'suite' | 'comparison' | 'reruns'>[]): SuitesReport['newFailures'] {
  return suites.flatMap((s) =>
    s.comparison.newFailures.flatMap((f) => {
      const r = s.reruns.find((x) => x.test === f.test);
      return r && flakyOnBoth(r) ? [] : [{ ...f, suite: s.suite, flaky: !!r && isFlaky(r.series) }];
    }),
  );
}

export function emptyRunsOf(suites: Pick<SuiteReport, 'suite' | 'base' | 'series'>[]): string[] {
  return suites.flatMap((s) => SIDES.flatMap((side) => emptyRuns(s.suite, s[side].results).map((e) => `${side}: ${e}`)));
}

/** Whether the run shows the series breaking nothing. */
export const suitesPassed = (r: Pick<SuitesReport, 'newFailures' | 'emptyRuns'>) => r.newFailures.length === 0 && r.emptyRuns.length === 0;

// ---------------------------------------------------------------------------------------
// Output

const runsText = (runs: TestStatus[]) => `${runs.filter((x) => x === 'pass').length} of ${runs.length} runs passed`;

/** Passed / failed / skipped per suite and side, then the new failures (and what else differs). */
export function formatSuitesReport(report: Pick<SuitesReport, 'suites' | 'newFailures' | 'emptyRuns'> & { logDir?: string }): string {
  const rows: string[][] = [];
  for (const s of report.suites) {
    const mine = report.newFailures.filter((f) => f.suite === s.suite);
    for (const side of SIDES) {
      const c = s.comparison[side];
      const series = side === 'series';
      rows.push([side === 'base' ? s.suite : '', side, String(c.passed), String(c.failed), String(c.skipped), `${s[side].seconds.toFixed(1)} s`, series ? String(mine.length) : '', series ? String(mine.filter((f) => f.flaky).length) : '']);
    }
  }
  const out = textTable(['suite', 'side', 'passed', 'failed', 'skipped', 'time', 'new failures', 'of them flaky'], rows);
  out.push('');
  if (report.newFailures.length === 0) out.push('new failures (fail with the series, not on base): none');
  else {
    out.push(`new failures (fail with the series, not on base): ${report.newFailures.length}`);
    for (const f of report.newFailures) {
      const what = f.series === 'absent' ? 'did not report' : f.series === 'skip' ? 'is skipped' : 'fails';
      const r = report.suites.find((s) => s.suite === f.suite)?.reruns.find((x) => x.test === f.test);
      const runs = r ? ` (series: ${runsText(r.series)}; base: ${runsText(r.base)})` : '';
      out.push(`  ${f.suite} ${f.test}: ${f.flaky ? 'flaky' : what} with the series; ${f.base === 'absent' ? 'absent' : f.base === 'skip' ? 'not run' : 'passes'} on base${runs}`);
    }
  }
  if (report.emptyRuns.length) out.push(`runs in which no test passed: ${report.emptyRuns.length}`, ...report.emptyRuns.map((e) => `  ${e}`));
  for (const s of report.suites) {
    const c = s.comparison;
    const more: string[] = [];
    const both = s.reruns.filter(flakyOnBoth);
    if (both.length) more.push(`flaky on both sides (not counted): ${both.map((r) => `${r.test} (series: ${runsText(r.series)}; base: ${runsText(r.base)})`).join(' ')}`);
    if (c.failBoth.length) more.push(`fail on both sides: ${c.failBoth.join(' ')}`);
    if (c.fixed.length) more.push(`fail on base only: ${c.fixed.join(' ')}`);
    if (c.onlySeries.length) more.push(`only with the series: ${c.onlySeries.map((t) => `${t} (${s.series.results[t]})`).join(' ')}`);
    if (c.onlyBase.length) more.push(`only on base: ${c.onlyBase.map((t) => `${t} (${s.base.results[t]})`).join(' ')}`);
    for (const side of SIDES) for (const n of s[side].notes) more.push(`${side}: ${n}`);
    if (more.length) out.push(`${s.suite}:`, ...more.map((m) => `  ${m}`));
  }
  if (report.logDir) out.push(`raw outputs: ${report.logDir}`);
  return out.join('\n');
}
