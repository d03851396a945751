import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildContext, ensureConfigured, ninja, seriesTree, withBuilderTree, type BuildOptions } from './build.ts';
import { configureFlags, readBuildConfig, type BuildConfig } from './config.ts';
import { runTestProgram } from './run.ts';
import { QEMU_IOTESTS, QEMU_QTESTS, QEMU_UNIT_TESTS } from './test-lists.ts';
import { iotestsCheckFinished, listedCases, parseIotestsCheck, tapPassed } from './test-output.ts';

export interface QemuTestResult {
  name: string;
  passed: boolean;
  /** What the test printed, for a failure message. */
  output: string;
}

/**
 * A sanitizer's report or a failed assertion in anything a test ran (the QEMUs a qtest or
 * iotest starts print to the test's stderr): a test that printed one did not pass, whatever
 * its exit code says.
 */
export const CRASH_REPORT = /ERROR: (AddressSanitizer|LeakSanitizer)|SUMMARY: \w+Sanitizer|runtime error:|Assertion .* failed|\*\*\n?ERROR:/;

/**
 * NIC option ROMs (Debian's ipxe-qemu): tests that start `-M pc` without -nodefaults get
 * its default e1000, whose efi-e1000.rom the firmware directory does not ship.
 */
export const TEST_ROM_DIRS = ['/usr/lib/ipxe/qemu'];

/**
 * The +ds source ships no BIOS, so the qemu-system-x86_64 that iotests and qtests start
 * gets the firmware directories (and TEST_ROM_DIRS) by a wrapper (its name tells the tests
 * the target architecture).
 */
export function writeWrapper(buildDir: string, firmwareDirs: string[]): string {
  const dir = join(buildDir, 'iohang-wrap');
  mkdirSync(dir, { recursive: true });
  const wrapper = join(dir, 'qemu-system-x86_64');
  const dirs = [...firmwareDirs, ...TEST_ROM_DIRS.filter((d) => existsSync(d))].map((d) => `-L ${d}`).join(' ');
  writeFileSync(wrapper, `#!/bin/sh\nexec ${join(buildDir, 'qemu-system-x86_64')} ${dirs} -global apic-common.vapic=off "$@"\n`);
  chmodSync(wrapper, 0o755);
  return wrapper;
}

export interface QemuTestSelection {
  unit?: string[];
  qtests?: string[];
  iotests?: string[];
}

/**
 * In a configured tree and build directory: build and run those of the unit tests, qtests
 * and iotests that exist in the tree (check-series runs this after each patch, when the
 * series' own tests may not exist yet).
 */
export async function runQemuTestsIn(tree: string, buildDir: string, config: BuildConfig, ccache: string, sel: QemuTestSelection = {}): Promise<QemuTestResult[]> {
  const units = (sel.unit ?? QEMU_UNIT_TESTS).filter((t) => existsSync(join(tree, 'tests', 'unit', `${t}.c`)));
  const qtests = (sel.qtests ?? QEMU_QTESTS).filter((t) => existsSync(join(tree, 'tests', 'qtest', `${t}.c`)));
  const ios = (sel.iotests ?? QEMU_IOTESTS).filter((t) => existsSync(join(tree, 'tests', 'qemu-iotests', 'tests', t)));
  await ninja(buildDir, [...Object.values(config.targets), ...units.map((t) => `tests/unit/${t}`), ...qtests.map((t) => `tests/qtest/${t}`)], 'qemu tests', ccache);
  const wrapper = writeWrapper(buildDir, Object.keys(config.firmware));
  const results: QemuTestResult[] = [];
  const tap = async (name: string, bin: string, env: NodeJS.ProcessEnv) => {
    const listed = listedCases((await runTestProgram(bin, ['-l'], { cwd: buildDir, env, timeoutMs: 60_000 })).stdout);
    const r = await runTestProgram(bin, ['--tap'], { cwd: buildDir, env, timeoutMs: 10 * 60_000 });
    const output = `${r.output}\n[${listed} cases listed by -l, exit ${r.exitCode}${r.timedOut ? ', killed after the timeout' : ''}]`;
    results.push({ name, passed: r.exitCode === 0 && listed > 0 && tapPassed(r.stdout, listed) && !CRASH_REPORT.test(output), output });
  };
  // As meson runs them: malloc fills memory with a non-zero byte (0x55 ^ 0xff), so that what
  // reads memory it never initialised fails the same way every run.
  const env = { ...process.env, MALLOC_PERTURB_: '85' };
  for (const t of units) await tap(`unit/${t}`, join(buildDir, 'tests', 'unit', t), env);
  for (const t of qtests) {
    await tap(`qtest/${t}`, join(buildDir, 'tests', 'qtest', t), { ...env, QTEST_QEMU_BINARY: wrapper, QTEST_QEMU_IMG: join(buildDir, 'qemu-img') });
  }
  if (ios.length) {
    const check = join(buildDir, 'tests', 'qemu-iotests');
    for (const t of ios) {
      const r = await runTestProgram('./check', ['-raw', t], { cwd: check, env: { ...process.env, QEMU_PROG: wrapper }, timeoutMs: 10 * 60_000 });
      const output = r.output;
      const passed = r.exitCode === 0 && iotestsCheckFinished(r.stdout) && parseIotestsCheck(r.stdout)[t] === 'pass';
      results.push({ name: `iotests/${t}`, passed: passed && !CRASH_REPORT.test(output), output });
    }
  }
  return results;
}

/**
 * Build the series with its test targets in the build directory of `variant` (default,
 * or asan: the sanitizer build runs the same tests), then run the tests named above.
 */
export async function runQemuTests(opts: BuildOptions & QemuTestSelection = {}): Promise<QemuTestResult[]> {
  const variant = opts.variant ?? 'default';
  const ctx = buildContext(opts);
  const { log, sp } = ctx;
  const config = readBuildConfig(ctx.ws.root);
  return withBuilderTree(ctx, async () => {
    const tree = await seriesTree(ctx);
    const buildDir = sp.buildDir(variant);
    await ensureConfigured(tree, buildDir, configureFlags(config, variant), log);
    return runQemuTestsIn(tree, buildDir, config, sp.ccache, opts);
  });
}
