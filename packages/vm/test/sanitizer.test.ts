import { describe, expect, it } from 'vitest';
import { SANITIZER_REPORT } from '../src/index.ts';

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
