import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  benchPlan,
  cpuMs,
  fmt,
  fmtRatio,
  median,
  p1Figure,
  p1Ratios,
  p1RoundValues,
  p2Figure,
  p3Figure,
  p3Pairs,
  p4Figure,
  pairedRatio,
  parseOnly,
  percentile,
  ratio,
  reportJson,
  requestStats,
  summarize,
  tickWait,
  validateReport,
  formatP1,
  formatP2,
  formatP3,
  formatP4,
  type P1Result,
  type P1Variant,
  type P2Result,
  type P3Result,
  type P4Result,
} from '../src/index.ts';

describe('statistics', () => {
  it('percentiles interpolate between the closest ranks (numpy default)', () => {
    const xs = [15, 20, 35, 40, 50];
    expect(percentile(xs, 0.5)).toBe(35);
    expect(percentile(xs, 0.1)).toBeCloseTo(17); // numpy.percentile(xs, 10)
    expect(percentile(xs, 0.9)).toBeCloseTo(46);
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 1)).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(() => percentile([1], 1.5)).toThrow(RangeError);
  });

  it('summarize reports n, percentiles, min, max and mean without changing its input', () => {
    const xs = [5, 1, 4, 2, 3];
    expect(summarize(xs)).toEqual({ n: 5, p10: 1.4, median: 3, p90: 4.6, min: 1, max: 5, mean: 3 });
    expect(xs).toEqual([5, 1, 4, 2, 3]);
    expect(summarize([]).n).toBe(0);
  });

  it('ratios: plain, and paired round by round (the median of the per-round ratios)', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(1, 0)).toBeNaN();
    expect(ratio(Number.NaN, 1)).toBeNaN();
    // Round 2 ran on a slower machine for both: the paired ratio is unaffected.
    const p = pairedRatio([110, 220, 99], [100, 200, 90]);
    expect(p.ratios.map((x) => Number(x.toFixed(3)))).toEqual([1.1, 1.1, 1.1]);
    expect(p.median).toBeCloseTo(1.1);
    expect(pairedRatio([1, 2, 3], [1]).ratios).toHaveLength(1);
  });

  it('formats numbers and ratios', () => {
    expect(fmt(1234.5)).toBe('1235');
    expect(fmt(12.345)).toBe('12.3');
    expect(fmt(0.012345)).toBe('0.0123');
    expect(fmt(7)).toBe('7');
    expect(fmt(Number.NaN)).toBe('-');
    expect(fmtRatio(1.02345)).toBe('1.023x');
  });

  it('requestStats: latencies of one op, IOPS over the run, and no failed request on healthy storage', () => {
    const tl = [
      { op: 'write', t_ms: 0, lat_us: 500, ok: true },
      { op: 'fsync', t_ms: 0.5, lat_us: 100, ok: true },
      { op: 'write', t_ms: 1, lat_us: 1000, ok: true },
    ];
    const s = requestStats(tl, 'write');
    expect(s.latUs).toEqual([500, 1000]);
    expect(s.iops).toBeCloseTo(1000); // 2 requests in 2 ms
    expect(() => requestStats([{ op: 'read', t_ms: 0, lat_us: 1, ok: false }], 'read')).toThrow(/failed/);
  });
});

describe('options', () => {
  it('--only takes figure ids in any case and order, and rejects others', () => {
    expect(parseOnly('p3,P1')).toEqual(['P1', 'P3']);
    expect(() => parseOnly('P5')).toThrow(/P1,P2,P3,P4/);
    expect(() => parseOnly('')).toThrow();
  });

  it('the plan: full sizes by default, small with --quick, --rounds and --hang-seconds override', () => {
    const full = benchPlan({ quick: false });
    expect(full.p1.requests * full.p1.repeats).toBeGreaterThanOrEqual(2000);
    expect(full.p1.rounds).toBeGreaterThanOrEqual(3);
    expect(full.p2.reps).toBeGreaterThanOrEqual(5);
    expect(full.p2.intervalsMs).toEqual([1000, 100]);
    expect(full.p3).toMatchObject({ parked: 128, windowMs: 60_000 });
    expect(full.p4.disks).toBe(32);
    const quick = benchPlan({ quick: true, rounds: 2, hangSeconds: 4 });
    expect(quick.p1.rounds).toBe(2);
    expect(quick.p3.windowMs).toBe(4000);
    expect(quick.p4.disks).toBeLessThan(32);
  });

  it('cpuMs reads this process\'s CPU time from /proc', () => {
    const a = cpuMs(process.pid);
    let x = 0;
    for (let i = 0; i < 3e7; i++) x += i % 7;
    expect(x).toBeGreaterThan(0);
    expect(a).toBeGreaterThan(0);
    expect(cpuMs(process.pid)).toBeGreaterThanOrEqual(a);
  });
});

