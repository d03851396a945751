/**
 * QEMU's own tests for the series, built from the patched tree: the I/O hang unit test
 * and iotest that the series adds, and the block unit tests it must not break.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { QEMU_IOTESTS, QEMU_UNIT_TESTS, runQemuTests, type QemuTestResult } from '@iohang/builder';

describe("QEMU's tests on the patched tree", () => {
  let results: QemuTestResult[];
  beforeAll(async () => {
    results = await runQemuTests({ log: () => {} });
  });

  it.each([...QEMU_UNIT_TESTS.map((t) => `unit/${t}`), ...QEMU_IOTESTS.map((t) => `iotests/${t}`)])('%s passes', (name) => {
    const r = results.find((x) => x.name === name);
    expect(r, `${name} did not run`).toBeDefined();
    if (!r!.passed) expect.fail(`${name} failed:\n${r!.output.split('\n').slice(-40).join('\n')}`);
  });
});
