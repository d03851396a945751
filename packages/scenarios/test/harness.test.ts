/**
 * The harness on the real thing: boot, the agent, and the control experiment without
 * I/O hang -- EIO from storage reaches the guest -- through blkdebug and through nbdkit.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BlkdebugFault, NbdkitBackend, type Fault } from '@iohang/faults';
import { createDisk } from '@iohang/guest';
import { qemuPaths } from '@iohang/core';
import { blkdebugTarget, imageDisk, type DiskSpec } from '@iohang/vm';
import { bootVm, iotool, testGuest } from './support.ts';

describe('guest harness', () => {
  it('boots our QEMU with the test guest and runs commands through the agent', async () => {
    const vm = await bootVm('boot', {});
    expect((await vm.run('uname -r')).trim()).toBe((await testGuest()).kernel.release);
    const status = await vm.qmp.execute('query-status');
    expect(status).toMatchObject({ running: true, status: 'running' });
    console.log(`guest booted to its agent in ${(vm.bootMs / 1000).toFixed(1)} s under TCG`);
  });
});

const FILE = '/mnt/data';
const write = (gen: number, count: number) => `iotool write ${FILE} --bs 4096 --count ${count} --gen ${gen} --direct --fsync-every ${count}`;

describe.each(['blkdebug', 'nbdkit'] as const)('control experiment without I/O hang (%s)', (kind) => {
  it('EIO on writes reaches the guest, QMP reports it, and the disk works again afterwards', async () => {
    const dir = mkdtempSync(join(tmpdir(), `control-${kind}-`));
    const image = join(dir, 'disk.img');
    await createDisk({ path: image, sizeMiB: 64, format: 'raw', ext4: {} }, qemuPaths().img);
    const nbd = kind === 'nbdkit' ? await NbdkitBackend.start({ image, dir, ops: ['write'] }) : undefined;
    const disk: DiskSpec = nbd ? { id: 'd0', backend: nbd.blockdev() } : imageDisk('d0', image);
    const vm = await bootVm(`control-${kind}`, { disks: [disk], owns: nbd ? [nbd] : [] });

    // lazytime: an O_DIRECT overwrite of allocated blocks then changes no metadata, so no
    // journal commit fails while the fault is on and ext4 stays writable for the check after.
    await vm.run('mount -t ext4 -o lazytime,noatime /dev/vda /mnt');
    expect(iotool(await vm.run(write(1, 64))).ok).toBe(true);

    const since = vm.qmp.mark();
    const fault: Fault = nbd ?? new BlkdebugFault(vm.qmp, blkdebugTarget(disk), { ops: ['write'] });
    await fault.begin();
    const failed = await vm.exec(write(2, 8));
    expect(failed.exitCode).toBe(1);
    const result = iotool(failed.stdout);
    expect(result.ok).toBe(false);
    expect(result.errors[0]).toMatchObject({ errno: 5, error: 'Input/output error' });
    expect(await vm.run('dmesg')).toMatch(/I\/O error, dev vda, sector \d+ op 0x1:\(WRITE\)/);
    const event = await vm.qmp.waitEvent('BLOCK_IO_ERROR', { since, timeoutMs: 10_000 });
    expect(event.data).toMatchObject({ device: '', 'node-name': 'd0-fmt', 'qom-path': '/machine/peripheral/d0/virtio-backend', operation: 'write', action: 'report' });

    await fault.end();
    expect(iotool(await vm.run(write(3, 64))).ok).toBe(true);
    const verified = iotool(await vm.run(`iotool verify ${FILE} --bs 4096 --count 64 --gen 3 --direct`));
    expect(verified.ok).toBe(true);
    expect(await vm.run('grep " /mnt " /proc/mounts')).toMatch(/ ext4 rw,/);
  });
});
