/**
 * A hostile guest: while its disk hangs it resets the machine and unbinds and rebinds the
 * virtio-blk driver, again and again. QEMU must not crash or leak, and the disk must work
 * once the storage is back.
 */
import { describe, expect, it } from 'vitest';
import { qemuMemoryKiB } from '@iohang/vm';
import { ext4Image, fault, hangDisk } from './hang-helpers.ts';
import { bootVm, iotool } from './support.ts';
import { sleep, testVariant } from '@iohang/core';

const BS = 4096;

type IoHangInfo = { hung: boolean; 'parked-requests': number };
const ioHang = async (vm: Awaited<ReturnType<typeof bootVm>>) => ((await vm.qmp.execute('query-block')) as { 'io-hang'?: IoHangInfo }[])[0]!['io-hang']!;

describe('hostile guest', () => {
  it('resets and driver unbind/rebind while hung, four rounds: no crash, nothing left parked, memory flat, the disk works', async () => {
    const vm = await bootVm('hostile-guest', { disks: [hangDisk('d0', await ext4Image('hostile'))], allowReboot: true });
    const pid = vm.pid!;
    const rss: number[] = [];
    const write = (gen: number) => `iotool write /dev/vda --bs ${BS} --count 64 --gen ${gen} --direct --fsync-every 16`;
    const verify = (gen: number) => `iotool verify /dev/vda --bs ${BS} --count 64 --gen ${gen} --direct`;
    for (let round = 1; round <= 4; round++) {
      const since = vm.qmp.mark();
      const f = await fault(vm, 'd0', ['write']);
      void vm.exec(write(round), { timeoutMs: 300_000 });
      await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === true, timeoutMs: 30_000 });
      if (round % 2) {
        // A machine reset with requests parked: virtio-blk is reset under them.
        void vm.exec('echo b > /proc/sysrq-trigger');
        await vm.waitReboot();
        await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === false, timeoutMs: 10_000 });
        expect(await ioHang(vm)).toMatchObject({ hung: false, 'parked-requests': 0 });
        await f.end();
      } else {
        // Unbind the driver with a request parked: the guest waits for it; the storage
        // comes back, the unbind finishes, and the rebound driver finds the disk again.
        const dev = (await vm.run('basename $(readlink /sys/block/vda/device)')).trim();
        const unbind = vm.exec(`echo ${dev} > /sys/bus/virtio/drivers/virtio_blk/unbind`, { timeoutMs: 60_000 });
        await sleep(2000);
        expect((await vm.run('echo alive', { timeoutMs: 10_000 })).trim()).toBe('alive');
        await f.end();
        expect((await unbind).exitCode).toBe(0);
        await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === false, timeoutMs: 10_000 });
        await vm.run(`echo ${dev} > /sys/bus/virtio/drivers/virtio_blk/bind; for i in $(seq 50); do [ -b /dev/vda ] && break; sleep 0.1; done; [ -b /dev/vda ]`);
      }
      expect(vm.running).toBe(true);
      expect(iotool(await vm.run(write(100 + round))).ok).toBe(true);
      expect(iotool(await vm.run(verify(100 + round))).ok).toBe(true);
      rss.push(qemuMemoryKiB(pid).own);
      const events = vm.qmp.events().filter((e) => e.seq >= since && e.event.startsWith('BLOCK_IO_HANG'));
      expect(events.map((e) => `${e.event}:${String(e.data.set)}`)).toEqual(['BLOCK_IO_HANG:true', 'BLOCK_IO_HANG:false']);
    }
    // QEMU's own memory: guest RAM and TCG's code buffer grow with every reboot by design.
    // A reboot under TCG can still add a few MiB of translation metadata, so this catches
    // gross leaks only; LeakSanitizer in the ASan tier is the exact check.
    console.log(`hostile guest: QEMU's own memory per round (MiB): ${rss.map((k) => (k / 1024).toFixed(1)).join(', ')}`);
    // ASan keeps freed memory in quarantine (up to 256 MiB), so there memory only grows;
    // LeakSanitizer checks for leaks when the VM quits instead (support.ts).
    if (testVariant() !== 'asan') expect(rss.at(-1)! - rss[0]!).toBeLessThan(32 * 1024);
  });
});
