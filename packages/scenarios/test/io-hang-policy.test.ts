/**
 * I/O hang policy as a management tool sets it over QMP before or while the guest runs:
 * separate timeouts for reads and writes, applied before rerror/werror, and which errors
 * hang. Option parsing: io-hang-options.test.ts. Exact timing with a stepped clock: the
 * series' iotest and unit tests.
 */
import { describe, expect, it } from 'vitest';
import { BlkdebugFault } from '@iohang/faults';
import type { BlockIOHangInfo } from '@iohang/qmp';
import { blkdebugTarget } from '@iohang/vm';
import { ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep } from '@iohang/core';

const BS = 4096;
/** Raw direct I/O on the disk, away from anything the test reads back. */
const AT = (mib: number) => `/dev/vda --bs ${BS} --offset ${mib << 20} --direct`;

describe('I/O hang policy', () => {
  it('reads time out after 3 s and get rerror=report while writes wait for the storage; ETIMEDOUT hangs once chosen', async () => {
    const vm = await bootVm('io-hang-policy', { disks: [hangDisk('d0', await ext4Image('policy'), { iohang: true })] });
    const ioHang = async () => ((await vm.qmp.execute('query-block')) as { 'io-hang'?: BlockIOHangInfo }[])[0]?.['io-hang'];
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', 'read-timeout': 3 });
    expect(await ioHang()).toMatchObject({ read: { timeout: 3 }, write: { timeout: 0 }, errors: ['eio'] });
    expect(iotool(await vm.run(`iotool write ${AT(8)} --count 1 --gen 1`)).ok).toBe(true);

    // 1. Reads and writes fail with EIO. The write hangs; a read issued while it hangs
    //    fails when the hang is 3 s old, and the write still waits.
    let since = vm.qmp.mark();
    let f = await fault(vm, 'd0', ['read', 'write']);
    let writeDone = false;
    const writer = vm.exec(`iotool write ${AT(32)} --count 4 --gen 2`, { timeoutMs: 120_000 }).finally(() => (writeDone = true));
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data.set).toBe(true);
    const readStart = Date.now();
    const read = await vm.exec(`iotool read ${AT(8)} --count 1`, { timeoutMs: 60_000 });
    const readMs = Date.now() - readStart;
    expect(read.exitCode).toBe(1);
    expect(iotool(read.stdout).errors[0]).toMatchObject({ errno: 5 });
    // It hung first (the timeout counts from the write's hang), and did not wait for the storage.
    expect(readMs).toBeGreaterThan(1500);
    expect(readMs).toBeLessThan(30_000);
    const expired = await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since, timeoutMs: 10_000 });
    expect(expired.data.set).toBe(true);
    const readError = await vm.qmp.waitEvent('BLOCK_IO_ERROR', { since, timeoutMs: 10_000 });
    expect(readError.data).toMatchObject({ operation: 'read', action: 'report' });
    expect(await ioHang()).toMatchObject({ hung: true, read: { 'timed-out': true }, write: { 'timed-out': false } });
    await sleep(3000);
    expect(writeDone).toBe(false);
    const storageBack = Date.now();
    await f.end();
    const written = await writer;
    expect(iotool(written.stdout).errors).toEqual([]);
    expect(written.exitCode).toBe(0);
    const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 10_000 });
    expect(recovered.data.set).toBe(false);
    const writeMs = Date.now() - storageBack;
    // The write's success says nothing about reads: they stay timed out (a read that fails
    // now fails at once) until a read works, which arms them again.
    expect(await ioHang()).toMatchObject({ hung: false, read: { 'timed-out': true }, write: { 'timed-out': false } });
    expect(vm.qmp.events().filter((e) => e.seq > expired.seq && e.event === 'BLOCK_IO_HANG_TIMEOUT')).toEqual([]);
    expect(iotool(await vm.run(`iotool verify ${AT(32)} --count 4 --gen 2`)).ok).toBe(true);
    expect((await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since: expired.seq + 1 })).data.set).toBe(false);
    expect(await ioHang()).toMatchObject({ read: { 'timed-out': false } });
    expect(vm.qmp.events().filter((e) => e.seq >= since && e.event === 'BLOCK_IO_ERROR').map((e) => (e.data as { operation: string }).operation)).not.toContain('write');

    // 2. ETIMEDOUT is not among the default errors: the guest gets it at once. Chosen with
    //    errors, it hangs like EIO.
    since = vm.qmp.mark();
    f = await BlkdebugFault.start(vm.qmp, blkdebugTarget({ id: 'd0' }), { ops: ['write'], errno: 'ETIMEDOUT' });
    const failed = await vm.exec(`iotool write ${AT(40)} --count 1 --gen 3`, { timeoutMs: 60_000 });
    expect(failed.exitCode).toBe(1);
    expect(vm.qmp.events().filter((e) => e.seq >= since).map((e) => e.event)).not.toContain('BLOCK_IO_HANG');
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', errors: ['eio', 'etimedout'] });
    expect(await ioHang()).toMatchObject({ errors: ['eio', 'etimedout'] });
    writeDone = false;
    const hangs = vm.exec(`iotool write ${AT(40)} --count 4 --gen 4`, { timeoutMs: 120_000 }).finally(() => (writeDone = true));
    expect((await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 })).data.set).toBe(true);
    await sleep(2000);
    expect(writeDone).toBe(false);
    await f.end();
    expect(iotool((await hangs).stdout).ok).toBe(true);
    expect(iotool(await vm.run(`iotool verify ${AT(40)} --count 4 --gen 4`)).ok).toBe(true);

    console.info(
      [
        'policy: read-timeout 3 s, writes without timeout, reads and writes failing with EIO',
        `  read issued while hung: EIO after ${readMs} ms; the write waited and completed ${writeMs} ms after the storage came back`,
        '  ETIMEDOUT: reached the guest at once by default; with errors [eio, etimedout] the write hung and completed',
      ].join('\n'),
    );
  });
});
