import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSeriesFile, patchSubject, readSeries } from '../src/index.ts';

describe('parseSeriesFile', () => {
  it('keeps order and skips comments and blank lines', () => {
    expect(parseSeriesFile('# the series\n0001-a.patch\n\n0002-b.patch # trailing\n')).toEqual(['0001-a.patch', '0002-b.patch']);
    expect(parseSeriesFile('')).toEqual([]);
  });

  it('rejects quilt options, paths and duplicates with the line number', () => {
    expect(() => parseSeriesFile('0001-a.patch -p1\n')).toThrow(/series:1: .*one patch file name/);
    expect(() => parseSeriesFile('\nsub/0001-a.patch\n')).toThrow(/series:2: .*names a path/);
    expect(() => parseSeriesFile('a.patch\na.patch\n')).toThrow(/series:2: .*listed twice/);
  });
});

describe('patchSubject', () => {
  it('drops the [PATCH n/m] prefix and unfolds long subjects', () => {
    const text = 'From 0000 Mon Sep 17 00:00:00 2001\nFrom: A <a@b>\nSubject: [PATCH 03/10] block-backend: park requests that\n failed with EIO\n\nbody\n';
    expect(patchSubject(text)).toBe('block-backend: park requests that failed with EIO');
    expect(patchSubject('no headers here')).toBeUndefined();
  });
});

describe('readSeries', () => {
  it('names a listed patch that is missing and a file that is not a patch', () => {
    const dir = mkdtempSync(join(tmpdir(), 'series-'));
    writeFileSync(join(dir, 'series'), '0001-a.patch\n');
    expect(() => readSeries(dir)).toThrow(/lists 0001-a\.patch, but .* does not exist/);
    writeFileSync(join(dir, '0001-a.patch'), 'just text\n');
    expect(() => readSeries(dir)).toThrow(/not a git format-patch file/);
    writeFileSync(join(dir, '0001-a.patch'), 'Subject: [PATCH] x: y\n\n---\n');
    const [p] = readSeries(dir);
    expect(p).toMatchObject({ file: '0001-a.patch', subject: 'x: y' });
    expect(p!.sha256).toMatch(/^[0-9a-f]{64}$/);
  });
});

describe('patch identity', () => {
  it('ignores renumbering and message changes, but not a changed diff', () => {
    const dir = mkdtempSync(join(tmpdir(), 'series-'));
    const patch = (n: string, msg: string, line: string) => `From 0 Mon Sep 17 00:00:00 2001\nSubject: [PATCH ${n}] x: y\n\n${msg}\n---\ndiff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+${line}\n`;
    writeFileSync(join(dir, 'series'), 'p.patch\n');
    const read = () => readSeries(dir)[0]!;
    writeFileSync(join(dir, 'p.patch'), patch('3/9', 'why', 'b'));
    const first = read();
    writeFileSync(join(dir, 'p.patch'), patch('3/10', 'why, reworded', 'b'));
    const renumbered = read();
    expect(renumbered.diffSha256).toBe(first.diffSha256);
    expect(renumbered.sha256).not.toBe(first.sha256);
    writeFileSync(join(dir, 'p.patch'), patch('3/10', 'why', 'c'));
    expect(read().diffSha256).not.toBe(first.diffSha256);
  });
});
