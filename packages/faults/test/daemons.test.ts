/**
 * The fault daemons as a test relies on them: one that dies under the test is reported
 * when the test stops it, with how it ended, instead of being passed over.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { livePids, sleep } from '@iohang/core';
import { NbdfuseImage, NbdkitBackend } from '../src/index.ts';
import { image } from './qemu-io.ts';

const dir = (name: string) => mkdtempSync(join(tmpdir(), `${name}-`));

describe('fault daemons', () => {
  it('nbdkit: stop() fails for a server that died under the test, and stops only once', async () => {
    const backend = await NbdkitBackend.start({ image: await image(), dir: dir('nbdkit-died') });
    process.kill(backend.pid!, 'SIGKILL');
    await sleep(200);
    await expect(backend.stop()).rejects.toThrow('nbdkit had died before the test stopped it (SIGKILL)');
    await expect(backend.stop()).rejects.toThrow('nbdkit had died');
    expect(livePids()).not.toContain(backend.pid);
  });

  it('nbdfuse: stop() fails for a FUSE daemon that died under the test, and still stops nbdkit', async () => {
    const file = await NbdfuseImage.start({ image: await image(), dir: dir('nbdfuse-died') });
    const [fuse, nbdkit] = file.pids as [number, number];
    process.kill(fuse, 'SIGKILL');
    await sleep(200);
    await expect(file.stop()).rejects.toThrow('nbdfuse had died before the test stopped it (SIGKILL)');
    expect(livePids()).not.toContain(nbdkit);
  });

  it('a clean stop is no error, and leaves no process', async () => {
    const file = await NbdfuseImage.start({ image: await image(), dir: dir('nbdfuse-clean') });
    const pids = file.pids;
    await file.stop();
    for (const pid of pids) expect(livePids()).not.toContain(pid);
  });
});
