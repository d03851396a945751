/**
 * P1: what I/O hang costs on healthy storage. The same guest does O_DIRECT 4 KiB sequential
 * writes and reads on a virtio-blk disk, on the unpatched QEMU (qemu-build/out/base) and on
 * the patched one with iohang=on (and iohang=off), the variants alternating round by round.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildGuest, parseIotoolResult } from '@iohang/guest';
import { imageDisk, Vm } from '@iohang/vm';
import { textTable, type QemuVariant } from '@iohang/core';
import { baseQemu, type Log } from './common.ts';
import type { BenchFigure } from './report.ts';
import { fmt, fmtRatio, median, pairedRatio, summarize } from './stats.ts';

export interface P1Options {
  /** Requests per measured run (one iotool run of one op on one disk). */
  requests: number;
  /** Measured runs per op and disk in each VM; the VM's figure is the best of them. */
  repeats: number;
  rounds: number;
  /**
   * A second disk in each VM, measured in turn with the first: iohang=off in the patched VM,
   * another plain disk in the unpatched one. Same-VM pairs show the machine's noise floor.
   */
  withOff: boolean;
  dir: string;
  log: Log;
  /** The patched build. */
  variant: QemuVariant;
  /** The build the unpatched column runs (default base: qemu-build/out/base). */
  baseVariant?: QemuVariant;
}

export const P1_VARIANTS = ['unpatched', 'unpatched-2', 'iohang=on', 'iohang=off'] as const;
export type P1Variant = (typeof P1_VARIANTS)[number];
export const P1_OPS = ['write', 'read'] as const;
export type P1Op = (typeof P1_OPS)[number];

export interface P1Run {
  variant: P1Variant;
  op: P1Op;
  round: number;
  /** Which of the VM's measured runs of this op and disk. */
  repeat: number;
  /** Every request's latency, µs. */
  latUs: number[];
  iops: number;
}

export interface P1Result {
  requests: number;
  repeats: number;
  rounds: number;
  runs: P1Run[];
  /** How long each VM took to boot, ms (a sign of how busy the machine was). */
  bootMs: number[];
}

const BS = 4096;
const WARMUP = 200;

/** The measured requests of one iotool run: latencies, and IOPS over the run's span. */
export function requestStats(timeline: { op?: string; t_ms: number; lat_us: number; ok: boolean }[], op: string): { latUs: number[]; iops: number } {
  const reqs = timeline.filter((e) => (e.op ?? op) === op);
  if (reqs.length === 0 || reqs.some((e) => !e.ok)) throw new Error(`iotool ${op}: ${reqs.length === 0 ? 'no requests' : 'a request failed'} on healthy storage`);
  const first = reqs[0]!;
  const last = reqs.at(-1)!;
  const spanMs = last.t_ms + last.lat_us / 1000 - first.t_ms;
  return { latUs: reqs.map((e) => e.lat_us), iops: spanMs > 0 ? (reqs.length * 1000) / spanMs : Number.NaN };
}

