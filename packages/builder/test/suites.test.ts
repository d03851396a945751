import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compareResults, emptyRuns, emptyRunsOf, formatSuitesReport, newFailuresOf, rerunNewFailures, suitesPassed, iotestsCheckFinished, parseIotestsCheck, parseSuiteList, parseTap, selectQosPaths, suiteEnv, type SideContext, type SuiteReport, type SuiteSpec } from '../src/index.ts';

// Fragments of real runs (iohang qemu suites, QEMU 10.0.13).
const TAP_DRAIN = `# random seed: R02S285a15d1ffa74584de0cf880fe7bbe6c
1..30
# Start of bdrv-drain tests
ok 1 /bdrv-drain/nested
ok 2 /bdrv-drain/set_aio_context
# Start of driver-cb tests
ok 3 /bdrv-drain/driver-cb/drain_all
ok 4 /bdrv-drain/driver-cb/drain
# End of driver-cb tests
`;

/** A glib test that failed one case, skipped one and then crashed. */
const TAP_BAD = `1..4
ok 1 /block-backend/drain_aio_error
not ok 2 /block-backend/drain_all_aio_error
ok 3 /block-backend/other # SKIP not supported here
Bail out! ERROR:../tests/unit/test-block-backend.c:120:test: assertion failed
`;

/** check's lines: "..." ends in \r and is overwritten by the result; a failure prints its diff. */
const CHECK_RAW =
  '158                            not run    [04:37:10] [04:37:10]   ...                  not suitable for this image format: raw\n' +
  '159                            ...        [04:37:10]              ...    (last: 8.0s)  \r159                            pass       [04:37:10] [04:37:20]   10.1s  (last: 8.0s)  \n' +
  '160                            ...        [04:37:20]              ...                  \r160                            fail       [04:37:20] [04:37:20]   0.6s                 output mismatch (see /root/.cache/iohang/build/10.0.13+ds-0+deb13u1/default/tests/qemu-iotests/scratch/raw-file-160/160.out.bad)\n' +
  '--- /root/.cache/iohang/src/10.0.13+ds-0+deb13u1/tests/qemu-iotests/160.out\n' +
  '+++ /root/.cache/iohang/build/10.0.13+ds-0+deb13u1/default/tests/qemu-iotests/scratch/raw-file-160/160.out.bad\n' +
  '@@ -46,6 +46,7 @@\n No errors were found on the image.\n\n == Compare the images with qemu-img compare ==\n-Images are identical.\n+Warning: Image size mismatch!\n+Content mismatch at offset 0!\n\n *** done\n' +
  'io-hang                        ...        [04:37:40]              ...    (last: 0.4s)  \rio-hang                        pass       [04:37:40] [04:37:40]   0.6s   (last: 0.4s)  \n' +
  'Not run: 158\nFailures: 160\nFailed 1 of 3 iotests\n';

describe('parseTap', () => {
  it("reads glib's TAP, with a prefix per test binary", () => {
    expect(parseTap(TAP_DRAIN, 'test-bdrv-drain ')).toEqual({
      'test-bdrv-drain /bdrv-drain/nested': 'pass',
      'test-bdrv-drain /bdrv-drain/set_aio_context': 'pass',
      'test-bdrv-drain /bdrv-drain/driver-cb/drain_all': 'pass',
      'test-bdrv-drain /bdrv-drain/driver-cb/drain': 'pass',
    });
  });

  it('counts not ok as failed, SKIP as skipped and Bail out! as a failure', () => {
    expect(parseTap(TAP_BAD)).toEqual({
      '/block-backend/drain_aio_error': 'pass',
      '/block-backend/drain_all_aio_error': 'fail',
      '/block-backend/other': 'skip',
      '(bail out)': 'fail',
    });
  });
});

describe('parseIotestsCheck', () => {
  it('takes the result that overwrote the "..." line, and ignores the diff', () => {
    expect(parseIotestsCheck(CHECK_RAW)).toEqual({ '158': 'skip', '159': 'pass', '160': 'fail', 'io-hang': 'pass' });
  });

  it('knows whether check got to its summary', () => {
    expect(iotestsCheckFinished(CHECK_RAW)).toBe(true);
    expect(iotestsCheckFinished('Passed all 62 iotests\n')).toBe(true);
    expect(iotestsCheckFinished(CHECK_RAW.split('Not run:')[0]!)).toBe(false);
  });
});

