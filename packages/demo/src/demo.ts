import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BlkdebugFault, NetnsNbdStorage, type Fault } from '@iohang/faults';
import { buildGuest, createDisk, parseIotoolResult, type Guest } from '@iohang/guest';
import { eventMs } from '@iohang/qmp';
import { qemuPaths, sleep, textTable, type QemuVariant } from '@iohang/core';
import { blkdebugTarget, imageDisk, Vm, type DeviceProps, type DiskSpec } from '@iohang/vm';
import type { TimelineData } from './timeline.ts';

export interface DemoOptions {
  /** How long the storage fails, in seconds. */
  outageSeconds: number;
  /** I/O hang timeout of the hang disk (0: none). */
  timeoutSeconds: number;
  /**
   * blkdebug: QEMU fails every write with EIO (an injected error). nbd: the disks are NBD
   * exports in another network namespace and the outage is their link going down.
   */
  backend: DemoBackend;
  /** The QEMU build to boot: the one the command built. */
  variant: QemuVariant;
  /** Where images and VM logs go. */
  dir: string;
  log: (line: string) => void;
}

export interface DiskVerdict {
  disk: string;
  ioHang: boolean;
  requests: number;
  /** Requests that failed in the guest's writer. */
  guestErrors: number;
  /** "I/O error, dev ..." lines in the guest kernel log. */
  kernelErrors: number;
  longestStallMs: number;
  ext4: 'rw' | 'ro' | 'unmounted';
  dataVerified: boolean;
  events: string[];
}

export type DemoBackend = 'blkdebug' | 'nbd';
export const DEMO_BACKENDS: DemoBackend[] = ['blkdebug', 'nbd'];

export interface DemoResult {
  verdicts: DiskVerdict[];
  timeline: TimelineData;
}

const BS = 4096;
const COUNT = 160;

const DISKS = [
  { id: 'hang', dev: 'vda', ioHang: true },
  { id: 'plain', dev: 'vdb', ioHang: false },
] as const;

/**
 * Two virtio-blk disks on the same kind of storage, one with I/O hang and one without;
 * a writer on each; the storage of both fails for a while (injected EIO, or the network
 * link to their NBD server down), then works again. Returns what each disk's guest side
 * saw, and the timeline.
 */
export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  mkdirSync(opts.dir, { recursive: true });
  const img = qemuPaths(opts.variant).img;
  // Before any storage starts: from here on the VM owns it.
  const guest = await buildGuest({ log: opts.log });
  const disks: DiskSpec[] = [];
  const storages: NetnsNbdStorage[] = [];
  for (const d of DISKS) {
    const path = join(opts.dir, `${d.id}.img`);
    await createDisk({ path, sizeMiB: 64, format: 'raw', ext4: {} }, img);
    const props: DeviceProps = d.ioHang ? { iohang: true, 'iohang-timeout': opts.timeoutSeconds } : {};
    if (opts.backend === 'nbd') {
      const storage = await NetnsNbdStorage.start({ image: path, dir: opts.dir }).catch(async (e: unknown) => {
        await Promise.all(storages.map((st) => st.stop()));
        throw e;
      });
      storages.push(storage);
      disks.push({ id: d.id, backend: storage.blockdev(), deviceProps: props });
    } else {
      disks.push(imageDisk(d.id, path, props));
    }
  }
  return runOnDisks(opts, guest, disks, storages);
}

