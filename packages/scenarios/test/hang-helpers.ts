/** Disks with I/O hang, faults on them and the guest-side health check, shared by the hang scenarios. */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { BlkdebugFault, type IoOp } from '@iohang/faults';
import { createDisk } from '@iohang/guest';
import { qemuPaths } from '@iohang/core';
import { blkdebugTarget, imageDisk, type DeviceProps, type DiskSpec, type Vm } from '@iohang/vm';

export async function ext4Image(name: string): Promise<string> {
  const image = join(mkdtempSync(join(tmpdir(), `${name}-`)), 'disk.img');
  await createDisk({ path: image, sizeMiB: 64, format: 'raw', ext4: {} }, qemuPaths().img);
  return image;
}

/** An imageDisk with I/O hang on by default. */
export function hangDisk(id: string, image: string, props: DeviceProps = { iohang: true }): DiskSpec {
  return imageDisk(id, image, props);
}

/** A blkdebug fault on disk `id`, on. */
export const fault = (vm: Vm, id: string, ops: IoOp[], failTimes?: number) => BlkdebugFault.start(vm.qmp, blkdebugTarget({ id }), { ops, failTimes });

export async function expectHealthyGuest(vm: Vm, dev: string) {
  expect(await vm.run('dmesg')).not.toMatch(new RegExp(`I/O error, dev ${dev}|EXT4-fs error|Buffer I/O error`));
  expect(await vm.run(`grep "^/dev/${dev} " /proc/mounts`)).toMatch(/ ext4 rw,/);
}
