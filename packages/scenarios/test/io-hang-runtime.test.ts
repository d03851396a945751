/**
 * I/O hang controlled over QMP while the guest runs (block-io-hang-set,
 * block-io-hang-retry): what a management tool does when it learns more about an outage
 * than QEMU can see. Bad values: bad-input.test.ts. Exact semantics with a stepped
 * clock: the series' iotest (tests/qemu-iotests/tests/io-hang).
 */
import { describe, expect, it } from 'vitest';
import type { BlockIOHangInfo } from '@iohang/qmp';
import { ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep } from '@iohang/core';

const BS = 4096;
type Disk = { qdev?: string; 'io-hang'?: BlockIOHangInfo };

describe('I/O hang at run time', () => {
  it('turned on for a running disk, with a 1 min retry interval; "retry now" ends the hang as soon as the storage is back', async () => {
    const vm = await bootVm('io-hang-runtime-retry-now', { disks: [hangDisk('d0', await ext4Image('runtime-retry'), {})] });
    const ioHang = async () => ((await vm.qmp.execute('query-block')) as Disk[]).find((b) => b.qdev?.includes('/d0/'))?.['io-hang'];
    expect(await ioHang()).toBeUndefined();
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', enable: true, 'retry-interval': 60_000 });
    expect(await ioHang()).toMatchObject({ write: { timeout: 0, 'retry-interval': 60_000 }, hung: false });
    await vm.run('mount -t ext4 /dev/vda /mnt');

    const since = vm.qmp.mark();
    const f = await fault(vm, 'd0', ['write']);
    const write = vm.exec(`iotool write /mnt/data --bs ${BS} --count 4 --gen 1 --direct`, { timeoutMs: 120_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    expect(hang.data.set).toBe(true);
    await f.end();
    // The storage is back, but the next retry is a minute away: still hung.
    await sleep(2000);
    expect(await ioHang()).toMatchObject({ hung: true });

    const asked = Date.now();
    await vm.qmp.execute('block-io-hang-retry', { id: 'd0' });
    const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1, timeoutMs: 10_000 });
    const recoveredMs = Date.now() - asked;
    expect(recovered.data.set).toBe(false);
    const result = iotool((await write).stdout);
    expect(result.errors).toEqual([]);
    expect(result.ok).toBe(true);
    expect(iotool(await vm.run(`iotool verify /mnt/data --bs ${BS} --count 4 --gen 1 --direct`)).ok).toBe(true);
    console.info(`retry now: BLOCK_IO_HANG false ${recoveredMs} ms after block-io-hang-retry (retry interval 60 s)`);
  });

  it('a timeout set while hung expires from the start of the hang; turning I/O hang off while hung gives the guest its error', async () => {
    const vm = await bootVm('io-hang-runtime-policy', { disks: [hangDisk('d0', await ext4Image('runtime-policy'), { iohang: true })] });
    await vm.run('mount -t ext4 -o lazytime /dev/vda /mnt');
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 4 --gen 1 --direct --fsync-every 4`)).ok).toBe(true);

    // 1. Hung for ~3 s with no timeout; then a 2 s timeout: already expired, the guest gets EIO.
    let since = vm.qmp.mark();
    let f = await fault(vm, 'd0', ['write']);
    const timedOut = vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 2 --direct`, { timeoutMs: 60_000 });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    await sleep(3000);
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', timeout: 2 });
    const expired = await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since, timeoutMs: 10_000 });
    expect(expired.data.set).toBe(true);
    const failed = await timedOut;
    expect(failed.exitCode).toBe(1);
    expect(iotool(failed.stdout).errors[0]).toMatchObject({ errno: 5 });
    await f.end();
    expect(iotool(await vm.run(`iotool write /mnt/data --bs ${BS} --count 1 --gen 3 --direct`)).ok).toBe(true);
    await vm.qmp.waitEvent('BLOCK_IO_HANG_TIMEOUT', { since: expired.seq + 1, predicate: (e) => e.data.set === false });

    // 2. Hung again (the timeout back to none); turned off: one last try, then the error.
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', timeout: 0 });
    since = vm.qmp.mark();
    f = await fault(vm, 'd0', ['write']);
    const dropped = vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 4 --direct`, { timeoutMs: 60_000 });
    const hang = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, timeoutMs: 30_000 });
    await sleep(2000);
    const off = Date.now();
    await vm.qmp.execute('block-io-hang-set', { id: 'd0', enable: false });
    const result = await dropped;
    const offMs = Date.now() - off;
    expect(result.exitCode).toBe(1);
    expect(iotool(result.stdout).errors[0]).toMatchObject({ errno: 5 });
    expect((await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: hang.seq + 1 })).data.set).toBe(false);
    expect(((await vm.qmp.execute('query-block')) as Disk[])[0]?.['io-hang']).toBeUndefined();
    // Off means off: the next failure reaches the guest at once.
    const quick = Date.now();
    expect((await vm.exec(`iotool write /mnt/data --bs ${BS} --count 1 --gen 5 --direct`)).exitCode).toBe(1);
    expect(Date.now() - quick).toBeLessThan(5000);
    await f.end();
    console.info(`disabled while hung: the guest had its EIO ${offMs} ms after block-io-hang-set enable=false`);
  });
});
