/**
 * P3: what a hang costs the host. Many guest requests are parked (one-block O_DIRECT writes
 * from as many guest processes, every write failing with EIO) and QEMU's CPU time (utime +
 * stime from /proc/<pid>/stat) is measured over a window while they stay parked, against a
 * window of the same length with the same VM idle. Idle and hung windows alternate.
 */
import { join } from 'node:path';
import { buildGuest, createDisk } from '@iohang/guest';
import { BlkdebugFault } from '@iohang/faults';
import { qemuPaths, type QemuVariant, sleep, textTable } from '@iohang/core';
import { blkdebugTarget, imageDisk, Vm } from '@iohang/vm';
import { countWrites, cpuMs, eventDevice, ioHangInfo, type Log } from './common.ts';
import type { BenchFigure } from './report.ts';
import { fmt, median } from './stats.ts';

export interface P3Options {
  /** Parked requests per hung window (guest processes with one write each). */
  parked: number;
  windowMs: number;
  rounds: number;
  intervalsMs: number[];
  /** The patched QEMU build to boot. */
  variant: QemuVariant;
  dir: string;
  log: Log;
}

export interface P3Window {
  kind: 'idle' | 'hung';
  /** The hung disk's retry interval (hung windows). */
  intervalMs?: number;
  round: number;
  /** QEMU's CPU time over the window per second of it, ms/s. */
  cpuMsPerS: number;
  windowMs: number;
  /** query-block parked-requests: the most seen before the window, and at its end. */
  parkedBefore?: number;
  parkedAfter?: number;
  /** Guest writes that completed successfully after the restore. */
  writesOk?: number;
  /** Retries per second, counted with a QEMU trace event just after the window (not during it). */
  retriesPerS?: number;
}

export interface P3Result {
  parked: number;
  windowMs: number;
  windows: P3Window[];
}

const BS = 4096;

export async function runP3(opts: P3Options): Promise<P3Result> {
  const { log } = opts;
  const sizeMiB = Math.ceil(((opts.parked + 2) * 2 * BS) / (1024 * 1024)) + 1;
  const disks = await Promise.all(
    opts.intervalsMs.map(async (ms, k) => {
      const id = `c${ms}`;
      const image = await createDisk({ path: join(opts.dir, `p3-${id}.img`), sizeMiB, format: 'raw' }, qemuPaths(opts.variant).img);
      return { id, dev: `/dev/vd${String.fromCharCode(97 + k)}`, intervalMs: ms, spec: imageDisk(id, image, { iohang: true, 'iohang-retry-interval': ms }) };
    }),
  );
  await using vm = await Vm.start({ guest: await buildGuest({ log }), variant: opts.variant, disks: disks.map((d) => d.spec), logDir: join(opts.dir, 'p3-vm') });
  const pid = vm.pid!;
  // virtio-blk's queue (default 256 entries) and the guest's tag count must both allow this many in flight.
  const depth = Number((await vm.run('cat /sys/block/vda/queue/nr_requests')).trim());
  if (depth < opts.parked) log(`  P3: the guest queue allows only ${depth} requests in flight, fewer than ${opts.parked}`);

  const windows: P3Window[] = [];
  const measure = async (): Promise<{ cpuMsPerS: number; windowMs: number }> => {
    const t0 = performance.now();
    const c0 = cpuMs(pid);
    await sleep(opts.windowMs);
    const c1 = cpuMs(pid);
    const t1 = performance.now();
    return { cpuMsPerS: ((c1 - c0) * 1000) / (t1 - t0), windowMs: t1 - t0 };
  };

  let gen = 0;
  for (let round = 0; round < opts.rounds; round++) {
    // idle, hung at 1000 ms, idle, hung at 100 ms; the next round the other way round.
    for (const d of round % 2 ? [...disks].reverse() : disks) {
      await sleep(2000);
      const idle = await measure();
      windows.push({ kind: 'idle', round, ...idle });
      log(`  P3 round ${round + 1}: idle       ${fmt(idle.cpuMsPerS)} ms CPU/s`);

      gen++;
      const since = vm.qmp.mark();
      const fault = await BlkdebugFault.start(vm.qmp, blkdebugTarget(d), { ops: ['write'] });
      // One O_DIRECT write per process, a block apart so that the guest cannot merge them.
      const dir = `/tmp/p3-${gen}`;
      const writers = vm.exec(
        `mkdir -p ${dir}; for i in $(seq ${opts.parked}); do iotool write ${d.dev} --bs ${BS} --count 1 --offset $((i*${2 * BS})) --gen ${gen} --direct > ${dir}/$i.json & done; wait; grep -l '"ok":true' ${dir}/*.json | wc -l`,
        { timeoutMs: opts.windowMs + 300_000 },
      );
      await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === true && eventDevice(e).includes(`/${d.id}/`), timeoutMs: 60_000 });
      let parkedBefore = 0;
      for (const until = Date.now() + 120_000; parkedBefore < opts.parked && Date.now() < until; ) {
        parkedBefore = Math.max(parkedBefore, (await ioHangInfo(vm)).get(d.id)?.['parked-requests'] ?? 0);
        if (parkedBefore < opts.parked) await sleep(200);
      }
      if (parkedBefore < opts.parked) log(`  P3: only ${parkedBefore} of ${opts.parked} requests parked`);
      await sleep(500);
      const hung = await measure();
      const parkedAfter = (await ioHangInfo(vm)).get(d.id)?.['parked-requests'] ?? 0;
      // Outside the CPU window (tracing costs CPU): how many retries QEMU actually makes.
      const retries = await countWrites(vm, Math.min(opts.windowMs, 5000)).catch((e: Error) => {
        log(`  P3: could not count retries (${e.message})`);
        return undefined;
      });
      await fault.end();
      const w = await writers;
      const writesOk = Number(w.stdout.trim().split('\n').at(-1));
      await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === false && eventDevice(e).includes(`/${d.id}/`), timeoutMs: 60_000 });
      windows.push({ kind: 'hung', intervalMs: d.intervalMs, round, ...hung, parkedBefore, parkedAfter, writesOk, retriesPerS: retries?.perSecond });
      log(`  P3 round ${round + 1}: hung (${d.intervalMs} ms) ${fmt(hung.cpuMsPerS)} ms CPU/s, ${parkedBefore} parked, ${fmt(retries?.perSecond ?? Number.NaN)} retries/s, ${writesOk}/${opts.parked} writes ok after the restore`);
      await vm.run(`rm -rf ${dir}`);
    }
  }
  return { parked: opts.parked, windowMs: opts.windowMs, windows };
}

