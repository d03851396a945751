/**
 * Bad input over QMP on a running VM: each mistake gets an error that says what was wrong,
 * and QEMU keeps running with its disks as they were. (Startup options: io-hang-options.test.ts.)
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textTable, workspaceRoot } from '@iohang/core';
import { QmpCommandError } from '@iohang/qmp';
import { Vm } from '@iohang/vm';
import { ext4Image, hangDisk } from './hang-helpers.ts';
import { testGuest } from './support.ts';

type Case = [name: string, command: string, args: Record<string, unknown>, message: string | RegExp];

/** OnOff properties take "on"/"off" over QMP, as everywhere in qdev. */
const blk = (props: Record<string, unknown>) => ({ driver: 'virtio-blk-pci', id: 'hot0', drive: 'spare-fmt', ...props });

const CASES: Case[] = [
  ['negative timeout', 'device_add', blk({ iohang: 'on', 'iohang-timeout': -1 }), /iohang-timeout/],
  ['huge timeout', 'device_add', blk({ 'iohang-timeout': 99_999_999_999 }), /iohang-timeout/],
  ['huge retry interval', 'device_add', blk({ iohang: 'on', 'iohang-retry-interval': 700_000 }), 'iohang-retry-interval must be between 1 and 600000 milliseconds, not 700000'],
  ['interval without I/O hang', 'device_add', blk({ 'iohang-retry-interval': 50 }), 'iohang-retry-interval needs I/O hang'],
  ['off with a timeout', 'device_add', blk({ iohang: 'off', 'iohang-timeout': 5 }), 'iohang=off conflicts with iohang-timeout=5'],
  ['wrong type (string for a boolean)', 'device_add', blk({ iohang: 'maybe' }), /iohang/],
  ['wrong type (string for a number)', 'device_add', blk({ iohang: 'on', 'iohang-timeout': 'soon' }), /iohang-timeout/],
  ['typo in a property name', 'device_add', blk({ 'iohang-timout': 5 }), /iohang-timout/],
  ['unknown disk', 'device_add', blk({ drive: 'no-such-disk', iohang: 'on' }), /no-such-disk/],
  ['changing a property after realize', 'qom-set', { path: '/machine/peripheral/d0', property: 'iohang-timeout', value: 5 }, /after it was realized|read-only/],
  ['reading state of an unknown device', 'qom-get', { path: '/machine/peripheral/nope', property: 'iohang' }, /nope/],
  ['run time: unknown disk', 'block-io-hang-set', { id: 'nope', enable: true }, "Device 'nope' not found"],
  ['run time: retry interval 0', 'block-io-hang-set', { id: 'd0', 'retry-interval': 0 }, 'retry-interval must be between 1 and 600000 milliseconds, not 0'],
  ['run time: huge timeout', 'block-io-hang-set', { id: 'd0', timeout: 99_999_999 }, 'timeout must be at most 31536000 seconds (0 for no timeout), not 99999999'],
  ['run time: huge read timeout', 'block-io-hang-set', { id: 'd0', 'read-timeout': 99_999_999 }, 'read-timeout must be at most 31536000 seconds (0 for no timeout), not 99999999'],
  ['run time: write retry interval 0', 'block-io-hang-set', { id: 'd0', 'write-retry-interval': 0 }, 'write-retry-interval must be between 1 and 600000 milliseconds, not 0'],
  ['run time: no errors to park', 'block-io-hang-set', { id: 'd0', errors: [] }, 'errors must name at least one error'],
  // QEMU 10.0's QAPI input visitor names list elements 'null' here, not 'errors[1]'.
  ['run time: an error I/O hang cannot park', 'block-io-hang-set', { id: 'd0', errors: ['eio', 'eperm'] }, "does not accept value 'eperm'"],
  ['run time: negative timeout', 'block-io-hang-set', { id: 'd0', timeout: -5 }, /'timeout'/],
  ['run time: wrong type', 'block-io-hang-set', { id: 'd0', enable: 'yes' }, /'enable'/],
  ['run time: typo in a member', 'block-io-hang-set', { id: 'd0', timout: 5 }, /timout/],
  ['run time: no disk named', 'block-io-hang-set', { enable: true }, /'id'/],
  ['retry now: unknown disk', 'block-io-hang-retry', { id: 'nope' }, "Device 'nope' not found"],
];

describe('bad QMP input on a running VM', () => {
  let vm: Vm;
  const table: string[][] = [];

  // One VM for the whole table: every case must leave it as it found it.
  beforeAll(async () => {
    vm = await Vm.start({ guest: await testGuest(), disks: [hangDisk('d0', await ext4Image('bad-input'))], logDir: join(workspaceRoot(), 'test-logs', 'bad-input') });
    await vm.qmp.execute('blockdev-add', { driver: 'raw', 'node-name': 'spare-fmt', file: { driver: 'file', filename: await ext4Image('spare') } });
  });

  afterAll(async () => {
    await vm?.close();
    expect(vm?.endProblems()).toEqual([]);
    console.log(['QMP input rejected while the VM runs:', ...textTable([], table)].join('\n'));
  });

  it.each(CASES)('%s: a clear error, and QEMU keeps running', async (name, command, args, message) => {
    const error = await vm.qmp.execute(command, args).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(QmpCommandError);
    const desc = (error as QmpCommandError).desc;
    table.push([name, `${command} ${JSON.stringify(args)}`, desc]);
    expect(desc).toMatch(message);
    // QEMU is still running, the guest still answers, and no half-added device is left.
    expect(vm.running).toBe(true);
    expect(await vm.qmp.execute('query-status')).toMatchObject({ status: 'running' });
    expect(((await vm.qmp.execute('qom-list', { path: '/machine/peripheral' })) as { name: string }[]).map((p) => p.name)).not.toContain('hot0');
  });

  it('after all of it the hung-capable disk still works', async () => {
    expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
    const info = ((await vm.qmp.execute('query-block')) as { device: string; qdev?: string; 'io-hang'?: unknown }[]).find((b) => b.qdev?.includes('d0'));
    // The refused run-time changes changed nothing.
    expect(info?.['io-hang']).toMatchObject({ hung: false, 'parked-requests': 0, read: { timeout: 0, 'retry-interval': 1000 }, write: { timeout: 0, 'retry-interval': 1000 }, errors: ['eio'] });
  });
});
