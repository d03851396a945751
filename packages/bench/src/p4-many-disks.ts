/**
 * P4: many disks hang and recover together. One VM with 32 virtio-blk disks with I/O hang
 * (behind two PCI bridges, 16 each), a writer on each; the storage of all of them fails at
 * once (one blockdev-reopen), stays down, and comes back at once. Measured: the restore to
 * the last (and first) BLOCK_IO_HANG set=false, and QEMU's memory before, during and after.
 */
import { join } from 'node:path';
import { buildGuest, createDisk } from '@iohang/guest';
import { BlkdebugFault } from '@iohang/faults';
import { qemuPaths, type QemuVariant, sleep, textTable } from '@iohang/core';
import { blkdebugTarget, diskArgs, imageDisk, qemuMemoryKiB, Vm } from '@iohang/vm';
import { eventMs } from '@iohang/qmp';
import { eventDevice, ioHangInfo, type Log } from './common.ts';
import type { BenchFigure } from './report.ts';
import { fmt, median, summarize } from './stats.ts';

export interface P4Options {
  disks: number;
  reps: number;
  holdMs: number;
  /** The patched QEMU build to boot. */
  variant: QemuVariant;
  dir: string;
  log: Log;
}

type Mem = { rss: number; own: number };

export interface P4Rep {
  rep: number;
  /** From the fault's reopen answered to the last BLOCK_IO_HANG set=true, ms. */
  allHungMs: number;
  /** From the restoring reopen answered to the first / last BLOCK_IO_HANG set=false, ms. */
  firstRecoveredMs: number;
  allRecoveredMs: number;
  /** query-block while held: disks hung, requests parked over all disks. */
  hungDisks: number;
  parked: number;
  /** QEMU's memory, KiB (qemuMemoryKiB: RSS, and RSS without guest RAM and TCG's code buffer). */
  memBefore: Mem;
  memDuring: Mem;
  memAfter: Mem;
}

export interface P4Result {
  disks: number;
  /** The guest's block devices named vd*: all the disks must be there. */
  guestDisks: number;
  holdMs: number;
  reps: P4Rep[];
  /** Guest writes that failed (the writers print one line per failed iotool run). */
  writerFailures: string[];
}

const BS = 4096;
const PER_BRIDGE = 16;
const STOP = '/tmp/p4.stop';
/** The disks' iohang-retry-interval (the default). */
const RETRY_INTERVAL_MS = 1000;

/** Wait until every device in `devices` has sent BLOCK_IO_HANG with this `set` since `since`; their events. */
async function allEvents(vm: Vm, since: number, set: boolean, devices: string[], timeoutMs: number) {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const got = new Map<string, ReturnType<Vm['qmp']['events']>[number]>();
    for (const e of vm.qmp.events()) {
      if (e.seq < since || e.event !== 'BLOCK_IO_HANG' || e.data.set !== set) continue;
      const dev = devices.find((d) => eventDevice(e).includes(`/${d}/`));
      if (dev && !got.has(dev)) got.set(dev, e);
    }
    if (got.size === devices.length) return [...got.values()];
    if (Date.now() > until) throw new Error(`P4: only ${got.size} of ${devices.length} disks sent BLOCK_IO_HANG set=${set} within ${timeoutMs / 1000} s`);
    await sleep(50);
  }
}

