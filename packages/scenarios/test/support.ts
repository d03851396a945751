/** Shared test plumbing: a cached guest, VMs whose logs survive a failing test. */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { workspaceRoot } from '@iohang/builder';
import { buildGuest, type Guest } from '@iohang/guest';
import { Vm, type VmOptions } from '@iohang/vm';

let guest: Promise<Guest> | undefined;

/** The test guest, built once per test file (cached on disk by input hash). */
export function testGuest(): Promise<Guest> {
  guest ??= buildGuest();
  return guest;
}

/**
 * Boot a VM for the current test. Its logs go to test-logs/<test name>/; when the test
 * fails they are kept and the console tail is printed, otherwise they are removed. The
 * VM is closed when the test ends, whatever happens.
 */
export async function bootVm(name: string, opts: Omit<VmOptions, 'guest' | 'logDir'>): Promise<Vm> {
  const logDir = join(workspaceRoot(), 'test-logs', name.replace(/[^\w.-]+/g, '-'));
  rmSync(logDir, { recursive: true, force: true });
  mkdirSync(logDir, { recursive: true });
  const vm = await Vm.start({ ...opts, guest: await testGuest(), logDir });
  onTestFinished(async ({ task }) => {
    await vm.close();
    // On an ASan build (IOHANG_QEMU_VARIANT=asan) any sanitizer report fails the test.
    const reports = vm.sanitizerReports();
    // onTestFinished runs before onTestFailed hooks: the test's own result is already here.
    if (task.result?.state === 'fail' || reports.length) {
      console.error(`--- ${name}: guest console (tail) ---\n${vm.consoleTail(40)}\n--- logs kept in ${logDir} ---`);
    } else {
      rmSync(logDir, { recursive: true, force: true });
    }
    if (reports.length) {
      expect.unreachable(`QEMU's sanitizers reported ${reports.length} problem(s):\n${reports.join('\n')}\n(full reports in ${join(logDir, 'qemu.log')})`);
    }
  });
  return vm;
}

/** iotool's JSON result; tests call it `iotool(stdout)`. */
export { parseIotoolResult as iotool, type IotoolResult } from '@iohang/guest';
