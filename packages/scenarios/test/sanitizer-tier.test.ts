/**
 * The sanitizer tier names scenarios by their vitest names: every entry must name a test
 * that exists, so renaming a scenario cannot silently drop it from the ASan/UBSan run.
 */
import { describe, expect, it } from 'vitest';
import { SANITIZER_TIER, missingEntries, namePattern, selectTests, type ListedTest } from '../sanitizer-tier.ts';
import { listScenarios } from '../scripts/test-asan.ts';

const tests: ListedTest[] = [
  { name: 'stop (main loop) > quit returns', file: 'a.test.ts' },
  { name: 'stop (main loop) > cont (x) works', file: 'a.test.ts' },
  { name: 'stop (main loop) extra > other', file: 'b.test.ts' },
];

describe('sanitizer tier selection', () => {
  it('an entry names one test, or every test of a describe block, never a longer block name', () => {
    expect(selectTests(['stop (main loop) > quit returns'], tests).map((t) => t.name)).toEqual(['stop (main loop) > quit returns']);
    expect(selectTests(['stop (main loop)'], tests).map((t) => t.file)).toEqual(['a.test.ts', 'a.test.ts']);
  });

  it('an entry that names no test is reported, so a rename fails the tier', () => {
    expect(missingEntries(['stop (main loop) > quit returns at once'], tests)).toEqual(['stop (main loop) > quit returns at once']);
  });

  it("the -t pattern matches exactly the selected tests' full names, with regex characters taken literally", () => {
    const re = new RegExp(namePattern(selectTests(['stop (main loop)'], tests)));
    expect(re.test('stop (main loop) quit returns')).toBe(true);
    expect(re.test('stop (main loop) cont (x) works')).toBe(true);
    expect(re.test('stop (main loop) extra other')).toBe(false);
    expect(re.test('stop Xmain loopX quit returns')).toBe(false);
  });

  it('every entry of the real tier names a scenario that exists', () => {
    expect(missingEntries(SANITIZER_TIER, listScenarios())).toEqual([]);
  });
});