async function runOnDisks(opts: DemoOptions, guest: Guest, disks: DiskSpec[], storages: NetnsNbdStorage[]): Promise<DemoResult> {
  const { log } = opts;
  log('booting the guest (about 10 s under TCG)...');
  // The VM stops its storage once QEMU has gone.
  await using vm = await Vm.start({ guest, disks, variant: opts.variant, logDir: join(opts.dir, 'vm'), owns: storages });
  log(`guest up in ${(vm.bootMs / 1000).toFixed(1)} s; disks: /dev/vda with I/O hang, /dev/vdb without`);
  for (const d of DISKS) {
    await vm.run(`mkdir -p /mnt/${d.id} && mount -t ext4 /dev/${d.dev} /mnt/${d.id}`);
  }
  const clockOffset = await guestClockOffsetMs(vm);
  const since = vm.qmp.mark();
  // The timeline's zero, on the host's clock.
  const t0 = Date.now();
  const writers = DISKS.map((d) =>
    vm.exec(`iotool write /mnt/${d.id}/data --bs ${BS} --count ${COUNT} --gen 1 --direct --fsync-every 8 --interval-ms 50 --keep-going`, { timeoutMs: 600_000 }),
  );
  await sleep(2000);
  // Both disks' storage fails at the same instant: the link to their NBD server, or one
  // blkdebug reopen transaction for both.
  const faults: Fault[] = opts.backend === 'nbd' ? storages : [new BlkdebugFault(vm.qmp, DISKS.map((d) => blkdebugTarget(d)), { ops: ['write'] })];
  log(
    opts.backend === 'nbd'
      ? `storage outage: the network link to both disks' NBD server goes down for ${opts.outageSeconds} s`
      : `storage outage: every write to both disks fails with EIO for ${opts.outageSeconds} s`,
  );
  for (const f of faults) await f.begin();
  const started = Date.now();
  const outage = { startMs: started - t0, endMs: 0 };
  const seen = new Set<number>();
  while (Date.now() - started < opts.outageSeconds * 1000) {
    for (const e of vm.qmp.events()) {
      if (e.seq >= since && !seen.has(e.seq) && e.event.startsWith('BLOCK_IO')) {
        seen.add(e.seq);
        log(`  ${((Date.now() - started) / 1000).toFixed(1).padStart(5)} s  ${e.event} ${JSON.stringify(e.data)}`);
      }
    }
    await sleep(250);
  }
  for (const f of faults) await f.end();
  outage.endMs = Date.now() - t0;
  log('storage restored');
  const results = await Promise.all(writers.map(async (w) => parseIotoolResult((await w).stdout)));
  const mounts = await vm.run('cat /proc/mounts');
  const dmesg = await vm.run('dmesg');
  const diskEvents = DISKS.map((d) =>
    vm.qmp
      .events()
      .filter((e) => e.seq >= since && e.event.startsWith('BLOCK_IO') && String(e.data['qom-path']).includes(`/${d.id}/`))
      .map((e) => ({
        tMs: eventMs(e) - t0,
        label: e.event === 'BLOCK_IO_ERROR' ? 'BLOCK_IO_ERROR' : `${e.event}(${String(e.data.set)})`,
      })),
  );
  const verdicts: DiskVerdict[] = [];
  for (const [i, d] of DISKS.entries()) {
    const r = results[i]!;
    const verify = await vm.exec(`iotool verify /mnt/${d.id}/data --bs ${BS} --count ${COUNT} --gen 1 --direct`);
    const mount = new RegExp(`^/dev/${d.dev} \\S+ ext4 (r[ow]),`, 'm').exec(mounts)?.[1];
    const guestErrors = r.errors.length;
    const kernelErrors = dmesg.match(new RegExp(`I/O error, dev ${d.dev}\\b`, 'g'))?.length ?? 0;
    verdicts.push({
      disk: `/dev/${d.dev}`,
      ioHang: d.ioHang,
      requests: r.done,
      guestErrors,
      kernelErrors,
      longestStallMs: Math.max(...r.timeline.map((t) => t.lat_us)) / 1000,
      ext4: mount === 'rw' ? 'rw' : mount === 'ro' ? 'ro' : 'unmounted',
      dataVerified: verify.exitCode === 0 && parseIotoolResult(verify.stdout).ok,
      events: diskEvents[i]!.map((e) => e.label),
    });
  }
  const timeline: TimelineData = {
    title: `iohang demo: a ${opts.outageSeconds} s ${opts.backend === 'nbd' ? 'network outage (NBD link down)' : 'storage outage (EIO from blkdebug)'}, one disk with I/O hang and one without`,
    outage,
    disks: DISKS.map((d, i) => ({
      title: `/dev/${d.dev}: I/O hang ${d.ioHang ? 'on' : 'off'}`,
      requests: results[i]!.timeline.map((t) => ({ tMs: results[i]!.start_unix_ms - clockOffset - t0 + t.t_ms, latMs: t.lat_us / 1000, ok: t.ok })),
      events: diskEvents[i]!,
    })),
  };
  return { verdicts, timeline };
}

/**
 * How far the guest's wall clock is ahead of the host's, from one round trip: iotool
 * writes its request times against the guest's clock, QEMU its events against the host's.
 */
async function guestClockOffsetMs(vm: Vm): Promise<number> {
  const sent = Date.now();
  const guest = JSON.parse(await vm.run('iotool now')) as { unix_ms: number };
  return guest.unix_ms - (sent + Date.now()) / 2;
}

/** The verdict as a table, and one line that says what it means. */
export function formatVerdict(verdicts: DiskVerdict[]): string {
  const head = ['disk', 'I/O hang', 'requests', 'guest errors', 'kernel I/O errors', 'longest stall', 'ext4', 'data verified', 'QMP events'];
  const rows = verdicts.map((v) => {
    const events = [...new Set(v.events)].map((e) => `${e} x${v.events.filter((x) => x === e).length}`).join(', ');
    return [v.disk, v.ioHang ? 'on' : 'off', String(v.requests), String(v.guestErrors), String(v.kernelErrors), `${(v.longestStallMs / 1000).toFixed(1)} s`, v.ext4, v.dataVerified ? 'yes' : 'NO', events || '-'];
  });
  return textTable(head, rows).join('\n');
}

export function demoPassed(verdicts: DiskVerdict[]): boolean {
  const hang = verdicts.find((v) => v.ioHang)!;
  return hang.guestErrors === 0 && hang.kernelErrors === 0 && hang.dataVerified && hang.ext4 === 'rw';
}
