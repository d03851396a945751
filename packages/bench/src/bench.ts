/** `iohang bench`: the figures, their tables and the JSON report the docs site renders. */
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IohangError, type QemuVariant } from '@iohang/core';
import { baseQemu, hostDescription, qemuDescription, type Log } from './common.ts';
import { formatP1, p1Figure, runP1 } from './p1-fast-path.ts';
import { formatP2, p2Figure, runP2 } from './p2-stall.ts';
import { formatP3, p3Figure, runP3 } from './p3-cpu.ts';
import { formatP4, p4Figure, runP4 } from './p4-many-disks.ts';
import { reportJson, validateReport, type BenchFigure, type BenchReport } from './report.ts';

export const FIGURE_IDS = ['P1', 'P2', 'P3', 'P4'] as const;
export type FigureId = (typeof FIGURE_IDS)[number];

export interface BenchOptions {
  only: FigureId[];
  /** Repetitions for every figure (P1 rounds, P2 reps per interval, P3 rounds, P4 reps); default per figure. */
  rounds?: number;
  /** Length of each P3 window (hung and idle), seconds. */
  hangSeconds?: number;
  /** Small sizes, for a smoke run. */
  quick: boolean;
  /** The patched QEMU build (P1 compares it with base). */
  variant: QemuVariant;
  /** Where images and VM logs go (default: a new temporary directory). */
  dir?: string;
  log: Log;
}

/** The sizes a run uses: the defaults, or --quick's, then --rounds and --hang-seconds. */
export function benchPlan(opts: Pick<BenchOptions, 'rounds' | 'hangSeconds' | 'quick'>) {
  const q = opts.quick;
  const n = (full: number, quick: number) => opts.rounds ?? (q ? quick : full);
  return {
    p1: { requests: q ? 100 : 700, repeats: q ? 2 : 3, rounds: n(4, 1), withOff: true },
    p2: { reps: n(5, 1), holdMs: q ? 1000 : 3000, intervalsMs: [1000, 100] },
    p3: { parked: q ? 16 : 128, windowMs: (opts.hangSeconds ?? (q ? 3 : 60)) * 1000, rounds: n(2, 1), intervalsMs: [1000, 100] },
    p4: { disks: q ? 8 : 32, reps: n(5, 1), holdMs: q ? 1000 : 3000 },
  };
}

export function parseOnly(s: string): FigureId[] {
  const ids = s.split(',').map((x) => x.trim().toUpperCase()).filter(Boolean);
  const bad = ids.filter((x) => !(FIGURE_IDS as readonly string[]).includes(x));
  if (bad.length || ids.length === 0) throw new IohangError(`--only takes figure ids from ${FIGURE_IDS.join(',')}, got "${s}"`, 'e.g. --only P1,P3');
  return FIGURE_IDS.filter((id) => ids.includes(id));
}

export interface BenchRun {
  report: BenchReport;
  /** One table per figure, as printed. */
  tables: Partial<Record<FigureId, string>>;
  /** Raw results per figure, for tests and --json consumers that want more than the figures. */
  results: Partial<Record<FigureId, unknown>>;
  durationsMs: Partial<Record<FigureId, number>>;
  dir: string;
}

/** Run the chosen figures one after another (one VM at a time), printing each table as it is done. */
export async function runBench(opts: BenchOptions): Promise<BenchRun> {
  const { log } = opts;
  const plan = benchPlan(opts);
  // Fail before anything boots if a build is missing.
  let qemu = qemuDescription(opts.variant);
  if (opts.only.includes('P1')) {
    baseQemu();
    qemu += `; P1 compares with the unpatched build of the same base (${qemuDescription('base').replace(/ with 0 patches$/, '')})`;
  }
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'iohang-bench-'));
  mkdirSync(dir, { recursive: true });
  const host = hostDescription();
  const date = new Date().toISOString();
  const figures: BenchFigure[] = [];
  const tables: BenchRun['tables'] = {};
  const results: BenchRun['results'] = {};
  const durationsMs: BenchRun['durationsMs'] = {};
  const step = async <R>(id: FigureId, what: string, run: () => Promise<R>, format: (r: R) => string, figure: (r: R) => BenchFigure) => {
    log(`${id}: ${what}`);
    const t0 = Date.now();
    const r = await run();
    durationsMs[id] = Date.now() - t0;
    results[id] = r;
    tables[id] = format(r);
    figures.push(figure(r));
    log(`\n${tables[id]}\n(${id} took ${((Date.now() - t0) / 1000).toFixed(0)} s)\n`);
  };
  try {
    for (const id of opts.only) {
      if (id === 'P1') await step(id, 'fast-path cost on healthy storage', () => runP1({ ...plan.p1, variant: opts.variant, dir, log }), formatP1, p1Figure);
      if (id === 'P2') await step(id, 'guest-visible stall after the storage returns', () => runP2({ ...plan.p2, variant: opts.variant, dir, log }), formatP2, p2Figure);
      if (id === 'P3') await step(id, 'QEMU CPU time while hung', () => runP3({ ...plan.p3, variant: opts.variant, dir, log }), formatP3, p3Figure);
      if (id === 'P4') await step(id, 'many disks hung and recovered together', () => runP4({ ...plan.p4, variant: opts.variant, dir, log }), formatP4, p4Figure);
    }
  } finally {
    // The images are large and worthless afterwards; the VM logs stay.
    for (const f of readdirSync(dir)) if (f.endsWith('.img')) rmSync(join(dir, f), { force: true });
  }
  const report = validateReport({ date, host, qemu, figures });
  return { report, tables, results, durationsMs, dir };
}

export function writeReport(path: string, report: BenchReport): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, reportJson(report));
}
