import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testVariant } from '@iohang/core';
import { describe, expect, it } from 'vitest';
import { runBench, validateReport, writeReport, type P2Result } from '../src/index.ts';

describe('iohang bench --quick (a real run of P2 at tiny sizes: structure and sanity, no timing thresholds)', () => {
  it('P2: the parked write completes after the restore, events and the report are well formed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bench-smoke-'));
    const run = await runBench({ only: ['P2'], quick: true, variant: testVariant(), dir, log: console.log });
    console.log(run.tables.P2);

    const r = run.results.P2 as P2Result;
    expect(r.reps.map((x) => `${x.recovery} ${x.intervalMs}`).sort()).toEqual(['retry-now 60000', 'timer 100', 'timer 1000']);
    for (const x of r.reps) {
      // The write waited through the whole outage...
      expect(x.writeLatencyMs).toBeGreaterThanOrEqual(x.holdMs);
      // ...and finished, as did the hang, only once the restoring reopen had been sent;
      // with a 60 s interval, only block-io-hang-retry can have ended it this soon.
      if (x.recovery === 'retry-now') expect(x.eventMs).toBeLessThan(30_000);
      expect(x.anchoredMs + x.reopenMs).toBeGreaterThan(0);
      expect(x.eventMs + x.reopenMs).toBeGreaterThan(0);
      expect(Number.isFinite(x.guestMs)).toBe(true);
      expect(x.clock.rttMs).toBeGreaterThan(0);
    }

    const f = run.report.figures.find((x) => x.id === 'P2')!;
    expect(run.report.figures.map((x) => x.id)).toEqual(['P2']);
    expect(f.series).toHaveLength(9);
    for (const s of f.series) expect(s.values).toHaveLength(1);
    expect(run.tables.P2).toMatch(/retry now \(QMP\)/);
    expect(run.report.qemu).toMatch(/QEMU emulator version 10\.0\.13.* with \d+ patches/);

    const file = join(dir, 'bench.json');
    writeReport(file, run.report);
    expect(validateReport(JSON.parse(readFileSync(file, 'utf8')))).toMatchObject({ figures: [{ id: 'P2', unit: 'ms' }] });
  });
});
