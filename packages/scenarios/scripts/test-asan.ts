/**
 * The sanitizer tier (nx target test-asan): the scenarios SANITIZER_TIER names, run on the
 * ASan/UBSan build. It fails when an entry names no test, when a named test did not run
 * and pass, and, as every scenario does, when QEMU reports a sanitizer problem.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SANITIZER_TIER, fullName, missingEntries, namePattern, selectTests, type ListedTest } from '../sanitizer-tier.ts';

/** The scenarios package, wherever this runs from. */
const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every scenario vitest finds, named as the tier names them. */
export function listScenarios(): ListedTest[] {
  const list = spawnSync('npx', ['vitest', 'list', '--json', '--root', ROOT], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 << 20 });
  if (list.status !== 0) throw new Error(`vitest list failed (exit ${list.status})`);
  return (JSON.parse(list.stdout) as ListedTest[]).map((t) => ({ name: t.name, file: relative(ROOT, t.file) }));
}

function main(): number {
  const tests = listScenarios();
  const missing = missingEntries(SANITIZER_TIER, tests);
  if (missing.length) {
    console.error(`test-asan: the sanitizer tier names tests that do not exist (renamed or removed?):\n${missing.map((m) => `  ${m}`).join('\n')}\nFix ${join(ROOT, 'sanitizer-tier.ts')}`);
    return 1;
  }
  const selected = selectTests(SANITIZER_TIER, tests);
  const files = [...new Set(selected.map((t) => t.file))];
  const report = join(mkdtempSync(join(tmpdir(), 'test-asan-')), 'report.json');
  console.error(`test-asan: ${selected.length} scenarios from ${files.length} files on the ASan/UBSan build`);
  const run = spawnSync('npx', ['vitest', 'run', '--root', ROOT, ...files, '-t', namePattern(selected), '--reporter=default', '--reporter=json', `--outputFile.json=${report}`], {
    stdio: 'inherit',
    env: { ...process.env, IOHANG_QEMU_VARIANT: 'asan' },
  });
  let ran = new Map<string, string>();
  try {
    const results = JSON.parse(readFileSync(report, 'utf8')) as { testResults: { assertionResults: { fullName: string; status: string }[] }[] };
    ran = new Map(results.testResults.flatMap((f) => f.assertionResults).map((a) => [a.fullName, a.status]));
  } catch (e) {
    console.error(`test-asan: no JSON report from vitest (exit ${run.status}): ${(e as Error).message}`);
  }
  const notPassed = selected.filter((t) => ran.get(fullName(t)) !== 'passed');
  if (notPassed.length) {
    console.error(`test-asan: ${notPassed.length} of ${selected.length} scenarios did not run and pass:\n${notPassed.map((t) => `  ${t.name}: ${ran.get(fullName(t)) ?? 'did not run'}`).join('\n')}`);
    return 1;
  }
  console.error(`test-asan: ${selected.length} of ${selected.length} scenarios passed on the ASan/UBSan build`);
  return run.status ?? 1;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) process.exitCode = main();
