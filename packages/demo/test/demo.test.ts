import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { testVariant } from '@iohang/core';
import { demoPassed, formatVerdict, runDemo, type DiskVerdict } from '../src/index.ts';

const verdict = (over: Partial<DiskVerdict>): DiskVerdict => ({
  disk: '/dev/vda', ioHang: true, requests: 160, guestErrors: 0, kernelErrors: 0, longestStallMs: 8100, ext4: 'rw', dataVerified: true, events: [], ...over,
});

describe('verdict', () => {
  it('passes only when the I/O hang disk saw no error, stayed rw and verified', () => {
    const plain = verdict({ disk: '/dev/vdb', ioHang: false, guestErrors: 12, kernelErrors: 12, ext4: 'ro', dataVerified: false });
    expect(demoPassed([verdict({}), plain])).toBe(true);
    expect(demoPassed([verdict({ guestErrors: 1 }), plain])).toBe(false);
    expect(demoPassed([verdict({ kernelErrors: 1 }), plain])).toBe(false);
    expect(demoPassed([verdict({ ext4: 'ro' }), plain])).toBe(false);
    expect(demoPassed([verdict({ dataVerified: false }), plain])).toBe(false);
  });

  it('prints one aligned row per disk with events counted', () => {
    const table = formatVerdict([verdict({ events: ['BLOCK_IO_HANG(true)', 'BLOCK_IO_HANG(false)'] }), verdict({ disk: '/dev/vdb', ioHang: false, guestErrors: 3, events: ['BLOCK_IO_ERROR', 'BLOCK_IO_ERROR'] })]);
    const [head, , a, b] = table.split('\n');
    expect(head).toMatch(/^disk\s+I\/O hang\s+requests\s+guest errors/);
    expect(a).toMatch(/^\/dev\/vda\s+on\s+160\s+0\s+0\s+8\.1 s\s+rw\s+yes\s+BLOCK_IO_HANG\(true\) x1, BLOCK_IO_HANG\(false\) x1$/);
    expect(b).toMatch(/^\/dev\/vdb\s+off\s+160\s+3\s+.*BLOCK_IO_ERROR x2$/);
  });
});

describe('the demo on the real thing', () => {
  it('a 4 s outage: the I/O hang disk rides it out, the plain disk sees errors; the timeline shows both', async () => {
    const logs: string[] = [];
    const { verdicts, timeline } = await runDemo({ outageSeconds: 4, timeoutSeconds: 0, backend: 'blkdebug', variant: testVariant(), dir: mkdtempSync(join(tmpdir(), 'demo-')), log: (l) => logs.push(l) });
    console.log(formatVerdict(verdicts));
    const [hang, plain] = verdicts;
    expect(hang).toMatchObject({ ioHang: true, guestErrors: 0, kernelErrors: 0, ext4: 'rw', dataVerified: true });
    expect(hang!.longestStallMs).toBeGreaterThan(3000);
    expect(hang!.events).toEqual(['BLOCK_IO_HANG(true)', 'BLOCK_IO_HANG(false)']);
    expect(plain!.guestErrors).toBeGreaterThan(0);
    expect(plain!.events).toContain('BLOCK_IO_ERROR');
    expect(demoPassed(verdicts)).toBe(true);

    // The timeline lines up host and guest clocks: the events and the stalled or failed
    // requests fall inside the outage (give or take a second for TCG and the agent).
    const { outage, disks } = timeline;
    expect(outage.endMs - outage.startMs).toBeGreaterThanOrEqual(4000);
    const during = (t: number) => t >= outage.startMs - 1000 && t <= outage.endMs + 1000;
    const [hangDisk, plainDisk] = disks;
    // Every write and every fsync is on the timeline.
    expect(hangDisk!.requests.length).toBeGreaterThan(hang!.requests);
    expect(hangDisk!.requests.every((r) => r.ok)).toBe(true);
    const stalled = hangDisk!.requests.filter((r) => r.latMs > 3000);
    expect(stalled.length).toBeGreaterThan(0);
    expect(stalled.filter((r) => !during(r.tMs) || !during(r.tMs + r.latMs)), `outage ${JSON.stringify(outage)}`).toEqual([]);
    const [set, cleared] = hangDisk!.events;
    expect(during(set!.tMs), `outage ${JSON.stringify(outage)}`).toBe(true);
    // The hang ends at the first probe after the storage is back: within one retry
    // interval (the default, 1 s; a tick inside the repair's drained section sends none).
    expect(cleared!.tMs, `outage ${JSON.stringify(outage)}`).toBeGreaterThan(outage.endMs - 1000);
    expect(cleared!.tMs, `outage ${JSON.stringify(outage)}`).toBeLessThanOrEqual(outage.endMs + 1000 + 1000);
    const failed = plainDisk!.requests.filter((r) => !r.ok);
    expect(failed.length).toBe(plain!.guestErrors);
    expect(failed.filter((r) => !during(r.tMs)), `outage ${JSON.stringify(outage)}`).toEqual([]);
  });
});
