import { describe, expect, it } from 'vitest';
import { CRASH_REPORT, SANITIZER_REPORT } from '../src/index.ts';

describe('sanitizer reports in QEMU output', () => {
  it('spots the first line of ASan, LSan and UBSan reports', () => {
    expect(SANITIZER_REPORT.test('==12345==ERROR: AddressSanitizer: heap-use-after-free on address 0x6020')).toBe(true);
    expect(SANITIZER_REPORT.test('==77==ERROR: LeakSanitizer: detected memory leaks')).toBe(true);
    expect(SANITIZER_REPORT.test('../block/block-backend.c:1911:5: runtime error: signed integer overflow')).toBe(true);
  });

  it('ignores ordinary QEMU output', () => {
    expect(SANITIZER_REPORT.test('qemu-system-x86_64: terminating on signal 15 from pid 1')).toBe(false);
    expect(SANITIZER_REPORT.test('qemu-system-x86_64: -drive x: error: runtime')).toBe(false);
  });
});

describe('assertion lines in QEMU output', () => {
  it("spots assert()'s and glib's assertion lines", () => {
    expect(CRASH_REPORT.test("qemu-system-x86_64: ../block/accounting.c:241: block_account_one_io: Assertion `cookie->type < BLOCK_MAX_IOTYPE' failed.")).toBe(true);
    expect(CRASH_REPORT.test('ERROR:../block/block-backend.c:1520:blk_io_hang_wake: assertion failed: (req->parked)')).toBe(true);
    expect(CRASH_REPORT.test('ERROR:../hw/nvme/ctrl.c:99:nvme_x: code should not be reached')).toBe(true);
  });

  it('ignores ordinary error messages', () => {
    expect(CRASH_REPORT.test("qemu-system-x86_64: -device nvme-ns,iohang-timeout=x: Parameter 'iohang-timeout' expects integer")).toBe(false);
  });
});
