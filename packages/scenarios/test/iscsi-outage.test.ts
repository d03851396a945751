/**
 * iSCSI storage (Debian's tgtd in another network namespace, QEMU's libiscsi client) and
 * two kinds of outage, on two guest disks (LUN 1 with I/O hang, LUN 2 without):
 * - the link goes down for 8 s: QEMU's iSCSI client stalls and reconnects by itself, on
 *   both disks alike; no error reaches the block layer, so I/O hang has nothing to do (and
 *   no option of QEMU 10.0's iscsi driver turns the outage into an error: see
 *   docs/guide/network-outage.md);
 * - the disks behind the target fail for 8 s (SCSI MEDIUM ERROR, EIO in QEMU): the I/O hang
 *   disk stalls and recovers with no guest error, the plain one fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NbdfuseImage, NetnsIscsiStorage, type Fault } from '@iohang/faults';
import type { DiskSpec, Vm } from '@iohang/vm';
import { ext4Image } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep } from '@iohang/core';

const BS = 4096;
const COUNT = 160;
const OUTAGE_MS = 8000;

/** Write+fsync on both disks every 50 ms, through `outage` (started 2 s in, lasting OUTAGE_MS). */
async function writeThrough(vm: Vm, gen: number, outage: Pick<Fault, 'begin' | 'end'>) {
  const writer = (d: string) =>
    vm.exec(`iotool write /mnt/${d}/data${gen} --bs ${BS} --count ${COUNT} --gen ${gen} --direct --fsync-every 8 --interval-ms 50 --keep-going > /tmp/${d}.json; cat /tmp/${d}.json`, { timeoutMs: 180_000 });
  const hangWriter = writer('hang');
  const plainWriter = writer('plain');
  await sleep(2000);
  await outage.begin();
  await sleep(OUTAGE_MS);
  expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
  await outage.end();
  return { hang: iotool((await hangWriter).stdout), plain: iotool((await plainWriter).stdout) };
}

const longestMs = (r: ReturnType<typeof iotool>) => Math.max(...r.timeline.map((t) => t.lat_us)) / 1000;

it('iSCSI: a link outage stalls both disks without errors; failing disks behind the target stall only the I/O hang disk', async () => {
  const images = await Promise.all(['iscsi-hang', 'iscsi-plain'].map(async (name) => {
    const dir = mkdtempSync(join(tmpdir(), `${name}-`));
    return NbdfuseImage.start({ image: await ext4Image(name), dir, ops: ['read', 'write'] });
  }));
  const [hangImage, plainImage] = images as [NbdfuseImage, NbdfuseImage];
  const storage = await NetnsIscsiStorage.start({ images: [hangImage.path, plainImage.path], direct: true }).catch(async (e: unknown) => {
    await Promise.all(images.map((i) => i.stop()));
    throw e;
  });
  const disks: DiskSpec[] = [
    { id: 'd0', backend: storage.blockdev(1), deviceProps: { iohang: true } },
    { id: 'd1', backend: storage.blockdev(2), deviceProps: {} },
  ];
  // libiscsi connects to TCP portals only: QEMU runs in the link's host namespace. The VM
  // stops the target and then the images once QEMU has gone.
  const vm = await bootVm('iscsi-outage', { disks, wrapCommand: storage.wrapCommand, owns: [...images, storage] });
  await vm.run('mkdir -p /mnt/hang /mnt/plain && mount -t ext4 /dev/vda /mnt/hang && mount -t ext4 /dev/vdb /mnt/plain');

  // 1. The link goes down: libiscsi reconnects until it is back; both disks just stall.
  const linkSince = vm.qmp.mark();
  const link = await writeThrough(vm, 1, storage);
  for (const r of [link.hang, link.plain]) {
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(longestMs(r)).toBeGreaterThan(OUTAGE_MS - 3000);
  }
  expect(vm.qmp.events().filter((e) => e.seq >= linkSince && e.event.startsWith('BLOCK_IO'))).toEqual([]);
  for (const [dev, d] of [['vda', 'hang'], ['vdb', 'plain']] as const) {
    expect(iotool(await vm.run(`iotool verify /mnt/${d}/data1 --bs ${BS} --count ${COUNT} --gen 1 --direct`)).ok).toBe(true);
    expect(await vm.run('cat /proc/mounts')).toMatch(new RegExp(`^/dev/${dev} \\S+ ext4 rw,`, 'm'));
  }

  // 2. The disks behind the target fail: SCSI MEDIUM ERROR, EIO in QEMU.
  const diskSince = vm.qmp.mark();
  const failing = await writeThrough(vm, 2, {
    begin: async () => {
      await Promise.all(images.map((i) => i.begin()));
    },
    end: () => Promise.all(images.map((i) => i.end())),
  });
  const events = vm.qmp.events().filter((e) => e.seq >= diskSince && e.event.startsWith('BLOCK_IO'));
  const d0Events = events.filter((e) => String(e.data['qom-path']).includes('/d0/'));
  expect(d0Events.map((e) => `${e.event}:${String(e.data.set)}`)).toEqual(['BLOCK_IO_HANG:true', 'BLOCK_IO_HANG:false']);
  expect(failing.hang.errors).toEqual([]);
  expect(failing.hang.ok).toBe(true);
  expect(longestMs(failing.hang)).toBeGreaterThan(OUTAGE_MS - 3000);
  const dmesg = await vm.run('dmesg');
  expect(dmesg).not.toMatch(/I\/O error, dev vda|EXT4-fs error \(device vda\)|Buffer I\/O error on dev vda/);
  expect(await vm.run('grep "^/dev/vda " /proc/mounts')).toMatch(/ ext4 rw,/);
  await vm.run('umount /mnt/hang && mount -t ext4 /dev/vda /mnt/hang');
  expect(iotool(await vm.run(`iotool verify /mnt/hang/data2 --bs ${BS} --count ${COUNT} --gen 2 --direct`)).ok).toBe(true);
  // The control: the same failure without I/O hang reaches the guest.
  expect(failing.plain.errors.length).toBeGreaterThan(0);
  expect(failing.plain.errors[0]).toMatchObject({ errno: 5 });
  expect(dmesg).toMatch(/I\/O error, dev vdb/);
  expect(events.some((e) => e.event === 'BLOCK_IO_ERROR' && e.data['node-name'] === 'd1-fmt')).toBe(true);
  console.info(
    `iSCSI link down ${OUTAGE_MS / 1000} s: vda longest request ${(longestMs(link.hang) / 1000).toFixed(1)} s, vdb ${(longestMs(link.plain) / 1000).toFixed(1)} s, 0 errors, no events; ` +
      `disks failing behind the target ${OUTAGE_MS / 1000} s: vda longest ${(longestMs(failing.hang) / 1000).toFixed(1)} s, 0 errors; ` +
      `vdb ${failing.plain.errors.length} of ${failing.plain.timeline.length} requests failed`,
  );
});
