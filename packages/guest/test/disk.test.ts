import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { qemuPaths } from '@iohang/core';
import { createDisk } from '../src/index.ts';

const qemuImg = qemuPaths().img;
const info = (path: string) => JSON.parse(execFileSync(qemuImg, ['info', '--output=json', path], { encoding: 'utf8' })) as { format: string; 'virtual-size': number };
/** Read a file out of an ext4 image without mounting it. */
const ext4Cat = (image: string, file: string) => execFileSync('debugfs', ['-R', `cat ${file}`, image], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });

describe('createDisk', () => {
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const dir = mkdtempSync(join(tmpdir(), 'disk-'));

  it('makes empty raw and qcow2 images of the given size', async () => {
    for (const format of ['raw', 'qcow2'] as const) {
      const path = await createDisk({ path: join(dir, `empty.${format}`), sizeMiB: 16, format }, qemuImg);
      expect(info(path)).toMatchObject({ format, 'virtual-size': 16 << 20 });
    }
  });

  it('makes ext4 with files, on raw directly and on qcow2 by conversion', async () => {
    const files = { 'hello.txt': 'hello\n', 'deep/dir/f': 'x' };
    const raw = await createDisk({ path: join(dir, 'fs.raw'), sizeMiB: 32, format: 'raw', ext4: { files } }, qemuImg);
    expect(statSync(raw).size).toBe(32 << 20);
    expect(ext4Cat(raw, '/hello.txt')).toBe('hello\n');
    expect(ext4Cat(raw, '/deep/dir/f')).toBe('x');

    const qcow2 = await createDisk({ path: join(dir, 'fs.qcow2'), sizeMiB: 32, format: 'qcow2', ext4: { files } }, qemuImg);
    expect(info(qcow2)).toMatchObject({ format: 'qcow2', 'virtual-size': 32 << 20 });
    const back = join(dir, 'back.raw');
    execFileSync(qemuImg, ['convert', '-f', 'qcow2', '-O', 'raw', qcow2, back]);
    expect(ext4Cat(back, '/hello.txt')).toBe('hello\n');
  });

  it('refuses file names that leave the filesystem', async () => {
    await expect(createDisk({ path: join(dir, 'bad.raw'), sizeMiB: 8, format: 'raw', ext4: { files: { '../x': '' } } }, qemuImg)).rejects.toThrow(/inside/);
  });
});
