/**
 * "Drain never waits for the storage to come back": operations that quiesce a hung disk
 * (an external snapshot, a block job, moving it to another iothread) answer in bounded time
 * while guest requests are parked, and the parked requests still complete once the storage
 * is back, with no error in the guest.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, truncateSync as truncate, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { BlkdebugFault } from '@iohang/faults';
import type { BlockInfo } from '@iohang/qmp';
import { qemuPaths, sleep } from '@iohang/core';
import { type ExecResult, type Vm } from '@iohang/vm';
import { expectHealthyGuest, ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';

const BS = 4096;
const COUNT = 16;
const SIZE = 64 << 20; // ext4Image's size
const QOM = '/machine/peripheral/d0/virtio-backend';
/** The reviewer's bound: a drain that waited for the storage would take as long as the outage. */
const BOUND_MS = 10_000;

/** Run a QMP operation, print how long it took and require it to be bounded. */
async function bounded<T>(what: string, op: () => Promise<T>): Promise<T> {
  const t = Date.now();
  const result = await op();
  const ms = Date.now() - t;
  console.log(`${what}: ${ms} ms`);
  expect(ms, what).toBeLessThan(BOUND_MS);
  return result;
}

/** d0's I/O hang state from query-block. */
async function hangState(vm: Vm) {
  type Info = BlockInfo & { 'io-hang'?: { hung: boolean; 'parked-requests': number } };
  const d0 = ((await vm.qmp.execute('query-block')) as Info[]).find((b) => b.qdev === QOM);
  return { node: d0?.inserted?.['node-name'], ...d0?.['io-hang'] };
}

interface Hung {
  vm: Vm;
  image: string;
  fault: BlkdebugFault;
  /** The guest's direct writes, stuck on the failing storage. */
  writer: Promise<ExecResult>;
  hangSeq: number;
}

/** A guest with a direct writer parked on d0 (writes fail with EIO underneath). */
async function hungGuest(
  name: string,
  opts: { props?: Record<string, string | boolean>; iothreads?: string[]; deviceJson?: Record<string, unknown>; extraArgs?: string[] } = {},
): Promise<Hung> {
  const image = await ext4Image(name);
  const disk = { ...hangDisk('d0', image, { iohang: true, ...opts.props }), deviceJson: opts.deviceJson };
  const vm = await bootVm(`io-hang-drain-${name}`, { disks: [disk], iothreads: opts.iothreads ?? [], extraArgs: opts.extraArgs });
  await vm.run('mount -t ext4 /dev/vda /mnt');
  // Allocate the file first so that the hung writes are plain overwrites.
  expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count ${COUNT} --gen 1 --direct --fsync-every ${COUNT}`)).ok).toBe(true);
  const since = vm.qmp.mark();
  const f = await fault(vm, 'd0', ['write']);
  const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count ${COUNT} --gen 2 --direct --fsync-every 8`, { timeoutMs: 180_000 });
  writer.catch(() => undefined); // awaited later; a failing test must not add an unhandled rejection
  const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
  expect(hang.data).toMatchObject({ set: true, 'qom-path': QOM, 'node-name': 'd0-fmt' });
  // Let a couple of retries fail, so the operation under test meets requests parked again.
  await sleep(2500);
  const state = await hangState(vm);
  expect(state.hung).toBe(true);
  expect(state['parked-requests']).toBeGreaterThan(0);
  return { vm, image, fault: f, writer, hangSeq: hang.seq };
}

