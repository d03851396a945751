/**
 * QEMU's own block tests on the unpatched source and on the series (`iohang qemu suites`),
 * the part that fits CI: the block unit tests, the virtio-blk/virtio-scsi qtests, the
 * whole quick group of iotests on raw (it holds the series' own io-hang test) and a subset
 * of the quick group on qcow2. No test may fail with the series that passes without it.
 *
 * Measured on 2 cores (both sides, each): unit 0.2 s, qtest 3.5 s, iotests raw quick 50 s,
 * qcow2 quick 110-120 s -- the whole qcow2 group on both sides would double the budget of
 * about 3-4 minutes. The subset: the quick qcow2 tests that passed and took < 5 s and whose
 * source mentions blkdebug, werror/rerror, drain, iothreads, stop or EIO at least twice --
 * the paths I/O hang touches (about 35 s per side). `npx iohang qemu suites` runs them all.
 * A new failure runs twice more on each side; flaky with the series still fails.
 */
import { describe, expect, it } from 'vitest';
import { formatSuitesReport, runSuites, type SuitesReport } from '@iohang/builder';

const CI_QCOW2_IOTESTS = [
  ...['020', '060', '066', '068', '071', '074', '089', '098', '099', '110', '127', '129', '139', '177', '179', '194', '202', '203', '204'],
  ...['208', '217', '223', '229', '238', '240', '244', '246', '251', '256', '262', '280', '283', '289', '307'],
  ...['export-incoming-iothread', 'iothreads-commit-active', 'iothreads-create', 'iothreads-nbd-export', 'iothreads-resize', 'iothreads-stream'],
  ...['mirror-ready-cancel-error', 'qcow2-internal-snapshots', 'qemu-img-bitmaps', 'qsd-migrate', 'stream-error-on-reset'],
];

/** At least this many passes per side, so a suite that silently ran nothing cannot pass. */
const MIN_PASSED = { unit: 50, qtest: 14, 'iotests-raw': 50, 'iotests-qcow2': 40 } as const;

describe('QEMU suites: the series against the unpatched base', () => {
  let report: SuitesReport;

  it(
    'no test fails with the series that passes on base',
    async () => {
      const started = Date.now();
      report = await runSuites({
        only: ['unit', 'qtest', 'iotests-raw', 'iotests-qcow2'],
        iotests: { qcow2: CI_QCOW2_IOTESTS },
        log: (line) => process.stderr.write(`${line}\n`),
      });
      console.log(`${formatSuitesReport(report)}\n(${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
      for (const s of report.suites) {
        for (const side of ['base', 'series'] as const) {
          expect(s.comparison[side].passed, `${s.suite} on ${side}: too few tests passed; see ${s[side].logFile}`).toBeGreaterThanOrEqual(MIN_PASSED[s.suite]);
        }
      }
      expect(report.emptyRuns, `runs in which no test passed; raw outputs in ${report.logDir}`).toEqual([]);
      // Flaky with the series counts: only a test flaky on base too is left out.
      expect(report.newFailures, `new failures; raw outputs in ${report.logDir}`).toEqual([]);
    },
    // Minutes when both build directories are current; a cold base build adds ~10.
    20 * 60_000,
  );

  it("runs the series' own iotest (io-hang) on raw, and it passes", () => {
    expect(report, 'the comparison did not run').toBeDefined();
    const raw = report.suites.find((s) => s.suite === 'iotests-raw')!;
    expect(raw.series.results['io-hang']).toBe('pass');
  });
});