export async function runP1(opts: P1Options): Promise<P1Result> {
  const { log } = opts;
  const baseVariant = opts.baseVariant ?? 'base';
  if (baseVariant === 'base') baseQemu(); // fail before anything boots, saying how to build it
  const guest = await buildGuest({ log });
  const sizeMiB = Math.ceil((Math.max(opts.requests, WARMUP) * BS) / (1024 * 1024)) + 1;
  // Fully allocated images: a write into a hole costs the host filesystem an allocation.
  const image = (name: string) => {
    const path = join(opts.dir, `${name}.img`);
    writeFileSync(path, Buffer.alloc(sizeMiB * 1024 * 1024, 0x5a));
    return path;
  };
  const images: Record<P1Variant, string> = { unpatched: image('p1-unpatched'), 'unpatched-2': image('p1-unpatched-2'), 'iohang=on': image('p1-on'), 'iohang=off': image('p1-off') };
  const runs: P1Run[] = [];
  const bootMs: number[] = [];

  /** One VM: boot, warm up every disk, then the measured runs, ops and disks taking turns. */
  const measure = async (round: number, variant: QemuVariant, disks: { id: string; dev: string; variant: P1Variant }[]) => {
    const specs = disks.map((d) =>
      imageDisk(d.id, images[d.variant], d.variant.startsWith('unpatched') ? {} : { iohang: d.variant === 'iohang=on' }),
    );
    await using vm = await Vm.start({ guest, disks: specs, variant, logDir: join(opts.dir, `p1-r${round}-${variant}`) });
    bootMs.push(vm.bootMs);
    // Warm up TCG's translation cache and the guest's page cache for iotool itself.
    for (const d of disks) {
      await vm.run(`iotool write ${d.dev} --bs ${BS} --count ${WARMUP} --gen 1 --direct > /dev/null && iotool read ${d.dev} --bs ${BS} --count ${WARMUP} --direct > /dev/null`, { timeoutMs: 300_000 });
    }
    for (let repeat = 0; repeat < opts.repeats; repeat++) {
      for (const op of P1_OPS) {
        for (const d of (round + repeat) % 2 ? [...disks].reverse() : disks) {
          const cmd = op === 'write' ? `iotool write ${d.dev} --bs ${BS} --count ${opts.requests} --gen ${round + 2} --direct` : `iotool read ${d.dev} --bs ${BS} --count ${opts.requests} --direct`;
          const r = parseIotoolResult(await vm.run(cmd, { timeoutMs: 600_000 }));
          const s = requestStats(r.timeline, op);
          runs.push({ variant: d.variant, op, round, repeat, ...s });
          log(`  P1 round ${round + 1}.${repeat + 1}: ${d.variant.padEnd(10)} ${op.padEnd(5)} median ${fmt(median(s.latUs))} µs, ${fmt(s.iops)} IOPS`);
        }
      }
    }
  };

  // The same disks in both VMs: the first is compared across VMs, the second measured in turn with it.
  const baseDisks = [{ id: 'unpatched', dev: '/dev/vda', variant: 'unpatched' as const }, ...(opts.withOff ? [{ id: 'unpatched2', dev: '/dev/vdb', variant: 'unpatched-2' as const }] : [])];
  const patchedDisks = [{ id: 'on', dev: '/dev/vda', variant: 'iohang=on' as const }, ...(opts.withOff ? [{ id: 'off', dev: '/dev/vdb', variant: 'iohang=off' as const }] : [])];
  for (let round = 0; round < opts.rounds; round++) {
    // A B, B A, A B, ...: neither variant always runs first.
    const steps = [() => measure(round, baseVariant, baseDisks), () => measure(round, opts.variant, patchedDisks)];
    for (const step of round % 2 ? steps.reverse() : steps) await step();
  }
  return { requests: opts.requests, repeats: opts.repeats, rounds: opts.rounds, runs, bootMs };
}

function select(r: P1Result, variant: P1Variant, op: P1Op): P1Run[] {
  return r.runs.filter((x) => x.variant === variant && x.op === op);
}

/**
 * One value per round (per VM): the best of its runs -- the lowest median latency and the
 * highest IOPS. Interference from the rest of the machine only ever adds time, so the best
 * run is the one it disturbed least.
 */
export function p1RoundValues(r: P1Result, variant: P1Variant, op: P1Op): { latencyUs: number[]; iops: number[] } {
  const runs = select(r, variant, op);
  const rounds = [...new Set(runs.map((x) => x.round))].sort((a, b) => a - b);
  const of = (round: number) => runs.filter((x) => x.round === round);
  return {
    latencyUs: rounds.map((k) => Math.min(...of(k).map((x) => median(x.latUs)))),
    iops: rounds.map((k) => Math.max(...of(k).map((x) => x.iops))),
  };
}

/** Per op: the paired ratios against unpatched of the per-round latency and IOPS, and their medians. */
export function p1Ratios(r: P1Result, variant: P1Variant, op: P1Op) {
  const a = p1RoundValues(r, variant, op);
  const b = p1RoundValues(r, 'unpatched', op);
  const latency = pairedRatio(a.latencyUs, b.latencyUs);
  return { latency: latency.median, latencyPerRound: latency.ratios, iops: pairedRatio(a.iops, b.iops).median };
}

const NAMES: Record<P1Variant, string> = {
  unpatched: 'unpatched (out/base)',
  'unpatched-2': 'unpatched, 2nd disk',
  'iohang=on': 'patched, iohang=on',
  'iohang=off': 'patched, iohang=off (2nd disk)',
};

const TCG_NOTE =
  'Under TCG the guest CPU is emulated: most of each request\'s latency is the guest kernel and virtio running in the emulator, so this bounds the fast-path cost from above rather than isolating it.';

