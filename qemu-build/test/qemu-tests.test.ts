/**
 * QEMU's own tests for the series, built from the patched tree: the I/O hang unit test,
 * qtest and iotest that the series adds, and the block unit tests it must not break -- on
 * the default build and on the ASan/UBSan build, where a sanitizer report fails the test.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IOTESTS, QEMU_QTESTS, QEMU_UNIT_TESTS, runQemuTests, type QemuTestResult } from '@iohang/builder';

const NAMES = [...QEMU_UNIT_TESTS.map((t) => `unit/${t}`), ...QEMU_QTESTS.map((t) => `qtest/${t}`), ...QEMU_IOTESTS.map((t) => `iotests/${t}`)];

describe.each(['default', 'asan'] as const)("QEMU's tests on the patched tree (%s build)", (variant) => {
  let results: QemuTestResult[];
  beforeAll(async () => {
    results = await runQemuTests({ variant, log: () => {} });
  });

  it.each(NAMES)('%s passes', (name) => {
    const r = results.find((x) => x.name === name);
    expect(r, `${name} did not run`).toBeDefined();
    if (!r!.passed) expect.fail(`${name} failed:\n${r!.output.split('\n').slice(-40).join('\n')}`);
  });
});