describe('compareResults', () => {
  it('a new failure fails with the series and not on base; failing on both sides is the environment', () => {
    const base = parseIotestsCheck(CHECK_RAW.replace(/io-hang.*\n/, ''));
    const series = { ...parseIotestsCheck(CHECK_RAW), '159': 'fail' as const };
    const c = compareResults(base, series);
    expect(c.newFailures).toEqual([{ test: '159', base: 'pass', series: 'fail' }]);
    expect(c.failBoth).toEqual(['160']);
    expect(c.onlySeries).toEqual(['io-hang']);
    expect(c.base).toEqual({ passed: 1, failed: 1, skipped: 1 });
    expect(c.series).toEqual({ passed: 1, failed: 2, skipped: 1 });
  });

  it('counts a test that passed on base and did not report with the series, and one only the series has that fails', () => {
    const c = compareResults({ a: 'pass', b: 'pass', s: 'skip' }, { a: 'pass', new: 'fail', s: 'fail' });
    expect(c.newFailures).toEqual([
      { test: 'b', base: 'pass', series: 'absent' },
      { test: 'new', base: 'absent', series: 'fail' },
      { test: 's', base: 'skip', series: 'fail' },
    ]);
  });

  it('a test skipped with the series that passes on base is a new failure', () => {
    const c = compareResults({ a: 'pass', b: 'skip' }, { a: 'skip', b: 'skip' });
    expect(c.newFailures).toEqual([{ test: 'a', base: 'pass', series: 'skip' }]);
  });

  it('a unit binary that reports fewer cases with the series than on base fails: the missing cases are new failures', () => {
    const base = parseTap(TAP_DRAIN, 'test-bdrv-drain ');
    const series = parseTap(TAP_DRAIN.split('# Start of driver-cb')[0]!, 'test-bdrv-drain ');
    expect(compareResults(base, series).newFailures.map((f) => [f.test, f.series])).toEqual([
      ['test-bdrv-drain /bdrv-drain/driver-cb/drain', 'absent'],
      ['test-bdrv-drain /bdrv-drain/driver-cb/drain_all', 'absent'],
    ]);
  });

  it('a test that fails on base only is listed as fixed, not as a failure', () => {
    const c = compareResults(parseTap(TAP_BAD), parseTap(TAP_BAD.replace('not ok 2', 'ok 2')));
    expect(c.newFailures).toEqual([]);
    expect(c.fixed).toEqual(['/block-backend/drain_all_aio_error']);
    expect(c.failBoth).toEqual(['(bail out)']);
  });
});

describe('emptyRuns', () => {
  it('a suite, or a unit binary, in which nothing passed proves nothing and is reported', () => {
    const results = { ...parseTap(TAP_DRAIN, 'test-bdrv-drain '), 'test-block-backend /a': 'skip' as const, 'test-block-backend /b': 'skip' as const };
    expect(emptyRuns('unit', results)).toEqual(['test-block-backend: no test passed (2 reported, 2 skipped)']);
    expect(emptyRuns('iotests-raw', { '040': 'skip' })).toEqual(['iotests-raw: no test passed (1 reported, 1 skipped)']);
    expect(emptyRuns('qtest', {})).toEqual(['qtest: no test passed (0 reported, 0 skipped)']);
    expect(emptyRuns('iotests-raw', { '040': 'skip', '041': 'pass' })).toEqual([]);
  });

  it('fails the run even when both sides are empty alike', () => {
    const side = { results: { '040': 'skip' as const }, seconds: 1, notes: [], logFile: 'x' };
    const empty = emptyRunsOf([{ suite: 'iotests-raw', base: side, series: side }]);
    expect(empty).toEqual(['base: iotests-raw: no test passed (1 reported, 1 skipped)', 'series: iotests-raw: no test passed (1 reported, 1 skipped)']);
    expect(suitesPassed({ newFailures: [], emptyRuns: empty })).toBe(false);
  });
});

describe('suite helpers', () => {
  it('selects the virtio-blk and virtio-scsi paths of qos-test -l', () => {
    const listing = [
      '# random seed: R02S7b90c66174627f9365d47b5b52a87362',
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/e1000e/e1000e-tests/init',
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-blk-pci/virtio-blk/virtio-blk-tests/indirect',
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-scsi-pci/pci-device/pci-device-tests/nop',
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/vhost-user-blk-pci/vhost-user-blk/vhost-user-blk-tests/basic',
    ].join('\n');
    expect(selectQosPaths(listing)).toEqual([
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-blk-pci/virtio-blk/virtio-blk-tests/indirect',
      '/x86_64/pc/i440FX-pcihost/pci-bus-pc/pci-bus/virtio-scsi-pci/pci-device/pci-device-tests/nop',
    ]);
  });

  it('gives both sides the same environment but for the build directory', () => {
    const from = { PATH: '/usr/bin', QTEST_LOG: '1', QEMU_IMG_PROG: '/x', HOME: '/root' };
    const a = suiteEnv('/b/base', '/b/base/iohang-wrap/qemu-system-x86_64', from);
    const b = suiteEnv('/b/default', '/b/default/iohang-wrap/qemu-system-x86_64', from);
    expect(a.QTEST_LOG).toBeUndefined();
    expect(a.QEMU_IMG_PROG).toBeUndefined();
    expect(a.QTEST_QEMU_BINARY).toBe('/b/base/iohang-wrap/qemu-system-x86_64');
    expect(JSON.stringify(a).replaceAll('/b/base', '/b/X')).toBe(JSON.stringify(b).replaceAll('/b/default', '/b/X'));
  });

  it('parses --only', () => {
    expect(parseSuiteList('unit, iotests-raw')).toEqual(['unit', 'iotests-raw']);
    expect(() => parseSuiteList('unit,iotests')).toThrow(/unknown suite iotests/);
  });

  it('prints counts per suite and side, then the new failures', () => {
    const base = parseIotestsCheck(CHECK_RAW.replace(/io-hang.*\n/, ''));
    const series = { ...parseIotestsCheck(CHECK_RAW), '159': 'fail' as const };
    const s: SuiteReport = {
      suite: 'iotests-raw',
      base: { results: base, seconds: 49.7, notes: [], logFile: 'b.log' },
      series: { results: series, seconds: 52.1, notes: [], logFile: 's.log' },
      comparison: compareResults(base, series),
      reruns: [],
    };
    const text = formatSuitesReport({ suites: [s], newFailures: newFailuresOf([s]), emptyRuns: [] });
    expect(text.split('\n')).toEqual([
      'suite        side    passed  failed  skipped  time    new failures  of them flaky',
      '-----------  ------  ------  ------  -------  ------  ------------  -------------',
      'iotests-raw  base    1       1       1        49.7 s',
      '             series  1       2       1        52.1 s  1             0',
      '',
      'new failures (fail with the series, not on base): 1',
      '  iotests-raw 159: fails with the series; passes on base',
      'iotests-raw:',
      '  fail on both sides: 160',
      '  only with the series: io-hang (pass)',
    ]);
  });
});

