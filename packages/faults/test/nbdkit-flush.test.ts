/**
 * nbdkit's eval plugin as an NBD server whose flushes fail on demand (the error filter
 * cannot fail them), checked with QEMU's own NBD client through qemu-io.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NbdkitBackend } from '../src/index.ts';
import { image, QemuIo } from './qemu-io.ts';

describe('nbdkit backend with flush faults', () => {
  let io: QemuIo | undefined;
  let backend: NbdkitBackend | undefined;
  afterEach(async () => {
    await io?.close();
    await backend?.stop();
  });

  it('fails flushes only while errors are on, and keeps the data written', async () => {
    backend = await NbdkitBackend.start({ image: await image(), dir: mkdtempSync(join(tmpdir(), 'nbdkit-flush-')), ops: ['flush'] });
    io = new QemuIo(backend.blockdev());
    // qemu-io writes through (FUA), which nbdkit carries out with a flush: a write fails
    // exactly when flushes do (qemu-io's own flush command prints nothing either way).
    expect((await io.run('write -P 0x5a 0 64k')).ok).toBe(true);
    await backend.begin();
    const failed = await io.run('write -P 0x6b 0 64k');
    expect(failed.ok).toBe(false);
    expect(failed.text).toMatch(/write failed: Input\/output error/);
    await backend.end();
    expect((await io.run('write -P 0x6b 0 64k')).ok).toBe(true);
    expect((await io.run('read -P 0x6b 0 64k')).ok).toBe(true);
  });

  it('refuses a flush fault together with operations the eval plugin does not serve', async () => {
    await expect(NbdkitBackend.start({ image: '/nonexistent', dir: tmpdir(), ops: ['flush', 'discard'] })).rejects.toThrow(/cannot fail discard too/);
  });
});
