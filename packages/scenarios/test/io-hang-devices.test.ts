/**
 * I/O hang on the other disk models: scsi-hd on virtio-scsi and nvme-ns (device
 * properties), and ide-hd on AHCI (settings over QMP, since ide-hd has no I/O hang
 * properties). The same outage stalls the guest without an error, and the device's own
 * cancel paths are safe while requests are parked: SCSI device, bus and host resets
 * (virtio-scsi task management; virtio-scsi never times commands out, so the guest asks
 * for them with SG_SCSI_RESET), libata's error handler on AHCI, which aborts and resets a
 * port when a command outlives its timeout, and the NVMe driver's Abort and controller
 * reset on a timeout.
 */
import { describe, expect, it } from 'vitest';
import type { DiskSpec, Vm } from '@iohang/vm';
import { expectHealthyGuest, ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep } from '@iohang/core';

const BS = 4096;

interface Model {
  name: string;
  disk: (image: string) => DiskSpec;
  controllers: string[];
  /** The guest's block device. */
  dev: string;
  /** Turn I/O hang on after boot (ide-hd has no properties for it). */
  enableOverQmp: boolean;
  qom: string;
  /** Before the fault: what makes the guest's error handler act on the parked requests. */
  prepare?: (vm: Vm) => Promise<void>;
  /** Make the guest's driver give up on the parked requests: aborts and resets. */
  provoke: (vm: Vm) => Promise<void>;
  /** Stop and continue the VM while hung: NVMe keeps its requests parked across it. */
  stopWhileHung?: boolean;
}

const MODELS: Model[] = [
  {
    name: 'scsi-hd on virtio-scsi',
    disk: (image) => ({ ...hangDisk('d0', image, { iohang: true }), device: 'scsi-hd' }),
    controllers: ['virtio-scsi-pci,id=scsi0'],
    dev: 'sda',
    enableOverQmp: false,
    qom: '/machine/peripheral/d0',
    provoke: async (vm) => {
      for (const kind of ['device', 'bus', 'host']) {
        const r = await vm.exec(`iotool scsi-reset /dev/sda ${kind}`, { timeoutMs: 60_000 });
        expect(r.stdout, `SG_SCSI_RESET ${kind}`).toMatch(new RegExp(`"reset":"${kind}"`));
        await sleep(2000);
      }
    },
  },
  {
    name: 'ide-hd on AHCI',
    disk: (image) => ({ ...hangDisk('d0', image, { bus: 'ahci0.0' }), device: 'ide-hd' }),
    controllers: ['ahci,id=ahci0'],
    dev: 'sda',
    enableOverQmp: true,
    qom: '/machine/peripheral/d0',
    // A 3 s command timeout, set before the write is issued (a request keeps the timeout it
    // started with): libata's error handler aborts the stuck command and resets the port,
    // again and again for 20 s, while the write stays parked.
    prepare: async (vm) => {
      await vm.run('echo 3 > /sys/block/sda/device/timeout');
    },
    provoke: async (vm) => {
      await sleep(20_000);
      await vm.run('echo 30 > /sys/block/sda/device/timeout');
    },
  },
  {
    name: 'nvme-ns on nvme',
    disk: (image) => ({ ...hangDisk('d0', image, { iohang: true, bus: 'nvme0' }), device: 'nvme-ns' }),
    controllers: ['nvme,id=nvme0,serial=iohang0'],
    dev: 'nvme0n1',
    enableOverQmp: false,
    qom: '/machine/peripheral/d0',
    // A 3 s I/O timeout, set before the write is issued: the driver sends an NVMe Abort for
    // each stuck command, every timeout.
    prepare: async (vm) => {
      await vm.run('echo 3000 > /sys/block/nvme0n1/queue/io_timeout');
    },
    provoke: async (vm) => {
      await sleep(10_000);
      await vm.run('echo 30000 > /sys/block/nvme0n1/queue/io_timeout');
    },
    stopWhileHung: true,
  },
];

/** d0's parked requests, from query-block (its qdev is the device's ID). */
async function parkedRequests(vm: Vm): Promise<number> {
  const blocks = (await vm.qmp.execute('query-block')) as { qdev?: string; 'io-hang'?: { 'parked-requests': number } }[];
  const hang = blocks.find((b) => b.qdev === 'd0')?.['io-hang'];
  if (!hang) throw new Error(`query-block shows no io-hang for d0: ${JSON.stringify(blocks)}`);
  return hang['parked-requests'];
}