const run = (variant: P1Variant, op: 'write' | 'read', round: number, repeat: number, lat: number, iops: number) => ({ variant, op, round, repeat, latUs: [lat, lat, lat], iops });
const p1: P1Result = {
  requests: 3,
  repeats: 2,
  rounds: 2,
  bootMs: [1, 1, 1, 1],
  runs: [
    // Round 0; the second write run of the unpatched VM was disturbed (300 µs): the best run counts.
    run('unpatched', 'write', 0, 0, 100, 1000),
    run('unpatched', 'write', 0, 1, 300, 300),
    run('iohang=on', 'write', 0, 0, 110, 900),
    run('iohang=on', 'write', 0, 1, 115, 880),
    run('iohang=off', 'write', 0, 0, 100, 1000),
    run('iohang=off', 'write', 0, 1, 100, 1000),
    run('unpatched-2', 'write', 0, 0, 100, 1000),
    run('unpatched-2', 'write', 0, 1, 100, 1000),
    ...(['unpatched', 'unpatched-2', 'iohang=on', 'iohang=off'] as const).flatMap((v) => [run(v, 'read', 0, 0, 50, 2000), run(v, 'read', 0, 1, 50, 2000)]),
    // Round 1: a slower machine for everyone.
    run('unpatched', 'write', 1, 0, 200, 500),
    run('unpatched', 'write', 1, 1, 200, 500),
    run('iohang=on', 'write', 1, 0, 220, 450),
    run('iohang=on', 'write', 1, 1, 230, 440),
    run('iohang=off', 'write', 1, 0, 200, 500),
    run('iohang=off', 'write', 1, 1, 210, 490),
    run('unpatched-2', 'write', 1, 0, 200, 500),
    run('unpatched-2', 'write', 1, 1, 200, 500),
    ...(['unpatched', 'unpatched-2', 'iohang=on', 'iohang=off'] as const).flatMap((v) => [run(v, 'read', 1, 0, 60, 1500), run(v, 'read', 1, 1, 60, 1500)]),
  ],
};
const clock = { offsetMs: 5, rttMs: 60 };
const p2: P2Result = {
  holdMs: 3000,
  reps: [
    { intervalMs: 1000, recovery: 'timer', rep: 0, holdMs: 3100, guestMs: 510, eventMs: 500, anchoredMs: 502, tickWaitMs: 500, writeLatencyMs: 3700, reopenMs: 2, clock },
    { intervalMs: 100, recovery: 'timer', rep: 0, holdMs: 3050, guestMs: 40, eventMs: 50, anchoredMs: 52, tickWaitMs: 45, writeLatencyMs: 3200, reopenMs: 2, clock },
    { intervalMs: 60_000, recovery: 'retry-now', rep: 0, holdMs: 3000, guestMs: 9, eventMs: 4, anchoredMs: 6, tickWaitMs: 3, writeLatencyMs: 3010, reopenMs: 2, clock },
  ],
};
const p3: P3Result = {
  parked: 128,
  windowMs: 60_000,
  windows: [
    { kind: 'idle', round: 0, cpuMsPerS: 20, windowMs: 60_000 },
    { kind: 'hung', intervalMs: 1000, round: 0, cpuMsPerS: 21, windowMs: 60_000, parkedBefore: 128, parkedAfter: 128, writesOk: 128 },
    { kind: 'idle', round: 0, cpuMsPerS: 19, windowMs: 60_000 },
    { kind: 'hung', intervalMs: 100, round: 0, cpuMsPerS: 29, windowMs: 60_000, parkedBefore: 128, parkedAfter: 128, writesOk: 128 },
  ],
};
const mem = { rss: 300_000, own: 100_000 };
const p4: P4Result = {
  disks: 32,
  guestDisks: 32,
  holdMs: 3000,
  writerFailures: [],
  reps: [{ rep: 0, allHungMs: 150, firstRecoveredMs: 400, allRecoveredMs: 420, hungDisks: 32, parked: 32, memBefore: mem, memDuring: mem, memAfter: mem }],
};

