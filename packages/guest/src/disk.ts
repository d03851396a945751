import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';

export interface DiskSpec {
  path: string;
  sizeMiB: number;
  format: 'raw' | 'qcow2';
  /** Make an ext4 filesystem holding these files (relative path -> content). */
  ext4?: { files?: Record<string, string> };
}

/**
 * Create a guest disk image with the given qemu-img (ours, from qemu-build/out). An ext4
 * filesystem is made on the host with mke2fs -d, so no guest time is spent on mkfs; qcow2
 * gets it by converting a raw image. An existing file at `path` is replaced. Returns `path`.
 */
export async function createDisk(spec: DiskSpec, qemuImg: string): Promise<string> {
  if (!Number.isInteger(spec.sizeMiB) || spec.sizeMiB <= 0) throw new RangeError(`sizeMiB must be a positive integer, got ${spec.sizeMiB}`);
  rmSync(spec.path, { force: true });
  const size = `${spec.sizeMiB}M`;
  if (!spec.ext4) {
    await run($({ quiet: true })`${qemuImg} create -q -f ${spec.format} ${spec.path} ${size}`.nothrow(), 'qemu-img create');
    return spec.path;
  }
  const scratch = mkdtempSync(join(dirname(spec.path), '.disk-'));
  try {
    const files = join(scratch, 'files');
    mkdirSync(files);
    for (const [name, content] of Object.entries(spec.ext4.files ?? {})) {
      const rel = normalize(name);
      if (isAbsolute(rel) || rel === '..' || rel.startsWith('../')) throw new RangeError(`ext4 file name must stay inside the filesystem: ${name}`);
      mkdirSync(dirname(join(files, rel)), { recursive: true });
      writeFileSync(join(files, rel), content);
    }
    const raw = spec.format === 'raw' ? spec.path : join(scratch, 'fs.raw');
    await run($({ quiet: true })`${qemuImg} create -q -f raw ${raw} ${size}`.nothrow(), 'qemu-img create');
    await run($({ quiet: true })`mke2fs -t ext4 -F -q -d ${files} ${raw}`.nothrow(), 'mke2fs');
    if (spec.format === 'qcow2') await run($({ quiet: true })`${qemuImg} convert -q -f raw -O qcow2 ${raw} ${spec.path}`.nothrow(), 'qemu-img convert');
    return spec.path;
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function run(cmd: Promise<{ exitCode: number | null; stderr: string }>, what: string): Promise<void> {
  const r = await cmd;
  if (r.exitCode !== 0) throw new IohangError(`${what} failed:\n${r.stderr.trim()}`, 'Check the path and free space; mke2fs comes from e2fsprogs (sudo npm run setup)');
}
