import { describe, expect, it } from 'vitest';
import { blkdebugRules, IohangError } from '../src/index.ts';

describe('blkdebugRules', () => {
  it('keeps failing the chosen operations until the filter is removed', () => {
    expect(blkdebugRules({ ops: ['write', 'read'] })).toEqual({
      'inject-error': [
        { event: 'pwritev', iotype: 'write', errno: 5 },
        { event: 'read_aio', iotype: 'read', errno: 5 },
      ],
    });
    expect(blkdebugRules({ ops: ['flush'], errno: 'ENOSPC' })['inject-error'][0]).toEqual({ event: 'flush_to_disk', iotype: 'flush', errno: 28 });
  });

  it('fails exactly N requests with one once-rule per state', () => {
    expect(blkdebugRules({ ops: ['flush'], failTimes: 2 })).toEqual({
      'inject-error': [
        { event: 'flush_to_disk', iotype: 'flush', errno: 5, state: 1, once: true },
        { event: 'flush_to_disk', iotype: 'flush', errno: 5, state: 2, once: true },
      ],
      'set-state': [
        { event: 'flush_to_disk', state: 1, new_state: 2 },
        { event: 'flush_to_disk', state: 2, new_state: 3 },
      ],
    });
  });

  it('says why it cannot do what was asked', () => {
    const discard = (() => {
      try {
        blkdebugRules({ ops: ['discard'] });
      } catch (e) {
        return e as IohangError;
      }
    })();
    expect(discard).toBeInstanceOf(IohangError);
    expect(discard!.message).toMatch(/cannot fail discards/);
    expect(discard!.fix).toMatch(/nbdkit/);
    expect(() => blkdebugRules({ ops: [] })).toThrow(/at least one operation/);
    expect(() => blkdebugRules({ ops: ['read', 'write'], failTimes: 2 })).toThrow(/exactly one operation/);
    expect(() => blkdebugRules({ ops: ['read'], failTimes: 0 })).toThrow(/whole number >= 1/);
  });
});
