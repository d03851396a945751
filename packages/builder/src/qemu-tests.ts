import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { ensureConfigured, ninja, prepare, withBuilderTree, type BuildOptions } from './build.ts';
import { configureFlags, readBuildConfig, type BuildConfig } from './config.ts';
import { statePaths, workspacePaths } from './paths.ts';

/** QEMU's own tests that the series adds or must keep passing. */
export const QEMU_UNIT_TESTS = ['test-block-io-hang', 'test-block-backend', 'test-bdrv-drain', 'test-block-iothread'];
export const QEMU_IOTESTS = ['io-hang'];

export interface QemuTestResult {
  name: string;
  passed: boolean;
  /** What the test printed, for a failure message. */
  output: string;
}

/** ok/not ok lines of a TAP stream: a test binary passed if it ran tests and none failed. */
export function tapPassed(tap: string): boolean {
  return /^ok /m.test(tap) && !/^(not ok|Bail out!)/m.test(tap);
}

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

/**
 * In a configured tree and build directory: build and run those of the unit tests and
 * iotests that exist in the tree (check-series runs this after each patch, when the
 * series' own tests may not exist yet).
 */
export async function runQemuTestsIn(tree: string, buildDir: string, config: BuildConfig, ccache: string, unit = QEMU_UNIT_TESTS, iotests = QEMU_IOTESTS): Promise<QemuTestResult[]> {
  const units = unit.filter((t) => existsSync(join(tree, 'tests', 'unit', `${t}.c`)));
  const ios = iotests.filter((t) => existsSync(join(tree, 'tests', 'qemu-iotests', 'tests', t)));
  await ninja(buildDir, [...Object.values(config.targets), ...units.map((t) => `tests/unit/${t}`)], 'qemu tests', ccache);
  const results: QemuTestResult[] = [];
  for (const t of units) {
    const r = await $({ cwd: buildDir, quiet: true, timeout: '5m' })`${join(buildDir, 'tests', 'unit', t)} --tap`.nothrow();
    results.push({ name: `unit/${t}`, passed: r.exitCode === 0 && tapPassed(r.stdout), output: r.stdout + r.stderr });
  }
  if (ios.length) {
    const wrapper = writeWrapper(buildDir, Object.keys(config.firmware));
    const check = join(buildDir, 'tests', 'qemu-iotests');
    for (const t of ios) {
      const r = await $({ cwd: check, quiet: true, env: { ...process.env, QEMU_PROG: wrapper }, timeout: '10m' })`./check -raw ${t}`.nothrow();
      results.push({ name: `iotests/${t}`, passed: r.exitCode === 0 && /Passed all 1 iotests/.test(r.stdout), output: r.stdout + r.stderr });
    }
  }
  return results;
}

/** Build the series with its test targets, then run the unit tests and iotests named above. */
export async function runQemuTests(opts: BuildOptions & { unit?: string[]; iotests?: string[] } = {}): Promise<QemuTestResult[]> {
  const log = opts.log ?? console.error;
  return withBuilderTree(opts, async () => {
    const { lock, tree } = await prepare(opts);
    const sp = statePaths(lock.version);
    const config = readBuildConfig(workspacePaths(opts.root).root);
    const buildDir = sp.buildDir('default');
    await ensureConfigured(tree, buildDir, configureFlags(config, 'default'), log);
    return runQemuTestsIn(tree, buildDir, config, sp.ccache, opts.unit, opts.iotests);
  });
}
