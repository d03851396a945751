/**
 * P2: how long the guest still waits once the storage is back. A guest write parks (every
 * write fails with EIO), the storage stays down for a while and is restored; measured from
 * the restore (host clock) to the write's completion in the guest and to BLOCK_IO_HANG
 * set=false, for the default retry interval (1000 ms) and 100 ms, recovered by the retry
 * timer; and for a disk with a one-minute interval that a management tool recovers at once
 * with block-io-hang-retry, sent right after the restore.
 */
import { join } from 'node:path';
import { buildGuest, createDisk, parseIotoolResult } from '@iohang/guest';
import { BlkdebugFault } from '@iohang/faults';
import { qemuPaths, type QemuVariant, sleep, textTable } from '@iohang/core';
import { blkdebugTarget, imageDisk, Vm } from '@iohang/vm';
import { eventMs } from '@iohang/qmp';
import { bestClock, clockSamples, eventDevice, type ClockSample, type Log } from './common.ts';
import type { BenchFigure } from './report.ts';
import { fmt, median, summarize } from './stats.ts';

export interface P2Options {
  /** Repetitions per retry interval. */
  reps: number;
  /**
   * How long the storage stays down once the write has parked, at least; repetition k of n
   * adds (k + 0.5) / n of a retry interval, so that the restores fall evenly over the timer's cycle.
   */
  holdMs: number;
  intervalsMs: number[];
  /** The patched QEMU build to boot. */
  variant: QemuVariant;
  dir: string;
  log: Log;
}

export interface P2Rep {
  intervalMs: number;
  /** Recovered by the retry timer, or by block-io-hang-retry right after the restore. */
  recovery: 'timer' | 'retry-now';
  rep: number;
  /** How long the storage stayed down after the write parked, ms. */
  holdMs: number;
  /** Restore (host clock, the reopen's reply) to the parked write's completion in the guest, ms. */
  guestMs: number;
  /** Restore to BLOCK_IO_HANG set=false (QEMU's event timestamp), ms. */
  eventMs: number;
  /**
   * The same without the clock offset: BLOCK_IO_HANG set=true (when the write first failed,
   * host clock) plus the write's latency in the guest, minus the restore. Late by the time
   * from the guest's submit to the first EIO (normally well below 1 ms), never early,
   * whereas guestMs is off by up to half the round trip of `iotool now` either way.
   */
  anchoredMs: number;
  /**
   * When the retry timer was due next after the restore, ms from it: the timer is armed when
   * the write first parks (BLOCK_IO_HANG set=true) and fires every interval after that.
   * anchoredMs minus this is the time the retry itself took to reach the guest. For
   * retry-now: when the block-io-hang-retry reply came, ms from the restore.
   */
  tickWaitMs: number;
  /** How long the guest's write took in all, ms. */
  writeLatencyMs: number;
  /** The blockdev-reopen that restored the storage: sent to answered, ms. */
  reopenMs: number;
  clock: ClockSample;
}

export interface P2Result {
  holdMs: number;
  reps: P2Rep[];
}

const BS = 4096;
/** The retry interval of the disk that block-io-hang-retry recovers: the timer never does. */
export const RETRY_NOW_INTERVAL_MS = 60_000;