describe('figures and the JSON report', () => {
  const report = () => ({ date: '2026-11-22T00:00:00.000Z', host: 'test', qemu: 'QEMU emulator version 10.0.13 with 11 patches', figures: [p1Figure(p1), p2Figure(p2), p3Figure(p3), p4Figure(p4)] });

  it('P1: one value per round (the best of the VM\'s runs), ratios pair round i of patched with round i of unpatched', () => {
    expect(p1RoundValues(p1, 'unpatched', 'write')).toEqual({ latencyUs: [100, 200], iops: [1000, 500] });
    expect(p1Ratios(p1, 'iohang=on', 'write').latency).toBeCloseTo(1.1);
    expect(p1Ratios(p1, 'iohang=on', 'write').latencyPerRound.map((x) => Number(x.toFixed(3)))).toEqual([1.1, 1.1]);
    expect(p1Ratios(p1, 'iohang=on', 'write').iops).toBeCloseTo(0.9);
    expect(p1Ratios(p1, 'iohang=off', 'read').latency).toBe(1);
    const f = p1Figure(p1);
    expect(f.series.map((s) => s.label)).toEqual([
      'write: unpatched', 'write: unpatched-2', 'write: iohang=on', 'write: iohang=off',
      'read: unpatched', 'read: unpatched-2', 'read: iohang=on', 'read: iohang=off',
    ]);
    expect(f.series[2]!.values).toEqual([110, 220]);
    expect(f.summary).toMatch(/: writes 1\.100x, reads 1\.000x; identical paths in one VM measure iohang=on\/iohang=off writes 1\.100x, reads 1\.000x and unpatched 2nd disk\/1st disk writes 1\.000x, reads 1\.000x\.$/);
    expect(formatP1(p1)).toMatch(/TCG/);
  });

  it('P2: one group per timer interval, then retry-now, in the table, the plot and the summary', () => {
    const f = p2Figure(p2);
    expect(f.series.map((s) => s.label)).toEqual([
      '1000 ms: guest write done', '1000 ms: guest, by offset', '1000 ms: event set=false',
      '100 ms: guest write done', '100 ms: guest, by offset', '100 ms: event set=false',
      'retry now: guest write done', 'retry now: guest, by offset', 'retry now: event set=false',
    ]);
    expect(f.series.find((s) => s.label === '100 ms: guest write done')!.values).toEqual([52]);
    expect(f.summary).toMatch(/6 ms \(max 6\) with block-io-hang-retry\.$/);
    expect(formatP2(p2)).toMatch(/retry now \(QMP\)\s+1\s+6 \(6\.\.6\)/);
  });

  it('P3: each hung window against the idle window before it', () => {
    expect(p3Pairs(p3)).toEqual([
      { intervalMs: 1000, idle: 20, hung: 21, diff: 1 },
      { intervalMs: 100, idle: 19, hung: 29, diff: 10 },
    ]);
    expect(p3Figure(p3).series.map((s) => s.label)).toEqual(['idle', 'hung, 1000 ms interval', 'hung - idle, 1000 ms', 'hung, 100 ms interval', 'hung - idle, 100 ms']);
    expect(formatP3(p3)).toMatch(/hung, retry every 100 ms\s+128/);
    expect(formatP4(p4)).toMatch(/restore -> all 32 BLOCK_IO_HANG\(false\), ms\s+420/);
  });

  it('the report matches the schema the docs site renders, and the written JSON reads back the same', () => {
    const r = validateReport(report());
    const json = JSON.parse(reportJson(r)) as unknown;
    expect(validateReport(json)).toEqual(r);
    expect(Object.keys(json as object)).toEqual(['date', 'host', 'qemu', 'figures']);
    expect(Object.keys((json as { figures: object[] }).figures[0]!)).toEqual(['id', 'title', 'description', 'unit', 'series', 'summary']);
    // Series labels fit the docs plot's label column (28 characters).
    for (const f of r.figures) for (const s of f.series) expect(s.label.length, s.label).toBeLessThanOrEqual(28);
  });

  it('the schema rejects what the docs site would reject, naming the field', () => {
    const good = report();
    expect(() => validateReport({ ...good, date: 1 })).toThrow(/date/);
    expect(() => validateReport({ ...good, figures: [{ ...good.figures[0]!, series: [] }] })).toThrow(/series/);
    expect(() => validateReport({ ...good, figures: [{ ...good.figures[0]!, series: [{ label: 'a', values: [1, Number.NaN] }] }] })).toThrow(/values/);
    expect(() => validateReport({ ...good, figures: [{ ...good.figures[0]!, id: 'P 1' }] })).toThrow(/id/);
    expect(() => validateReport({ ...good, figures: [good.figures[0]!, good.figures[0]!] })).toThrow(/repeats P1/);
    expect(() => validateReport({ ...good, extra: 1 })).toThrow(/extra/);
  });

  const fixture = fileURLToPath(new URL('../../../docs/test/fixtures/bench.json', import.meta.url));
  it.skipIf(!existsSync(fixture))('accepts the docs site\'s own example of the schema', () => {
    expect(() => validateReport(JSON.parse(readFileSync(fixture, 'utf8')))).not.toThrow();
  });
});

describe('the retry timer', () => {
  it('is due every interval after the hang began: tickWait is the time to the next tick', () => {
    expect(tickWait(3200, 1000)).toBe(800);
    expect(tickWait(3000, 1000)).toBe(0);
    expect(tickWait(150, 100)).toBe(50);
    // Before the first tick (it comes one interval after the first park).
    expect(tickWait(0, 1000)).toBe(1000);
  });
});