export async function runP4(opts: P4Options): Promise<P4Result> {
  const { log } = opts;
  const ids = Array.from({ length: opts.disks }, (_, k) => `m${k}`);
  const bridges = Math.ceil(opts.disks / PER_BRIDGE);
  const specs = await Promise.all(
    ids.map(async (id, k) => {
      const image = await createDisk({ path: join(opts.dir, `p4-${id}.img`), sizeMiB: 2, format: 'raw' }, qemuPaths(opts.variant).img);
      return imageDisk(id, image, { iohang: true, 'iohang-retry-interval': RETRY_INTERVAL_MS, bus: `br${Math.floor(k / PER_BRIDGE)}`, addr: `0x${((k % PER_BRIDGE) + 1).toString(16)}` });
    }),
  );
  const extraArgs = [...Array.from({ length: bridges }, (_, b) => ['-device', `pci-bridge,id=br${b},chassis_nr=${b + 1}`]).flat(), ...specs.flatMap(diskArgs)];
  await using vm = await Vm.start({ guest: await buildGuest({ log }), variant: opts.variant, extraArgs, logDir: join(opts.dir, 'p4-vm'), bootTimeoutMs: 300_000 });
  const pid = vm.pid!;
  const devs = (await vm.run(`for i in $(seq 100); do [ $(ls /sys/block | grep -c '^vd') -ge ${opts.disks} ] && break; sleep 0.1; done; ls /sys/block | grep '^vd'`)).trim().split(/\s+/).filter(Boolean);
  log(`  P4: the guest sees ${devs.length} virtio disks (${devs[0]} ... ${devs.at(-1)})`);
  if (devs.length !== opts.disks) throw new Error(`P4: the guest sees ${devs.length} virtio-blk disks, not ${opts.disks}: ${devs.join(' ')}`);

  // A writer per disk: 50 one-block O_DIRECT writes 200 ms apart, again and again until told to stop.
  await vm.run(`rm -f ${STOP}`);
  const writers = vm.exec(
    `for d in ${devs.join(' ')}; do ( while [ ! -e ${STOP} ]; do iotool write /dev/$d --bs ${BS} --count 50 --gen 1 --direct --interval-ms 200 > /dev/null || echo "FAIL $d"; done ) & done; wait`,
    { timeoutMs: 24 * 3600_000 },
  );
  await sleep(3000);

  const reps: P4Rep[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    const memBefore = qemuMemoryKiB(pid);
    const since = vm.qmp.mark();
    const fault = await BlkdebugFault.start(vm.qmp, ids.map((id) => blkdebugTarget({ id })), { ops: ['write'] });
    const faulted = Date.now();
    const hungEvents = await allEvents(vm, since, true, ids, 60_000);
    const allHungMs = Math.max(...hungEvents.map(eventMs)) - faulted;
    // The disks' retry timers started together; spread the restores evenly over one 1000 ms
    // cycle so that neither the best nor the worst phase is measured every time.
    await sleep(opts.holdMs + ((rep + 0.5) / opts.reps) * RETRY_INTERVAL_MS);
    const info = await ioHangInfo(vm);
    const hungDisks = ids.filter((id) => info.get(id)?.hung).length;
    const parked = ids.reduce((n, id) => n + (info.get(id)?.['parked-requests'] ?? 0), 0);
    const memDuring = qemuMemoryKiB(pid);
    const { restoredMs } = await fault.end();
    const recovered = (await allEvents(vm, since, false, ids, 60_000)).map(eventMs);
    const x: P4Rep = {
      rep,
      allHungMs,
      firstRecoveredMs: Math.min(...recovered) - restoredMs,
      allRecoveredMs: Math.max(...recovered) - restoredMs,
      hungDisks,
      parked,
      memBefore,
      memDuring,
      memAfter: { rss: 0, own: 0 },
    };
    await sleep(2000);
    x.memAfter = qemuMemoryKiB(pid);
    reps.push(x);
    log(`  P4 rep ${rep + 1}: ${hungDisks} disks hung (${parked} parked), all hung ${fmt(allHungMs)} ms after the fault; recovered ${fmt(x.firstRecoveredMs)}..${fmt(x.allRecoveredMs)} ms after the restore; own memory ${mib(memBefore.own)} / ${mib(memDuring.own)} / ${mib(x.memAfter.own)}`);
    await sleep(1000);
  }
  await vm.run(`touch ${STOP}`);
  const w = await writers;
  const writerFailures = w.stdout.split('\n').filter((l) => l.startsWith('FAIL'));
  return { disks: opts.disks, guestDisks: devs.length, holdMs: opts.holdMs, reps, writerFailures };
}

const mib = (kib: number) => `${(kib / 1024).toFixed(1)} MiB`;