export async function runP2(opts: P2Options): Promise<P2Result> {
  const { log } = opts;
  const plans = [...opts.intervalsMs.map((ms) => ({ ms, recovery: 'timer' as const })), { ms: RETRY_NOW_INTERVAL_MS, recovery: 'retry-now' as const }];
  const disks = await Promise.all(
    plans.map(async ({ ms, recovery }, k) => {
      const id = recovery === 'timer' ? `r${ms}` : 'now';
      const image = await createDisk({ path: join(opts.dir, `p2-${id}.img`), sizeMiB: 8, format: 'raw' }, qemuPaths(opts.variant).img);
      return { id, dev: `/dev/vd${String.fromCharCode(97 + k)}`, intervalMs: ms, recovery, spec: imageDisk(id, image, { iohang: true, 'iohang-retry-interval': ms }) };
    }),
  );
  await using vm = await Vm.start({ guest: await buildGuest({ log }), variant: opts.variant, disks: disks.map((d) => d.spec), logDir: join(opts.dir, 'p2-vm') });
  const reps: P2Rep[] = [];
  for (let rep = 0; rep < opts.reps; rep++) {
    // The intervals take turns: 1000, 100, 1000, 100, ... (and the other way round every other rep).
    const order = rep % 2 ? [...disks].reverse() : disks;
    for (const d of order) {
      const before = await clockSamples(vm, 3);
      const since = vm.qmp.mark();
      const mine = (e: { data: Record<string, unknown> }) => eventDevice(e).includes(`/${d.id}/`);
      const fault = await BlkdebugFault.start(vm.qmp, blkdebugTarget(d), { ops: ['write'] });
      const writer = vm.exec(`iotool write ${d.dev} --bs ${BS} --count 1 --offset ${rep * BS} --gen ${rep + 1} --direct`, { timeoutMs: 120_000 + opts.holdMs });
      const hung = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === true && mine(e), timeoutMs: 60_000 });
      // Outages end at any point of the retry timer's cycle: spread the restores evenly over
      // one interval (the timer runs from the moment the write parked).
      const holdMs = d.recovery === 'timer' ? opts.holdMs + ((rep + 0.5) / opts.reps) * d.intervalMs : opts.holdMs;
      await sleep(holdMs);
      const { sentMs, restoredMs } = await fault.end();
      if (d.recovery === 'retry-now') await vm.qmp.execute('block-io-hang-retry', { id: d.id });
      const retriedMs = Date.now();
      const recovered = await vm.qmp.waitEvent('BLOCK_IO_HANG', { since, predicate: (e) => e.data.set === false && mine(e), timeoutMs: 60_000 });
      const w = await writer;
      const r = parseIotoolResult(w.stdout);
      const ev = r.timeline[0];
      if (w.exitCode !== 0 || !r.ok || r.timeline.length !== 1 || !ev) throw new Error(`P2: the parked write did not complete cleanly after the restore:\n${w.stdout.slice(0, 2000)}`);
      const clock = bestClock([...before, ...(await clockSamples(vm, 3))]);
      const doneGuestClock = r.start_unix_ms + ev.t_ms + ev.lat_us / 1000;
      const x: P2Rep = {
        intervalMs: d.intervalMs,
        recovery: d.recovery,
        rep,
        holdMs,
        guestMs: doneGuestClock - clock.offsetMs - restoredMs,
        eventMs: eventMs(recovered) - restoredMs,
        anchoredMs: eventMs(hung) + ev.lat_us / 1000 - restoredMs,
        tickWaitMs: d.recovery === 'timer' ? tickWait(restoredMs - eventMs(hung), d.intervalMs) : retriedMs - restoredMs,
        writeLatencyMs: ev.lat_us / 1000,
        reopenMs: restoredMs - sentMs,
        clock,
      };
      reps.push(x);
      log(`  P2 ${label(x)}, rep ${rep + 1}: down ${fmt(holdMs)} ms; guest write done ${fmt(x.anchoredMs)} ms after the restore (by clock offset ${fmt(x.guestMs)} ± ${fmt(clock.rttMs / 2)}), BLOCK_IO_HANG(false) after ${fmt(x.eventMs)} ms`);
      await sleep(300);
    }
  }
  return { holdMs: opts.holdMs, reps };
}

/** From `sinceHangMs` after the hang began, how long until the retry timer's next tick. */
export function tickWait(sinceHangMs: number, intervalMs: number): number {
  return Math.max(1, Math.ceil(sinceHangMs / intervalMs)) * intervalMs - sinceHangMs;
}

const label = (x: Pick<P2Rep, 'recovery' | 'intervalMs'>) => (x.recovery === 'timer' ? `timer, ${x.intervalMs} ms` : 'retry now (QMP)');

/** The recoveries measured, in order: each timer interval, then retry-now. */
function groups(r: P2Result): { label: string; reps: P2Rep[] }[] {
  const labels = [...new Set(r.reps.map(label))];
  return labels.map((l) => ({ label: l, reps: r.reps.filter((x) => label(x) === l) }));
}

const m = (xs: number[]) => {
  const s = summarize(xs);
  return `${fmt(s.median)} (${fmt(s.min)}..${fmt(s.max)})`;
};