/** Each hung window with the idle window just before it. */
export function p3Pairs(r: P3Result): { intervalMs: number; idle: number; hung: number; diff: number }[] {
  const out: { intervalMs: number; idle: number; hung: number; diff: number }[] = [];
  r.windows.forEach((w, k) => {
    const prev = r.windows[k - 1];
    if (w.kind === 'hung' && prev?.kind === 'idle') out.push({ intervalMs: w.intervalMs!, idle: prev.cpuMsPerS, hung: w.cpuMsPerS, diff: w.cpuMsPerS - prev.cpuMsPerS });
  });
  return out;
}

function intervals(r: P3Result): number[] {
  return [...new Set(r.windows.flatMap((w) => (w.intervalMs === undefined ? [] : [w.intervalMs])))];
}

export function formatP3(r: P3Result): string {
  const pairs = p3Pairs(r);
  const idle = r.windows.filter((w) => w.kind === 'idle').map((w) => w.cpuMsPerS);
  const rows = [['idle', '-', String(idle.length), fmt(median(idle)), idle.map((x) => fmt(x)).join(', '), '-', '-', '-']];
  for (const ms of intervals(r)) {
    const hung = r.windows.filter((w) => w.kind === 'hung' && w.intervalMs === ms);
    const p = pairs.filter((x) => x.intervalMs === ms);
    rows.push([
      `hung, retry every ${ms} ms`,
      String(Math.min(...hung.map((w) => w.parkedBefore ?? 0))),
      String(hung.length),
      fmt(median(hung.map((w) => w.cpuMsPerS))),
      hung.map((w) => fmt(w.cpuMsPerS)).join(', '),
      fmt(median(p.map((x) => x.diff))),
      `${hung.map((w) => fmt(w.retriesPerS ?? Number.NaN)).join(', ')} (${fmt((r.parked * 1000) / ms)})`,
      hung.map((w) => `${w.writesOk}/${r.parked}`).join(', '),
    ]);
  }
  return [
    `P3  QEMU CPU time while hung: ${r.parked} parked one-block writes, ${fmt(r.windowMs / 1000)} s windows, idle and hung windows alternating in the same VM`,
    ...textTable(['window', 'parked', 'windows', 'median ms CPU/s', 'each window', 'hung - idle', 'retries/s counted (nominal)', 'writes ok after'], rows),
    'ms CPU/s: QEMU\'s utime + stime over the window per second (1000 = one core). hung - idle: median of each hung window minus the idle window before it.',
    'retries/s: counted for up to 5 s right after each CPU window (QEMU trace event bdrv_co_pwritev_part, per node; tracing costs CPU, so never during one); nominal: parked x ticks per second.',
  ].join('\n');
}

export function p3Figure(r: P3Result): BenchFigure {
  const pairs = p3Pairs(r);
  const series = [{ label: 'idle', values: r.windows.filter((w) => w.kind === 'idle').map((w) => w.cpuMsPerS) }];
  for (const ms of intervals(r)) {
    series.push({ label: `hung, ${ms} ms interval`, values: r.windows.filter((w) => w.kind === 'hung' && w.intervalMs === ms).map((w) => w.cpuMsPerS) });
    series.push({ label: `hung - idle, ${ms} ms`, values: pairs.filter((x) => x.intervalMs === ms).map((x) => x.diff) });
  }
  const idle = median(series[0]!.values);
  const parts = intervals(r).map((ms) => `${fmt(median(pairs.filter((x) => x.intervalMs === ms).map((x) => x.hung)))} ms/s hung with a ${ms} ms retry interval (${fmt(median(pairs.filter((x) => x.intervalMs === ms).map((x) => x.diff)))} over idle)`);
  return {
    id: 'P3',
    title: 'QEMU CPU time while hung',
    description:
      `${r.parked} guest processes each have one O_DIRECT 4 KiB write parked (query-block parked-requests), held for ${fmt(r.windowMs / 1000)} s; QEMU's CPU time (utime + stime, all threads) per second of the window, ` +
      'against a window of the same length with the same VM idle just before it. 1000 ms/s is one host core fully busy; under TCG the idle guest itself costs CPU. ' +
      `Retries counted with QEMU's bdrv_co_pwritev_part trace event right after each hung window: ${intervals(r).map((ms) => `${fmt(median(r.windows.filter((w) => w.intervalMs === ms).flatMap((w) => (w.retriesPerS === undefined ? [] : [w.retriesPerS]))))}/s at ${ms} ms`).join(', ')}.`,
    unit: 'ms CPU per s',
    series,
    summary: `QEMU used ${fmt(idle)} ms/s idle and ${parts.join(', ')}.`,
  };
}