export function formatP4(r: P4Result): string {
  const row = (name: string, xs: number[], f = fmt) => {
    const s = summarize(xs);
    return [name, f(s.median), `${f(s.min)} .. ${f(s.max)}`, xs.map((x) => f(x)).join(', ')];
  };
  const memRow = (name: string, pick: (x: P4Rep) => number) => row(name, r.reps.map(pick), (k) => (Number.isFinite(k) ? mib(k) : '-'));
  return [
    `P4  ${r.disks} disks hung and recovered together (${r.guestDisks} seen by the guest, a writer on each): storage down ${fmt(r.holdMs / 1000)} s + a fraction of the 1000 ms retry interval, ${r.reps.length} reps`,
    ...textTable(
      ['measure', 'median', 'min .. max', 'each rep'],
      [
        row(`fault -> all ${r.disks} BLOCK_IO_HANG(true), ms`, r.reps.map((x) => x.allHungMs)),
        row('restore -> first BLOCK_IO_HANG(false), ms', r.reps.map((x) => x.firstRecoveredMs)),
        row(`restore -> all ${r.disks} BLOCK_IO_HANG(false), ms`, r.reps.map((x) => x.allRecoveredMs)),
        row('disks hung while held (query-block)', r.reps.map((x) => x.hungDisks)),
        row('requests parked while held', r.reps.map((x) => x.parked)),
        memRow('QEMU RSS before', (x) => x.memBefore.rss),
        memRow('QEMU RSS during', (x) => x.memDuring.rss),
        memRow('QEMU RSS after', (x) => x.memAfter.rss),
        memRow('QEMU own memory before', (x) => x.memBefore.own),
        memRow('QEMU own memory during', (x) => x.memDuring.own),
        memRow('QEMU own memory after', (x) => x.memAfter.own),
      ],
    ),
    `own memory: RSS without guest RAM and TCG's code buffer (qemuMemoryKiB). Guest write failures: ${r.writerFailures.length}${r.writerFailures.length ? ` (${r.writerFailures.slice(0, 5).join('; ')})` : ''}.`,
  ].join('\n');
}

export function p4Figure(r: P4Result): BenchFigure {
  const own = (pick: (x: P4Rep) => Mem) => mib(median(r.reps.map((x) => pick(x).own)));
  const rss = (pick: (x: P4Rep) => Mem) => mib(median(r.reps.map((x) => pick(x).rss)));
  return {
    id: 'P4',
    title: `${r.disks} disks hung and recovered together`,
    description:
      `One VM with ${r.disks} virtio-blk disks with iohang=on (retry interval 1000 ms) behind PCI bridges and a writer on each; every write of every disk fails with EIO at once, ` +
      `the storage stays down ${fmt(r.holdMs / 1000)} s plus a fraction of the retry interval (spread evenly over it) and comes back at once (one blockdev-reopen each way). Times from the reopen's answer to the BLOCK_IO_HANG events' QEMU timestamps. ` +
      `QEMU RSS before / during / after (median): ${rss((x) => x.memBefore)} / ${rss((x) => x.memDuring)} / ${rss((x) => x.memAfter)}; ` +
      `its own memory (without guest RAM and TCG's code buffer): ${own((x) => x.memBefore)} / ${own((x) => x.memDuring)} / ${own((x) => x.memAfter)}.`,
    unit: 'ms',
    series: [
      { label: `fault -> all ${r.disks} hung`, values: r.reps.map((x) => x.allHungMs) },
      { label: 'restore -> first recovered', values: r.reps.map((x) => x.firstRecoveredMs) },
      { label: `restore -> all ${r.disks} recovered`, values: r.reps.map((x) => x.allRecoveredMs) },
    ],
    summary:
      `All ${r.disks} disks sent BLOCK_IO_HANG(false) a median ${fmt(median(r.reps.map((x) => x.allRecoveredMs)))} ms after the storage returned (at most one 1000 ms retry interval expected); ` +
      `QEMU's own memory went ${own((x) => x.memBefore)} -> ${own((x) => x.memDuring)} -> ${own((x) => x.memAfter)} before/during/after.`,
  };
}
