import { describe, expect, it } from 'vitest';
import { buildGuest } from '../src/index.ts';

// The guest built from Debian packages; @iohang/vm's guest-boot test boots it.
describe('guest', () => {
  it('comes from the cache when nothing changed', async () => {
    const guest = await buildGuest({ log: (line) => console.log(`[guest] ${line}`) });
    const started = Date.now();
    const again = await buildGuest();
    const ms = Date.now() - started;
    console.log(`cached buildGuest: ${ms} ms`);
    expect(again).toEqual(guest);
    expect(ms).toBeLessThan(1000);
  }, 600_000);
});
