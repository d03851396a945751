import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { workspacePaths } from '@iohang/core';
import { FIGURE_IDS, parseOnly, runBench, writeReport, type FigureId } from '@iohang/bench';

function whole(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`need a whole number from ${min} to ${max}`);
    return n;
  };
}

function only(v: string): FigureId[] {
  try {
    return parseOnly(v);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

/** Benchmarks: figures measured side by side, printed as tables and written as JSON for the docs. */
export function benchCommand(): Command {
  return new Command('bench')
    .description(
      'measure I/O hang: P1 fast-path cost on healthy storage (against the unpatched build), P2 guest-visible stall after the storage returns, ' +
        'P3 QEMU CPU time while hung, P4 32 disks hung and recovered together; prints a table per figure',
    )
    .option('--only <ids>', `comma-separated figures, of ${FIGURE_IDS.join(',')} (default: all)`, only)
    .option('--rounds <n>', 'repetitions for every figure (default: P1 4 rounds, P2 5 per retry interval, P3 2 rounds, P4 5)', whole(1, 1000))
    .option('--hang-seconds <n>', 'length of each P3 window, hung and idle (default 60)', whole(1, 3600))
    .option('--quick', 'small sizes, for a smoke run')
    .option('--json <file>', 'also write the figures as JSON (the schema docs/data/bench.json uses)')
    .option('--docs', 'write the JSON to docs/data/bench.json (unless --json names another file)')
    .option('--dir <dir>', 'where images and VM logs go (default: a new temporary directory)')
    .addHelpText(
      'after',
      '\nP1 needs the unpatched build in qemu-build/out/base: npx iohang qemu build --base.\n' +
        'The figures are ratios and distributions measured side by side on a shared, noisy machine under TCG; the default sizes take about 15 minutes on 2 cores.\n',
    )
    .action(async (opts: { only?: FigureId[]; rounds?: number; hangSeconds?: number; quick?: boolean; json?: string; docs?: boolean; dir?: string }) => {
      const started = Date.now();
      const figures = opts.only ?? [...FIGURE_IDS];
      const run = await runBench({ only: figures, rounds: opts.rounds, hangSeconds: opts.hangSeconds, quick: Boolean(opts.quick), variant: 'default', dir: opts.dir, log: console.log });
      console.log(`\n${'='.repeat(100)}\niohang bench, ${run.report.date}\nhost: ${run.report.host}\nqemu: ${run.report.qemu}\n`);
      for (const id of figures) console.log(`${run.tables[id]}\n`);
      for (const f of run.report.figures) console.log(`${f.id}: ${f.summary}`);
      const json = opts.json ?? (opts.docs ? join(workspacePaths().root, 'docs', 'data', 'bench.json') : undefined);
      if (json) {
        writeReport(json, run.report);
        console.log(`\nwrote ${json}`);
      }
      console.log(`VM logs in ${run.dir}; ${((Date.now() - started) / 60_000).toFixed(1)} min in all`);
    });
}