export function formatP2(r: P2Result): string {
  const rows = groups(r).map(({ label: l, reps }) => {
    return [
      l,
      String(reps.length),
      m(reps.map((x) => x.anchoredMs)),
      m(reps.map((x) => x.guestMs)),
      m(reps.map((x) => x.eventMs)),
      m(reps.map((x) => x.tickWaitMs)),
      m(reps.map((x) => x.anchoredMs - x.tickWaitMs)),
      `±${fmt(median(reps.map((x) => x.clock.rttMs / 2)))}`,
      fmt(median(reps.map((x) => x.reopenMs))),
    ];
  });
  return [
    `P2  guest-visible stall after the storage returns: a parked write, storage down ${fmt(r.holdMs / 1000)} s + a fraction of the interval, then restored; ms from the restore, median (min..max)`,
    ...textTable(['recovery', 'reps', 'guest write done', 'same, by clock offset', 'BLOCK_IO_HANG(false)', 'next tick due / retry sent', 'done after it', 'clock ±', 'reopen'], rows),
    'guest write done: BLOCK_IO_HANG(true) (the write\'s first EIO, host clock) + the write\'s latency in the guest (iotool timeline); never early, late by submit-to-EIO (<1 ms).',
    'same, by clock offset: the write\'s completion on the guest clock (start_unix_ms + timeline) moved to the host clock by the offset from `iotool now`, good to ± half its round trip (clock ±).',
    'restore: the answer to the restoring blockdev-reopen (reopen: sent to answered, ms). Restores are spread evenly over one retry interval.',
    'next tick due: when the retry timer would fire after the restore if it fired exactly every interval from BLOCK_IO_HANG(true); done after it: guest write done minus that.',
    `retry now: a disk with a ${RETRY_NOW_INTERVAL_MS / 1000} s retry interval; block-io-hang-retry is sent as soon as the restoring reopen is answered (retry sent: its reply, ms from the restore).`,
    '  (the timer is re-armed when it fires, so its lateness adds up over the outage: with 100 ms, 30+ ticks, the prediction runs early and "done after tick" overstates the retry\'s own time.)',
  ].join('\n');
}

export function p2Figure(r: P2Result): BenchFigure {
  const short = (x: P2Rep) => (x.recovery === 'timer' ? `${x.intervalMs} ms` : 'retry now');
  const series = groups(r).flatMap(({ reps }) => [
    { label: `${short(reps[0]!)}: guest write done`, values: reps.map((x) => x.anchoredMs) },
    { label: `${short(reps[0]!)}: guest, by offset`, values: reps.map((x) => x.guestMs) },
    { label: `${short(reps[0]!)}: event set=false`, values: reps.map((x) => x.eventMs) },
  ]);
  const parts = groups(r).map(({ reps }) => {
    const how = reps[0]!.recovery === 'timer' ? `with a ${reps[0]!.intervalMs} ms retry interval` : 'with block-io-hang-retry';
    return `${fmt(median(reps.map((x) => x.anchoredMs)))} ms (max ${fmt(Math.max(...reps.map((x) => x.anchoredMs)))}) ${how}`;
  });
  const rtt = median(r.reps.map((x) => x.clock.rttMs / 2));
  return {
    id: 'P2',
    title: 'Guest-visible stall after the storage returns',
    description:
      `A guest O_DIRECT write parks while every write fails with EIO; the storage stays down ${fmt(r.holdMs / 1000)} s plus a fraction of the retry interval (spread evenly over it) and is restored with one blockdev-reopen. ` +
      'Measured from the restore (host clock) to the write\'s completion in the guest and to BLOCK_IO_HANG set=false. "guest write done": the BLOCK_IO_HANG set=true timestamp (the first EIO) plus the write\'s latency in the guest (iotool timeline), which needs no guest clock; ' +
      `"guest, by offset": the completion on the guest clock (start_unix_ms + timeline) moved by the offset from iotool now, good to about ±${fmt(rtt)} ms here. ` +
      `Recovery by the retry timer takes up to one retry interval; "retry now" is a disk with a ${RETRY_NOW_INTERVAL_MS / 1000} s interval recovered by block-io-hang-retry, sent as soon as the restore is answered.`,
    unit: 'ms',
    series,
    summary: `After the storage returns, the parked write completes in the guest after a median ${parts.join(', ')}.`,
  };
}
