/**
 * The seams of I/O hang as a Linux guest sees them: a reset of one device beside a hung
 * disk, the guest's NVMe driver aborting parked flushes, and flushes through the host page
 * cache, which no retry can make good. QEMU's own qtest (tests/qtest/io-hang-test.c) holds
 * the register-level side of each; these show what the guest gets.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { NbdfuseImage } from '@iohang/faults';
import { createDisk } from '@iohang/guest';
import { qemuPaths, sleep } from '@iohang/core';
import { type Vm } from '@iohang/vm';
import { expectHealthyGuest, ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';

const BS = 4096;

type IoHangInfo = { hung: boolean; 'parked-requests': number };
async function ioHang(vm: Vm, qdev: string): Promise<IoHangInfo | undefined> {
  const blocks = (await vm.qmp.execute('query-block')) as { qdev?: string; 'io-hang'?: IoHangInfo }[];
  return blocks.find((b) => b.qdev === qdev)?.['io-hang'];
}

describe.each([
  ['main loop', undefined],
  ['iothread', 'io0'],
] as const)('a sibling device reset (%s)', (where, iothread) => {
  it('resetting a virtio-scsi controller leaves the writes of a hung virtio-blk disk parked; they complete when the storage is back', async () => {
    const onIothread: Record<string, string> = iothread ? { iothread } : {};
    const vm = await bootVm(`io-hang-sibling-reset-${where.replace(' ', '-')}`, {
      disks: [hangDisk('d0', await ext4Image('sibling'), { iohang: true, ...onIothread }), { ...hangDisk('d1', await ext4Image('scsi'), { bus: 'scsi0.0' }), device: 'scsi-hd' }],
      controllers: [`virtio-scsi-pci,id=scsi0${iothread ? `,iothread=${iothread}` : ''}`],
      iothreads: iothread ? [iothread] : [],
    });
    await vm.run('mount -t ext4 /dev/vda /mnt');
    const scsi = (await vm.run('ls /sys/bus/virtio/drivers/virtio_scsi | grep ^virtio')).trim();
    expect(scsi).toMatch(/^virtio\d+$/);
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count 16 --gen 1 --direct`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data).toMatchObject({ set: true, 'qom-path': '/machine/peripheral/d0/virtio-backend' });

    // Unbinding the driver resets the device: virtio_scsi_dataplane_stop(), blk_drain_all()
    await vm.run(`echo ${scsi} > /sys/bus/virtio/drivers/virtio_scsi/unbind; echo ${scsi} > /sys/bus/virtio/drivers/virtio_scsi/bind`);
    await vm.run('for i in $(seq 100); do [ -b /dev/sda ] && break; sleep 0.1; done; [ -b /dev/sda ]');
    await sleep(2000);
    // Still hung, as the storage is: nothing was handed over or failed
    expect(vm.qmp.events().filter((e) => e.seq > hang.seq && e.event.startsWith('BLOCK_IO'))).toEqual([]);
    expect(await ioHang(vm, '/machine/peripheral/d0/virtio-backend')).toMatchObject({ hung: true });

    // The storage comes back: the parked writes complete on their own, no stop/cont needed
    await f.end();
    const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 10_000 });
    expect(recovered.data.set).toBe(false);
    expect(iotool((await writer).stdout).errors).toEqual([]);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR')).toEqual([]);
    await expectHealthyGuest(vm, 'vda');
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 16 --gen 1 --direct`)).ok).toBe(true);
  });
});

describe('NVMe aborts of parked flushes', () => {
  it("the driver's Aborts of a parked flush are answered, QEMU stays well, and the flush completes after the repair", async () => {
    const vm = await bootVm('io-hang-nvme-abort-flush', {
      disks: [{ ...hangDisk('d0', await ext4Image('nvme-flush'), { iohang: true, bus: 'nvme0' }), device: 'nvme-ns' }],
      controllers: ['nvme,id=nvme0,serial=iohang0'],
    });
    await vm.run('for i in $(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done');
    // A 3 s I/O timeout, set before the flush is issued: the driver aborts it every 3 s
    await vm.run('echo 3000 > /sys/block/nvme0n1/queue/io_timeout');
    const bootLog = await vm.run('dmesg');
    const raw = `/dev/nvme0n1 --bs ${BS} --count 4 --offset ${32 << 20} --gen 1 --direct`;
    expect(iotool(await vm.run(`iotool write ${raw}`)).ok).toBe(true);
    const since = vm.qmp.mark();
    // Eight failures, about 8 s at the default retry interval. An abort ends the hang for a
    // moment (BLOCK_IO_HANG false, then true when the driver sends the flush again), so the
    // end of the outage is the writer's end: its flush succeeded, or the guest gave up.
    const f = await fault(vm, 'd0', ['flush'], 8);
    const writer = vm.exec(`iotool write ${raw} --fsync-every 4 --keep-going`, { timeoutMs: 180_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    await sleep(6000);
    const aborts = (await vm.run('dmesg')).slice(bootLog.length).split('\n').filter((l) => /abort/i.test(l));
    expect(aborts.length, 'the guest aborted the flush').toBeGreaterThan(0);
    expect(vm.running).toBe(true);
    const result = iotool((await writer).stdout);
    await vm.run('echo 30000 > /sys/block/nvme0n1/queue/io_timeout');
    // blockdev-reopen, which removes the fault, flushes through it: while blkdebug has
    // failures left (the guest gave up early), each refused reopen uses one of the eight.
    for (let left = 8; ; left--) {
      const refused = await f.end().then(() => undefined, (e: Error) => e);
      if (!refused) break;
      if (left === 0 || !/Error flushing drive/.test(refused.message)) throw refused;
    }
    expect(await ioHang(vm, 'd0')).toMatchObject({ 'parked-requests': 0 });
    // The disk works; whether the guest gave up on the flush is its own decision
    const after = iotool(await vm.run(`iotool write /dev/nvme0n1 --bs ${BS} --count 4 --offset ${40 << 20} --gen 2 --direct --fsync-every 4`, { timeoutMs: 60_000 }));
    expect(after.ok).toBe(true);
    console.info(`NVMe flush aborts: ${aborts.length} abort lines, ${result.errors.length} failed requests in the guest:\n${aborts.slice(0, 4).join('\n')}`);
  });
});

describe('flushes through the host page cache', () => {
  it('with cache.direct=off a failed flush reaches the guest at once instead of hanging for good; writes still hang', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'page-cache-'));
    const backing = join(dir, 'backing.img');
    await createDisk({ path: backing, sizeMiB: 64, format: 'raw' }, qemuPaths().img);
    // A plain file to QEMU, opened without O_DIRECT; its flushes fail on demand below it
    const file = await NbdfuseImage.start({ image: backing, dir, ops: ['flush'], name: 'cached.img' });
    const vm = await bootVm('io-hang-page-cache-flush', {
      disks: [{ id: 'd0', backend: file.path, protocolOptions: { cache: { direct: false } }, deviceProps: { iohang: true } }],
      owns: [file],
    });
    const raw = `/dev/vda --bs ${BS} --count 8 --gen 1 --direct`;
    expect(iotool(await vm.run(`iotool write ${raw} --fsync-every 8`)).ok).toBe(true);

    const since = vm.qmp.mark();
    await file.begin();
    const started = Date.now();
    const result = iotool((await vm.exec(`iotool write ${raw} --fsync-every 4`, { timeoutMs: 60_000 })).stdout);
    const seconds = (Date.now() - started) / 1000;
    await file.end();
    // The fsync failed (EIO) within seconds: not parked, since no retry could succeed
    expect(result.errors.map((e) => ({ op: e.op, errno: e.errno }))).toContainEqual({ op: 'fsync', errno: 5 });
    expect(seconds).toBeLessThan(20);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_HANG')).toEqual([]);
    expect(await ioHang(vm, '/machine/peripheral/d0/virtio-backend')).toMatchObject({ hung: false, 'parked-requests': 0 });
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR').map((e) => e.data)).toContainEqual(expect.objectContaining({ operation: 'write', action: 'report' }));
    // QEMU said so when I/O hang was turned on
    expect(vm.qemuOutput()).toMatch(/warning: I\/O hang on 'd0-fmt': the image uses the host page cache \(cache.direct=off\), so a flush that fails reaches the guest at once/);
    console.info(`page cache: the failed fsync reached the guest after ${seconds.toFixed(1)} s`);
  });
});