describe('rerunNewFailures', () => {
  /** A suite whose tests pass or fail by side and run number, as scripted. */
  function scripted(script: Record<string, Record<'base' | 'series', ('pass' | 'fail')[]>>) {
    const asked: [string, string[] | undefined][] = [];
    const runs = { base: 0, series: 0 };
    const spec: SuiteSpec = {
      name: 'iotests-qcow2',
      targets: [],
      run: async (ctx, _log, only) => {
        asked.push([ctx.side, only]);
        const n = ++runs[ctx.side];
        return { results: Object.fromEntries((only ?? []).map((t) => [t, script[t]![ctx.side][n]!])), seconds: 1, notes: [] };
      },
    };
    return { spec, asked };
  }
  const ctx = { base: { side: 'base' }, series: { side: 'series' } } as Record<'base' | 'series', SideContext>;
  const logDir = () => mkdtempSync(join(tmpdir(), 'retry-'));

  it('runs the new failures again the same number of times on each side; a crashed binary is not run again', async () => {
    const { spec, asked } = scripted({ '040': { base: ['pass', 'pass', 'pass'], series: ['fail', 'fail', 'fail'] }, '041': { base: ['pass', 'pass', 'pass'], series: ['fail', 'pass', 'fail'] } });
    const c = compareResults({ '040': 'pass', '041': 'pass', '042': 'fail', 'x (process)': 'pass' }, { '040': 'fail', '041': 'fail', '042': 'fail', 'x (process)': 'fail' });
    const reruns = await rerunNewFailures(spec, ctx, c, logDir(), () => {});
    expect(asked).toEqual([
      ['base', ['040', '041']],
      ['series', ['040', '041']],
      ['base', ['040', '041']],
      ['series', ['040', '041']],
    ]);
    expect(reruns).toEqual([
      { test: '040', base: ['pass', 'pass', 'pass'], series: ['fail', 'fail', 'fail'] },
      { test: '041', base: ['pass', 'pass', 'pass'], series: ['fail', 'pass', 'fail'] },
    ]);
  });

  it('a test flaky with the series only fails the run and shows as flaky; flaky on base too, it is the environment', async () => {
    const { spec } = scripted({
      onlySeries: { base: ['pass', 'pass', 'pass'], series: ['fail', 'pass', 'pass'] },
      both: { base: ['pass', 'fail', 'pass'], series: ['fail', 'pass', 'pass'] },
    });
    const comparison = compareResults({ onlySeries: 'pass', both: 'pass' }, { onlySeries: 'fail', both: 'fail' });
    const reruns = await rerunNewFailures(spec, ctx, comparison, logDir(), () => {});
    const side = { results: {}, seconds: 1, notes: [], logFile: 'x' };
    const s: SuiteReport = { suite: 'iotests-qcow2', base: side, series: side, comparison, reruns };
    const newFailures = newFailuresOf([s]);
    expect(newFailures).toEqual([{ test: 'onlySeries', base: 'pass', series: 'fail', suite: 'iotests-qcow2', flaky: true }]);
    expect(suitesPassed({ newFailures, emptyRuns: [] })).toBe(false);
    const text = formatSuitesReport({ suites: [s], newFailures, emptyRuns: [] }).split('\n');
    expect(text[3]).toMatch(/^ +series .* 1 +1$/);
    expect(text).toContain('  iotests-qcow2 onlySeries: flaky with the series; passes on base (series: 2 of 3 runs passed; base: 3 of 3 runs passed)');
    expect(text).toContain('  flaky on both sides (not counted): both (series: 2 of 3 runs passed; base: 2 of 3 runs passed)');
  });
});
