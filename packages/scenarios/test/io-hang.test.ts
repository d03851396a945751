/**
 * I/O hang on virtio-blk, seen from a real guest: storage fails with EIO for a while and
 * the guest only sees slow I/O; QMP tells management when the disk hangs and recovers.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NbdfuseImage } from '@iohang/faults';
import { createDisk } from '@iohang/guest';
import { qemuPaths, sleep } from '@iohang/core';
import { type Props } from '@iohang/vm';
import { expectHealthyGuest, ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool, type IotoolResult } from './support.ts';

const BS = 4096;

/** The longest single request in an iotool timeline, in ms. */
function longestMs(r: IotoolResult): number {
  return Math.max(...r.timeline.map((t) => t.lat_us)) / 1000;
}

describe.each([
  ['main loop', undefined],
  ['iothread', 'io0'],
] as const)('I/O hang on virtio-blk (%s)', (where, iothread) => {
  it.each([
    ['write', 'write', `iotool write /mnt/data --bs ${BS} --count 64 --gen 2 --direct --fsync-every 8 --interval-ms 20`],
    ['read', 'read', `iotool verify /mnt/data --bs ${BS} --count 64 --gen 1 --direct`],
    ['flush', 'flush', `iotool write /mnt/data --bs ${BS} --count 64 --gen 2 --fsync-every 4 --interval-ms 20`],
  ] as const)('%s: EIO for ~5 s stalls the guest instead of failing it, then everything completes', async (name, op, load) => {
    const props: Props = iothread ? { iohang: true, iothread } : { iohang: true };
    const vm = await bootVm(`io-hang-${name}-${where.replace(' ', '-')}`, { disks: [hangDisk('d0', await ext4Image(name), props)], iothreads: iothread ? [iothread] : [] });
    await vm.run('mount -t ext4 /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 64 --gen 1 --direct --fsync-every 64`)).ok).toBe(true);
    await vm.run('sync; echo 3 > /proc/sys/vm/drop_caches');

    const since = vm.qmp.mark();
    // blockdev-reopen flushes, so a flush fault cannot be switched off while it fires:
    // it fails a fixed number of flushes instead (one per retry: about 6 s).
    const f = await fault(vm, 'd0', [op], op === 'flush' ? 6 : undefined);
    const running = vm.exec(`${load} > /tmp/load.json; cat /tmp/load.json`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data).toMatchObject({ set: true, 'qom-path': '/machine/peripheral/d0/virtio-backend', 'node-name': 'd0-fmt' });
    if (op !== 'flush') {
      await sleep(5000);
      expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
      await f.end();
    }
    const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 30_000 });
    expect(recovered.data.set).toBe(false);
    if (op === 'flush') await f.end();

    const result = iotool((await running).stdout);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    if (op !== 'flush') expect(longestMs(result)).toBeGreaterThan(4000);
    const events = vm.qmp.events().filter((e) => e.seq >= since && e.event.startsWith('BLOCK_IO'));
    expect(events.map((e) => `${e.event}:${String(e.data.set)}`)).toEqual(['BLOCK_IO_HANG:true', 'BLOCK_IO_HANG:false']);

    await expectHealthyGuest(vm, 'vda');
    const gen = op === 'read' ? 1 : 2;
    await vm.run('umount /mnt && mount -t ext4 /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 64 --gen ${gen} --direct`)).ok).toBe(true);
  });
});

