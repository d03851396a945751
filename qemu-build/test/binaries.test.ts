/** The built outputs in qemu-build/out/default, run for real. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { workspacePaths } from '@iohang/core';
import { readLock, readSeries, upstreamVersion, type Manifest } from '@iohang/builder';
import { fetchKernel, type Kernel } from '@iohang/guest';

const ws = workspacePaths();
const out = ws.outDir('default');
const bin = (name: string) => join(out, 'bin', name);
const lock = readLock(ws.lockFile);

/** Run QEMU until `done` matches its output or it exits; always kills it. */
function runUntil(args: string[], done: RegExp, timeoutMs: number): Promise<{ output: string; exitCode: number | null; ms: number }> {
  const started = Date.now();
  const child = spawn(bin('qemu-system-x86_64'), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve) => {
    const finish = (exitCode: number | null) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      resolve({ output, exitCode, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(null), timeoutMs);
    const take = (b: Buffer) => {
      output += b.toString();
      if (done.test(output)) finish(null);
    };
    child.stdout.on('data', take);
    child.stderr.on('data', take);
    child.on('exit', (code) => finish(code));
  });
}

describe('patched QEMU outputs', () => {
  let manifest: Manifest;
  beforeAll(() => {
    expect(existsSync(join(out, 'manifest.json')), `no build in ${out}: run npx nx run qemu-build:build`).toBe(true);
    manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
  });

  it('the manifest records the pinned base, every patch, the configure flags and the compiler', () => {
    expect(manifest.base.version).toBe(lock.version);
    expect(manifest.base.files).toEqual(lock.files);
    expect(manifest.patches).toEqual(readSeries(ws.patchesDir).map(({ file, subject, sha256 }) => ({ file, subject, sha256 })));
    expect(manifest.configure).toContain('--enable-linux-io-uring');
    expect(manifest.compiler).toMatch(/^(g?cc|clang)\b.*\d+\.\d+/);
  });

  it('qemu-system-x86_64 --version reports the pinned 10.0.x', async () => {
    const v = await $`${bin('qemu-system-x86_64')} --version`;
    expect(v.stdout).toContain(`QEMU emulator version ${upstreamVersion(lock.version)}`);
    expect(upstreamVersion(lock.version)).toMatch(/^10\.0\.\d+$/);
    expect(manifest.qemuVersion).toBe(v.stdout.split('\n')[0]);
  });

  it('qemu-img creates an image and qemu-io writes and reads back a pattern', async () => {
    const img = join(mkdtempSync(join(tmpdir(), 'img-')), 'disk.qcow2');
    await $`${bin('qemu-img')} create -q -f qcow2 ${img} 64M`;
    const info = JSON.parse((await $`${bin('qemu-img')} info --output=json ${img}`).stdout) as { format: string; 'virtual-size': number };
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 64 * 1024 * 1024 });
    await $`${bin('qemu-io')} -f qcow2 -c ${'write -P 0xa5 1M 64k'} ${img}`;
    const read = await $`${bin('qemu-io')} -f qcow2 -c ${'read -P 0xa5 1M 64k'} ${img}`;
    expect(read.stdout).toContain('read 65536/65536 bytes');
    const wrong = await $`${bin('qemu-io')} -f qcow2 -c ${'read -P 0x5a 1M 64k'} ${img}`.nothrow();
    expect(wrong.stdout + wrong.stderr).toContain('Pattern verification failed');
  });

  it('qemu-nbd and qemu-storage-daemon run', async () => {
    expect((await $`${bin('qemu-nbd')} --version`).stdout).toContain(upstreamVersion(lock.version));
    expect((await $`${bin('qemu-storage-daemon')} --version`).stdout).toContain(upstreamVersion(lock.version));
  });

  describe('booting a kernel under TCG', () => {
    let kernel: Kernel;
    beforeAll(async () => {
      kernel = await fetchKernel();
    });
    const bootArgs = (extra: string[]) => [
      ...extra,
      ...['-accel', 'tcg', '-m', '256', '-nodefaults', '-display', 'none', '-serial', 'stdio', '-no-reboot'],
      ...['-kernel', kernel.vmlinuz, '-append', 'console=ttyS0 panic=-1'],
    ];

    it('boots the Debian kernel with the firmware directory (-L)', async () => {
      // No initrd: the kernel runs until it looks for a root filesystem and panics,
      // which proves firmware, option ROM (linuxboot_dma.bin) and kernel all ran.
      // Wait for the whole line: output arrives in chunks that can end mid-line.
      const r = await runUntil(bootArgs(['-L', join(out, 'firmware')]), /VFS: Unable to mount root fs on \S+/, 120_000);
      expect(r.output).toContain(`Linux version ${kernel.release}`);
      expect(r.output).toMatch(/Kernel panic - not syncing: VFS: Unable to mount root fs/);
      console.log(`kernel ${kernel.release} reached its root-fs panic in ${(r.ms / 1000).toFixed(1)} s under TCG`);
    });

    it('cannot boot without the firmware directory (the +ds source ships no BIOS)', async () => {
      const r = await runUntil(bootArgs([]), /Kernel panic/, 60_000);
      expect(r.output).toMatch(/could not load PC BIOS/);
      expect(r.exitCode).not.toBe(0);
    });
  });
});