/** The storage is back: the hang ends, the parked writes complete and the guest saw nothing. */
async function expectRecovery({ vm, fault: f, writer, hangSeq }: Hung) {
  await bounded('remove the fault (blockdev-reopen)', () => f.end());
  await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hangSeq + 1, predicate: (e) => !e.data.set, timeoutMs: 15_000 });
  const result = iotool((await writer).stdout);
  expect(result.errors).toEqual([]);
  expect(result.ok).toBe(true);
  expect(vm.qmp.events().filter((e) => e.seq >= hangSeq && e.event === 'BLOCK_IO_ERROR')).toEqual([]);
  await expectHealthyGuest(vm, 'vda');
  expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count ${COUNT} --gen 2 --direct`)).ok).toBe(true);
}

describe('drain on a hung disk does not wait for the storage', () => {
  it('external snapshot: blockdev-snapshot answers at once; the parked writes land in the overlay', async () => {
    const hung = await hungGuest('snapshot');
    const { vm } = hung;
    // The overlay's backing is attached by blockdev-snapshot; -u: do not open the base in use.
    const overlay = join(mkdtempSync(join(tmpdir(), 'snap-')), 'overlay.qcow2');
    await promisify(execFile)(qemuPaths().img, ['create', '-q', '-f', 'qcow2', '-u', '-b', hung.image, '-F', 'raw', overlay, String(SIZE)]);
    await bounded('blockdev-add overlay', () =>
      vm.qmp.execute('blockdev-add', { driver: 'qcow2', 'node-name': 'snap0', file: { driver: 'file', filename: overlay }, backing: null }),
    );
    // d0-fmt is the device's root (the blkdebug node is only its file child): it gets the overlay.
    await bounded('blockdev-snapshot', () => vm.qmp.execute('blockdev-snapshot', { node: 'd0-fmt', overlay: 'snap0' }, { timeoutMs: 20_000 }));
    // Retries go through the device's new root, and the overlay is healthy (COW only reads
    // the failing base): the hang ends with the fault still on.
    const back = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hung.hangSeq + 1, predicate: (e) => !e.data.set, timeoutMs: 15_000 });
    expect(back.data['node-name']).toBe('snap0');
    // d0-fmt stays in the graph as snap0's backing, so BlkdebugFault.stop() can still reopen it.
    await expectRecovery(hung);
    expect(await hangState(vm)).toMatchObject({ node: 'snap0', hung: false, 'parked-requests': 0 });
  });

  it('block job: blockdev-backup starts and is cancelled while the fault is on', async () => {
    const hung = await hungGuest('job');
    const { vm } = hung;
    const target = join(mkdtempSync(join(tmpdir(), 'backup-')), 'target.img');
    writeFileSync(target, '');
    truncate(target, SIZE);
    await vm.qmp.execute('blockdev-add', { driver: 'raw', 'node-name': 'bk0', file: { driver: 'file', filename: target } });
    const since = vm.qmp.mark();
    // Throttled so that the job is still running when it is cancelled (64 MiB at 1 MiB/s).
    await bounded('blockdev-backup', () =>
      vm.qmp.execute('blockdev-backup', { 'job-id': 'backup0', device: 'd0-fmt', target: 'bk0', sync: 'full', speed: 1 << 20 }, { timeoutMs: 20_000 }),
    );
    await vm.qmp.waitEvent('JOB_STATUS_CHANGE', { since, predicate: (e) => e.data.id === 'backup0' && e.data.status === 'running', timeoutMs: BOUND_MS });
    // Retries now go through the job's copy-before-write filter and still fail: still hung.
    await sleep(2500);
    expect((await hangState(vm))['parked-requests']).toBeGreaterThan(0);
    // QEMU 10.0 sends BLOCK_JOB_CANCELLED and JOB_STATUS_CHANGE aborting -> concluded -> null.
    await bounded('block-job-cancel until the job is gone', async () => {
      const cancelled = vm.qmp.mark();
      await vm.qmp.execute('block-job-cancel', { device: 'backup0' }, { timeoutMs: 20_000 });
      await vm.qmp.waitEvent('BLOCK_JOB_CANCELLED', { since: cancelled, predicate: (e) => e.data.device === 'backup0', timeoutMs: 20_000 });
      await vm.qmp.waitEvent('JOB_STATUS_CHANGE', { since: cancelled, predicate: (e) => e.data.id === 'backup0' && e.data.status === 'null', timeoutMs: 20_000 });
    });
    expect(await vm.qmp.execute('query-block-jobs')).toEqual([]);
    await expectRecovery(hung);
    expect(await hangState(vm)).toMatchObject({ node: 'd0-fmt', hung: false, 'parked-requests': 0 });
  });

  it('iothread-vq-mapping: requests of two virtqueues in two iothreads park, a stop hands them back, all recover', async () => {
    // Two vCPUs: blk-mq gives each its own virtqueue, and each virtqueue has its iothread.
    const hung = await hungGuest('vq-mapping', {
      iothreads: ['io0', 'io1'],
      deviceJson: { 'num-queues': 2, 'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }] },
      extraArgs: ['-smp', '2'],
    });
    const { vm } = hung;
    // A second writer on the other vCPU submits on the other virtqueue, and parks too.
    const other = vm.exec(`taskset -c 1 iotool write /mnt/other --bs ${BS} --count 4 --gen 1 --direct`, { timeoutMs: 180_000 });
    other.catch(() => undefined);
    await sleep(2000);
    await bounded('stop', () => vm.qmp.execute('stop'));
    await bounded('cont', () => vm.qmp.execute('cont'));
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hung.hangSeq + 2, predicate: (e) => e.data.set === true, timeoutMs: 15_000 });
    expect((await hangState(vm))['parked-requests']).toBeGreaterThan(0);
    await expectRecovery(hung);
    expect(iotool((await other).stdout).errors).toEqual([]);
  });

  it('hot-unplug: device_del of a hung disk waits for the guest, which waits for its I/O; it completes when the storage is back', async () => {
    const hung = await hungGuest('unplug');
    const { vm } = hung;
    const since = vm.qmp.mark();
    await bounded('device_del', () => vm.qmp.execute('device_del', { id: 'd0' }));
    // Linux's virtio_blk remove waits for the requests it has in flight (del_gendisk), and
    // they are parked: the unplug is pending, QEMU stays responsive, nothing is lost.
    await sleep(5000);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'DEVICE_DELETED')).toEqual([]);
    await bounded('query-status while the unplug is pending', () => vm.qmp.execute('query-status'));
    expect((await hangState(vm)).hung).toBe(true);
    const restored = Date.now();
    await hung.fault.end();
    await vm.qmp.waitEvent('DEVICE_DELETED', { since, predicate: (e) => e.data.device === 'd0', timeoutMs: 60_000 });
    console.log(`storage back -> DEVICE_DELETED: ${Date.now() - restored} ms`);
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hung.hangSeq + 1, predicate: (e) => e.data.set === false, timeoutMs: 15_000 });
    expect(vm.running).toBe(true);
    expect(((await vm.qmp.execute('query-block')) as BlockInfo[]).filter((b) => b.qdev?.includes('/d0/'))).toEqual([]);
    expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
    expect(await vm.run('ls /sys/block')).not.toMatch(/vda/);
    // The parked write completed before the disk went; the writer's later writes failed (no
    // disk). Every write the guest saw succeed is on the disk: plugged in again, it is there.
    const written = iotool((await hung.writer).stdout).timeline.filter((t) => t.op === 'write' && t.ok).length;
    expect(written).toBeGreaterThan(0);
    await vm.qmp.execute('device_add', { driver: 'virtio-blk-pci', id: 'd0b', drive: 'd0-fmt', iohang: 'on' });
    // The old filesystem still holds the name vda (umount -l), so the new disk is another vd*.
    const dev = (
      await vm.run('umount -l /mnt; for i in $(seq 300); do d=$(ls /sys/block | grep "^vd" | head -1); [ -n "$d" ] && [ -b /dev/$d ] && break; sleep 0.1; done; echo $d', { timeoutMs: 60_000 })
    ).trim();
    expect(dev).toMatch(/^vd[a-z]$/);
    await vm.run(`mount -t ext4 /dev/${dev} /mnt`);
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count ${written} --gen 2 --direct`)).ok).toBe(true);
  });
});