export function formatP1(r: P1Result): string {
  const variants = P1_VARIANTS.filter((v) => r.runs.some((x) => x.variant === v));
  const rows: string[][] = [];
  for (const op of P1_OPS) {
    for (const v of variants) {
      const lat = summarize(select(r, v, op).flatMap((x) => x.latUs));
      const rounds = p1RoundValues(r, v, op);
      const ratios = v === 'unpatched' ? undefined : p1Ratios(r, v, op);
      rows.push([
        op,
        NAMES[v],
        String(lat.n),
        fmt(lat.p10),
        fmt(lat.median),
        fmt(lat.p90),
        rounds.latencyUs.map((x) => fmt(x)).join(', '),
        fmt(median(rounds.iops)),
        ratios ? fmtRatio(ratios.latency) : '1',
        ratios ? fmtRatio(ratios.iops) : '1',
        ratios ? ratios.latencyPerRound.map((x) => x.toFixed(2)).join(', ') : '-',
      ]);
    }
  }
  return [
    `P1  fast-path cost on healthy storage: O_DIRECT ${BS / 1024} KiB sequential requests, one in flight; ${r.rounds} round${r.rounds === 1 ? '' : 's'}, each a fresh VM per variant (variants alternate), ${r.repeats} runs of ${r.requests} requests per op and disk in each`,
    ...textTable(['op', 'QEMU', 'requests', 'p10 µs', 'median µs', 'p90 µs', 'best median µs per round', 'IOPS', 'latency ratio', 'IOPS ratio', 'latency ratio per round'], rows),
    'p10/median/p90: every request of every run. Per round: the best of the VM\'s runs (lowest median latency, highest IOPS): the machine\'s interference only adds time.',
    'ratios: patched / unpatched, the median of the per-round ratios (each round measures both side by side). IOPS: one request in flight, so it includes the guest\'s own time between requests.',
    'each VM has two disks measured in turn; the second disk\'s rows (unpatched 2nd disk; iohang=off, which on success runs the same code as iohang=on) show how far apart identical paths in one VM measure here.',
    `why a fresh VM per variant and round: base and patched are different QEMU binaries and only one VM runs at a time here; a fresh boot each round also samples boot-to-boot variation (memory layout, TCG code cache) instead of one process's luck. Boots took ${fmt(median(r.bootMs) / 1000)} s (median).`,
    `note: ${TCG_NOTE}`,
  ].join('\n');
}

export function p1Figure(r: P1Result): BenchFigure {
  const variants = P1_VARIANTS.filter((v) => r.runs.some((x) => x.variant === v));
  const series = P1_OPS.flatMap((op) => variants.map((v) => ({ label: `${op}: ${v}`, values: p1RoundValues(r, v, op).latencyUs })));
  const ratios = (v: P1Variant) => P1_OPS.map((op) => `${op}s ${fmtRatio(p1Ratios(r, v, op).latency)}`).join(', ');
  const same = (a: P1Variant, b: P1Variant) => P1_OPS.map((op) => `${op}s ${fmtRatio(pairedRatio(p1RoundValues(r, a, op).latencyUs, p1RoundValues(r, b, op).latencyUs).median)}`).join(', ');
  const off = variants.includes('iohang=off')
    ? `; identical paths in one VM measure iohang=on/iohang=off ${same('iohang=on', 'iohang=off')} and unpatched 2nd disk/1st disk ${same('unpatched-2', 'unpatched')}`
    : '';
  return {
    id: 'P1',
    title: 'Fast-path cost on healthy storage',
    description:
      `Latency of one guest O_DIRECT ${BS / 1024} KiB sequential request (one in flight) on a virtio-blk disk: the unpatched QEMU of the same base against the patched one with iohang=on${variants.includes('iohang=off') ? ' (and, as a second disk in each VM, iohang=off and another unpatched disk)' : ''}. ` +
      `Each value is one round: a freshly booted VM per variant (variants alternate A B, B A, ...; they are different binaries and only one VM runs at a time on this shared machine), ` +
      `warmed up, then ${r.repeats} runs of ${r.requests} requests per op; the value is the lowest of the runs' median latencies, since interference only adds time. ` +
      `IOPS (median over rounds): ${P1_OPS.map((op) => `${op} ${variants.map((v) => `${v} ${fmt(median(p1RoundValues(r, v, op).iops))}`).join(', ')}`).join('; ')}. ${TCG_NOTE}`,
    unit: 'µs',
    series,
    summary: `Patched with iohang=on against unpatched, median of paired per-round latency ratios: ${ratios('iohang=on')}${off}.`,
  };
}
