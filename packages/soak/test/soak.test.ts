import { describe, expect, it } from 'vitest';
import { testVariant } from '@iohang/core';
import { formatSoak, runSoak, soakPassed } from '../src/index.ts';

describe('soak (the short CI run; `npx iohang soak --cycles 1000` is the long one)', () => {
  it('10 hang/recover cycles under continuous verified I/O: nothing lost, one event per transition, memory flat', async () => {
    const r = await runSoak({ cycles: 10, outageMs: 400, gapMs: 200, retryIntervalMs: 100, iothread: true, variant: testVariant(), log: console.log });
    console.log(formatSoak(r));
    expect(r.badRounds).toEqual([]);
    expect(r.rounds).toBeGreaterThan(1);
    expect(r.blocksVerified).toBeGreaterThan(0);
    expect(r.eventProblems).toEqual([]);
    expect(r.qemuEnd).toEqual([]);
    expect(r.events).toEqual({ hangSet: 10, hangCleared: 10, timeouts: 0, ioErrors: 0 });
    // Recovery by timer: within about one retry interval of the storage coming back.
    expect(Math.max(...r.recoveryMs)).toBeLessThan(2000);
    expect(soakPassed(r)).toBe(true);
  });
});

describe('soak verdict', () => {
  const good = {
    cycles: 2, durationMs: 1000, rounds: 3, blocksVerified: 768, badRounds: [],
    events: { hangSet: 2, hangCleared: 2, timeouts: 0, ioErrors: 0 }, eventProblems: [],
    rssKiB: { first: 300_000, last: 301_000, max: 301_500 }, ownKiB: { first: 100_000, last: 101_000, max: 101_500 }, recoveryMs: [90, 110], qemuEnd: [],
  };
  it('fails on a corrupt round, an event out of order, an error event, a growing RSS or a QEMU that did not end well', () => {
    expect(soakPassed(good)).toBe(true);
    expect(soakPassed({ ...good, badRounds: [{ gen: 2, write: 0, verify: 1, detail: '' }] })).toBe(false);
    expect(soakPassed({ ...good, eventProblems: ['cycle 2: ...'] })).toBe(false);
    expect(soakPassed({ ...good, events: { ...good.events, ioErrors: 1 } })).toBe(false);
    expect(soakPassed({ ...good, ownKiB: { first: 100_000, last: 140_000, max: 140_000 } })).toBe(false);
    expect(soakPassed({ ...good, qemuEnd: ['sanitizer: ==1==ERROR: LeakSanitizer: detected memory leaks'] })).toBe(false);
    expect(formatSoak(good)).toMatch(/lost or corrupt\s+0\n/);
  });
});
