/** Shared test plumbing: a cached guest, VMs whose logs survive a failing test. */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, onTestFinished } from 'vitest';
import { disposeAll, workspaceRoot } from '@iohang/core';
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
  // The VM disposes of what it owns from its start on; before that, this does.
  const guest = await testGuest().catch(async (e: unknown) => {
    await disposeAll(opts.owns ?? []);
    throw e;
  });
  const vm = await Vm.start({ ...opts, guest, logDir });
  onTestFinished(async ({ task }) => {
    await vm.close();
    // A signal, an unexpected exit code, an assertion or a sanitizer report (an ASan build,
    // IOHANG_QEMU_VARIANT=asan) fails the test, unless it said which end it expects; so
    // does anything QEMU sent that is not valid QMP or does not match the event schemas.
    const problems = vm.endProblems();
    // A QEMU killed mid-line (a crash the test provoked and expected) leaves half a message.
    const killed = vm.end !== undefined && (vm.end.signal !== null || vm.end.code !== 0);
    const protocol = (vm.qmp?.protocolErrors ?? [])
      .filter((e) => !(killed && e.message === 'the connection closed in the middle of a message'))
      .map((e) => `${e.message} (QEMU sent: ${e.line})`);
    // onTestFinished runs before onTestFailed hooks: the test's own result is already here.
    if (task.result?.state === 'fail' || problems.length || protocol.length) {
      console.error(`--- ${name}: guest console (tail) ---\n${vm.consoleTail(40)}\n--- logs kept in ${logDir} ---`);
    } else {
      rmSync(logDir, { recursive: true, force: true });
    }
    if (problems.length) {
      expect.unreachable(`QEMU did not end well:\n${problems.join('\n')}\n(QEMU's output and logs in ${logDir})`);
    }
    if (protocol.length) {
      expect.unreachable(`QEMU's QMP output broke the protocol or the schemas:\n${protocol.join('\n')}\n(the QMP transcript is in ${logDir})`);
    }
  });
  return vm;
}

/** iotool's JSON result; tests call it `iotool(stdout)`. */
export { parseIotoolResult as iotool, type IotoolResult } from '@iohang/guest';