describe('I/O hang limits and neighbours', () => {
  it('timeout 3 s with a 10 s outage: the guest gets EIO after ~3 s, then the disk works again', async () => {
    const vm = await bootVm('io-hang-timeout', { disks: [hangDisk('d0', await ext4Image('timeout'), { iohang: true, 'iohang-timeout': 3 })] });
    await vm.run('mount -t ext4 -o lazytime /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 16 --gen 1 --direct --fsync-every 16`)).ok).toBe(true);
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const started = Date.now();
    const failed = await vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 2 --direct`, { timeoutMs: 60_000 });
    const waitedMs = Date.now() - started;
    expect(failed.exitCode).toBe(1);
    expect(iotool(failed.stdout).errors[0]).toMatchObject({ errno: 5 });
    // 3 s timeout, reported within one retry interval (1 s); TCG adds guest-side slack.
    expect(waitedMs).toBeGreaterThan(2900);
    expect(waitedMs).toBeLessThan(3000 + 1000 + 3000);
    const timeout = await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since });
    expect(timeout.data).toMatchObject({ set: true, 'qom-path': '/machine/peripheral/d0/virtio-backend' });
    await vm.qmp.waitEvent('BLOCK_IO_ERROR', { since, predicate: (e) => e.data.operation === 'write' && e.data.action === 'report' });
    // While timed out and still broken, a new failure is reported at once instead of hanging again.
    const quick = Date.now();
    expect((await vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 3 --direct`)).exitCode).toBe(1);
    expect(Date.now() - quick).toBeLessThan(2500);
    await sleep(Math.max(0, 10_000 - (Date.now() - started)));
    await f.end();
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 16 --gen 4 --direct --fsync-every 16`)).ok).toBe(true);
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 16 --gen 4 --direct`)).ok).toBe(true);
    const back = await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since: timeout.seq + 1 });
    expect(back.data.set).toBe(false);
  });

  it('I/O hang off (the control): EIO reaches the guest at once', async () => {
    const vm = await bootVm('io-hang-off', { disks: [hangDisk('d0', await ext4Image('off'), {})] });
    await vm.run('mount -t ext4 -o lazytime /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 16 --gen 1 --direct --fsync-every 16`)).ok).toBe(true);
    const since = vm.qmp.mark();
    await fault(vm, 'd0', ['write']);
    const started = Date.now();
    expect((await vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 2 --direct`)).exitCode).toBe(1);
    expect(Date.now() - started).toBeLessThan(2500);
    expect(await vm.run('dmesg')).toMatch(/I\/O error, dev vda/);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_HANG')).toEqual([]);
  });

  it('two disks, one hung: the other keeps doing I/O and the shell keeps answering', async () => {
    const vm = await bootVm('io-hang-two-disks', { disks: [hangDisk('d0', await ext4Image('hung')), hangDisk('d1', await ext4Image('healthy'))] });
    await vm.run('mount -t ext4 /dev/vda /mnt && mkdir -p /m1 && mount -t ext4 /dev/vdb /m1');
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const stuck = vm.exec(`iotool write /mnt/data --bs ${BS} --count 8 --gen 1 --direct --fsync-every 8`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data['qom-path']).toBe('/machine/peripheral/d0/virtio-backend');
    for (let round = 0; round < 3; round++) {
      const t = Date.now();
      expect((await vm.run('echo pong', { timeoutMs: 10_000 })).trim()).toBe('pong');
      expect(Date.now() - t).toBeLessThan(5000);
      const other = iotool(await vm.run(`iotool write /m1/data --bs ${BS} --count 32 --gen ${round + 1} --direct --fsync-every 8`, { timeoutMs: 30_000 }));
      expect(other.ok).toBe(true);
    }
    await f.end();
    expect(iotool((await stuck).stdout).ok).toBe(true);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_HANG').map((e) => e.data['qom-path'])).toEqual([
      '/machine/peripheral/d0/virtio-backend',
      '/machine/peripheral/d0/virtio-backend',
    ]);
  });
});

describe.each([
  ['main loop', {}],
  ['iothread', { iothread: 'io0' }],
] as const)('stop, cont and quit during a hang (%s)', (_where, extraProps) => {
  const opts = (image: string) => ({ disks: [hangDisk('d0', image, { iohang: true, ...extraProps })], iothreads: 'iothread' in extraProps ? ['io0'] : [] });

  it('stop and cont return at once; after cont the requests complete once the fault ends, with no guest error', async () => {
    const vm = await bootVm(`io-hang-stop-cont-${'iothread' in extraProps ? 'iothread' : 'main'}`, opts(await ext4Image('stop')));
    await vm.run('mount -t ext4 /dev/vda /mnt');
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count 32 --gen 1 --direct --fsync-every 8`, { timeoutMs: 180_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    let t = Date.now();
    await vm.qmp.execute('stop');
    expect(Date.now() - t).toBeLessThan(5000);
    // Handed back to virtio-blk like werror=stop: the hang ends, no error is reported.
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => !e.data.set, timeoutMs: 5000 });
    expect(await vm.qmp.execute('query-status')).toMatchObject({ status: 'paused' });
    t = Date.now();
    await vm.qmp.execute('cont');
    expect(Date.now() - t).toBeLessThan(5000);
    // virtio-blk re-sends the request; the storage is still down, so it parks again.
    const again = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set && e.seq > since + 1, timeoutMs: 30_000 });
    await sleep(2000);
    await f.end();
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: again.seq + 1, predicate: (e) => !e.data.set, timeoutMs: 15_000 });
    const result = iotool((await writer).stdout);
    expect(result.errors).toEqual([]);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR')).toEqual([]);
    await expectHealthyGuest(vm, 'vda');
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 32 --gen 1 --direct`)).ok).toBe(true);
  });

  it('quit returns at once and QEMU exits', async () => {
    const vm = await bootVm(`io-hang-quit-${'iothread' in extraProps ? 'iothread' : 'main'}`, opts(await ext4Image('quit')));
    await vm.run('mount -t ext4 /dev/vda /mnt');
    const since = vm.qmp.mark();
    await fault(vm, 'd0', ['write']);
    void vm.exec(`iotool write /mnt/data --bs ${BS} --count 8 --gen 1 --direct`, { timeoutMs: 120_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    const t = Date.now();
    await vm.qmp.execute('quit');
    await vm.waitExit(5000);
    expect(Date.now() - t).toBeLessThan(5000);
    expect(vm.running).toBe(false);
  });
});

describe('the original interface and device resets', () => {
  it("the 2020 proposal's command line (-drive ...,iohang-timeout=60 on pc: IDE) hangs and recovers", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'seed-'));
    const backing = join(dir, 'backing.img');
    await createDisk({ path: backing, sizeMiB: 64, format: 'raw', ext4: {} }, qemuPaths().img);
    // shared.img is a plain file to QEMU; the storage underneath fails writes on demand.
    const shared = await NbdfuseImage.start({ image: backing, dir, ops: ['write'], name: 'shared.img' });
    // As documented in 2020, with only the accelerator changed (TCG here).
    const vm = await bootVm('io-hang-seed', { extraArgs: ['-machine', 'pc', '-drive', `file=${shared.path},format=raw,cache=none,aio=native,iohang-timeout=60`], owns: [shared] });
    await vm.run('mount -t ext4 /dev/sda /mnt');
    type Info = { device: string; 'io-hang'?: { timeout: number; 'retry-interval': number; hung: boolean; 'parked-requests': number } };
    const disk = () => vm.qmp.execute('query-block').then((bs) => (bs as Info[]).find((b) => b.device === 'ide0-hd0')!);
    expect((await disk())['io-hang']).toMatchObject({ read: { timeout: 60, 'retry-interval': 1000 }, write: { timeout: 60, 'retry-interval': 1000 }, errors: ['eio'], hung: false });
    const since = vm.qmp.mark();
    await shared.begin();
    const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count 32 --gen 1 --direct --fsync-every 8`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data).toMatchObject({ device: 'ide0-hd0', set: true });
    await sleep(4000);
    const hung = (await disk())['io-hang']!;
    expect(hung.hung).toBe(true);
    expect(hung['parked-requests']).toBeGreaterThan(0);
    await shared.end();
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 15_000 });
    expect(iotool((await writer).stdout).errors).toEqual([]);
    await expectHealthyGuest(vm, 'sda');
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 32 --gen 1 --direct`)).ok).toBe(true);
    await vm.close();
  });

  it('a guest-triggered reset while requests are parked: no crash, nothing left parked, the disk works after reboot', async () => {
    const vm = await bootVm('io-hang-reset', { disks: [hangDisk('d0', await ext4Image('reset'))], allowReboot: true });
    await vm.run('mount -t ext4 /dev/vda /mnt');
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    void vm.exec(`iotool write /mnt/data --bs ${BS} --count 16 --gen 1 --direct`, { timeoutMs: 300_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    // The guest resets the machine at once (no sync): virtio-blk is reset with requests parked.
    void vm.exec('echo b > /proc/sysrq-trigger');
    await vm.waitReboot();
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => !e.data.set, timeoutMs: 5000 });
    const info = ((await vm.qmp.execute('query-block')) as { 'io-hang'?: { hung: boolean; 'parked-requests': number } }[])[0]!;
    expect(info['io-hang']).toMatchObject({ hung: false, 'parked-requests': 0 });
    await f.end();
    await vm.run('mount -t ext4 /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 16 --gen 2 --direct --fsync-every 16`)).ok).toBe(true);
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 16 --gen 2 --direct`)).ok).toBe(true);
    expect(vm.running).toBe(true);
  });
});