async function boot(model: Model, what: string): Promise<Vm> {
  const vm = await bootVm(`io-hang-${model.name.split(' ')[0]}-${model.name.split(' ').at(-1)}-${what}`, { disks: [model.disk(await ext4Image(what))], controllers: model.controllers });
  if (model.enableOverQmp) await vm.qmp.execute('block-io-hang-set', { id: 'd0', enable: true });
  await vm.run(`for i in $(seq 100); do [ -b /dev/${model.dev} ] && break; sleep 0.1; done; mount -t ext4 /dev/${model.dev} /mnt`);
  expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 32 --gen 1 --direct --fsync-every 32`)).ok).toBe(true);
  return vm;
}

describe.each(MODELS)('I/O hang on $name', (model) => {
  it('EIO for ~5 s stalls the guest instead of failing it, then everything completes', async () => {
    const vm = await boot(model, 'recover');
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count 32 --gen 2 --direct --fsync-every 8 --interval-ms 20`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data).toMatchObject({ set: true, 'qom-path': model.qom, 'node-name': 'd0-fmt' });
    await sleep(5000);
    expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
    if (model.stopWhileHung) {
      // No werror=stop to hand the requests back to: they stay parked, the hang goes on.
      await vm.qmp.execute('stop');
      await sleep(1000);
      await vm.qmp.execute('cont');
      await sleep(1000);
      expect(vm.qmp.events().filter((e) => e.seq > hang.seq && e.event.startsWith('BLOCK_IO'))).toEqual([]);
    }
    await f.end();
    expect((await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1 })).data.set).toBe(false);
    const result = iotool((await writer).stdout);
    expect(result.errors).toEqual([]);
    expect(Math.max(...result.timeline.map((t) => t.lat_us)) / 1000).toBeGreaterThan(4000);
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR')).toEqual([]);
    await expectHealthyGuest(vm, model.dev);
    await vm.run(`umount /mnt && mount -t ext4 /dev/${model.dev} /mnt`);
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 32 --gen 2 --direct`)).ok).toBe(true);
  });

  it('aborts and resets from the guest while writes are parked: QEMU is fine, and the disk works once the storage is back', async () => {
    const vm = await boot(model, 'abort');
    const bootLog = await vm.run('dmesg');
    await model.prepare?.(vm);
    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const writer = vm.exec(`iotool write /mnt/data --bs ${BS} --count 4 --gen 2 --direct --keep-going`, { timeoutMs: 180_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    await sleep(2000);
    await model.provoke(vm);
    const dmesg = (await vm.run('dmesg')).slice(bootLog.length);
    const handled = dmesg.split('\n').filter((l) => /abort|reset/i.test(l));
    expect(handled.length, dmesg).toBeGreaterThan(0);
    expect(vm.running).toBe(true);
    // Whether the guest gave up on some writes is its own decision; QEMU must not keep a
    // request the guest has abandoned: all that is parked is still in flight in the guest.
    // The guest is read first: between the two reads QEMU can only complete requests.
    const inflight = (await vm.run(`cat /sys/block/${model.dev}/inflight`)).trim().split(/\s+/).reduce((n, x) => n + Number(x), 0);
    const parkedBefore = await parkedRequests(vm);
    expect(parkedBefore, `parked in QEMU, with ${inflight} requests in flight in the guest`).toBeLessThanOrEqual(inflight);
    await f.end();
    const repaired = Date.now();
    // Nothing a cancel or reset touched is left behind: a retry tick (1 s) after the repair
    // nothing is parked, and the writer ends well before the guest's 30 s command timeout
    // would rescue a request that QEMU stranded.
    await expect.poll(() => parkedRequests(vm), { timeout: 10_000, interval: 250 }).toBe(0);
    const result = iotool((await writer).stdout);
    const writerMs = Date.now() - repaired;
    expect(writerMs, 'the writer ended this long after the repair').toBeLessThan(25_000);
    // The disk works. Checked on the raw device: a guest whose error handler gave up
    // (5 timeouts) has failed writes and aborted its ext4 journal, its own decision.
    const raw = `/dev/${model.dev} --bs ${BS} --count 8 --offset ${60 << 20} --gen 3 --direct`;
    await vm.run('umount -l /mnt');
    expect(iotool(await vm.run(`iotool write ${raw} --fsync-every 8`, { timeoutMs: 60_000 })).ok).toBe(true);
    expect(iotool(await vm.run(`iotool verify ${raw}`)).ok).toBe(true);
    console.info(`${model.name}: after the guest's aborts/resets, ${parkedBefore} parked with ${inflight} in flight in the guest; the writer ended ${writerMs} ms after the repair; ${result.errors.length} of ${result.timeline.length} writes failed in the guest; dmesg:\n${handled.slice(0, 6).join('\n')}`);
  });
});
