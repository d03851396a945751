/**
 * A real network-storage outage: two guest disks on NBD storage served from another
 * network namespace, whose link goes down for ~8 s and comes back. The disk with I/O hang
 * stalls and recovers without a single guest error; the one without it fails.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { NetnsNbdStorage } from '@iohang/faults';
import type { DiskSpec } from '@iohang/vm';
import { ext4Image } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep } from '@iohang/core';

const BS = 4096;
const COUNT = 200;
const OUTAGE_MS = 8000;

it('an 8 s link outage: the I/O hang disk stalls and recovers with no guest error, the plain disk fails', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'net-outage-'));
  const [hangImage, plainImage] = [await ext4Image('net-hang'), await ext4Image('net-plain')];
  const hangStorage = await NetnsNbdStorage.start({ image: hangImage, dir });
  const plainStorage = await NetnsNbdStorage.start({ image: plainImage, dir }).catch(async (e: unknown) => {
    await hangStorage.stop();
    throw e;
  });
  const disks: DiskSpec[] = [
    { id: 'd0', backend: hangStorage.blockdev(), deviceProps: { iohang: true } },
    { id: 'd1', backend: plainStorage.blockdev(), deviceProps: {} },
  ];
  // The VM stops its storage once QEMU has gone.
  const vm = await bootVm('network-outage', { disks, owns: [hangStorage, plainStorage] });
  await vm.run('mkdir -p /mnt/hang /mnt/plain && mount -t ext4 /dev/vda /mnt/hang && mount -t ext4 /dev/vdb /mnt/plain');
  const since = vm.qmp.mark();
  const writer = (d: string) =>
    vm.exec(`iotool write /mnt/${d}/data --bs ${BS} --count ${COUNT} --gen 1 --direct --fsync-every 8 --interval-ms 50 --keep-going > /tmp/${d}.json; cat /tmp/${d}.json`, { timeoutMs: 180_000 });
  const hangWriter = writer('hang');
  const plainWriter = writer('plain');
  await sleep(2000);

  // Both links down: requests in flight get no answer; after ~3 s of TCP retransmissions
  // (tcp_retries2=3 in the client namespace) the NBD connections fail with EIO.
  const cutAt = Date.now();
  hangStorage.cut();
  plainStorage.cut();
  const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 20_000 });
  const hangAfterMs = Date.now() - cutAt;
  expect(hang.data).toMatchObject({ set: true, 'qom-path': '/machine/peripheral/d0/virtio-backend', 'node-name': 'd0-fmt' });
  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - cutAt)));
  expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
  hangStorage.restore();
  plainStorage.restore();
  const restoredAt = Date.now();

  // The NBD client reconnects (its backoff: 1, 2, 4, 8, 16 s), the parked requests go through.
  const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 40_000 });
  const recoveredAfterMs = Date.now() - restoredAt;
  expect(recovered.data).toMatchObject({ set: false, 'qom-path': '/machine/peripheral/d0/virtio-backend' });
  const hangResult = iotool((await hangWriter).stdout);
  const plainResult = iotool((await plainWriter).stdout);

  // The disk with I/O hang: slow, never wrong.
  expect(hangResult.errors).toEqual([]);
  expect(hangResult.ok).toBe(true);
  expect(Math.max(...hangResult.timeline.map((t) => t.lat_us)) / 1000).toBeGreaterThan(OUTAGE_MS - 3000);
  const d0Events = vm.qmp.events().filter((e) => e.seq >= since && e.event.startsWith('BLOCK_IO') && String(e.data['qom-path']).includes('/d0/'));
  expect(d0Events.map((e) => `${e.event}:${String(e.data.set)}`)).toEqual(['BLOCK_IO_HANG:true', 'BLOCK_IO_HANG:false']);
  const dmesg = await vm.run('dmesg');
  expect(dmesg).not.toMatch(/I\/O error, dev vda|EXT4-fs error \(device vda\)|Buffer I\/O error on dev vda/);
  expect(await vm.run('grep "^/dev/vda " /proc/mounts')).toMatch(/ ext4 rw,/);
  await vm.run('umount /mnt/hang && mount -t ext4 /dev/vda /mnt/hang');
  expect(iotool(await vm.run(`iotool verify /mnt/hang/data --bs ${BS} --count ${COUNT} --gen 1 --direct`)).ok).toBe(true);

  // The control, same storage and outage without I/O hang: the guest sees the errors.
  expect(plainResult.errors.length).toBeGreaterThan(0);
  expect(plainResult.errors[0]).toMatchObject({ errno: 5 });
  expect(dmesg).toMatch(/I\/O error, dev vdb/);
  expect(vm.qmp.events().some((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR' && e.data['node-name'] === 'd1-fmt')).toBe(true);
  expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_HANG' && String(e.data['qom-path']).includes('/d1/'))).toEqual([]);
  const vdb = /^\/dev\/vdb \S+ ext4 (r[ow]),/m.exec(await vm.run('cat /proc/mounts'))?.[1] ?? 'unmounted';
  console.info(
    `network outage: BLOCK_IO_HANG ${(hangAfterMs / 1000).toFixed(1)} s after the cut, recovered ${(recoveredAfterMs / 1000).toFixed(1)} s after the link came back; ` +
      `vda longest request ${(Math.max(...hangResult.timeline.map((t) => t.lat_us)) / 1e6).toFixed(1)} s, 0 errors; ` +
      `vdb ${plainResult.errors.length} of ${plainResult.timeline.length} requests failed, ext4 ${vdb}`,
  );
});
