import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkFiles, parseLock, upstreamVersion, type Lock } from '../src/index.ts';
import { createHash } from 'node:crypto';
import { IohangError } from '@iohang/core';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const good: Lock = {
  package: 'qemu',
  version: '1:10.0.13+ds-0+deb13u1',
  suite: 'trixie',
  files: [
    { name: 'qemu_10.0.13+ds-0+deb13u1.dsc', size: 5, sha256: sha('hello') },
    { name: 'qemu_10.0.13+ds.orig.tar.xz', size: 5, sha256: sha('world') },
  ],
};

describe('parseLock', () => {
  it('accepts the committed lock shape', () => {
    expect(parseLock(JSON.stringify(good))).toEqual(good);
  });

  it('names the field that is wrong and how to regenerate', () => {
    const bad = { ...good, files: [{ ...good.files[0], sha256: 'XYZ' }, good.files[1]] };
    const e = (() => {
      try {
        parseLock(JSON.stringify(bad));
      } catch (err) {
        return err as IohangError;
      }
    })();
    expect(e).toBeInstanceOf(IohangError);
    expect(e!.message).toContain('files.0.sha256');
    expect(e!.message).toContain('64 lowercase hex digits');
    expect(e!.fix).toContain('update-lock');
  });

  it('rejects invalid JSON, unknown keys and a lock without exactly one .dsc', () => {
    expect(() => parseLock('{')).toThrow(/not valid JSON/);
    expect(() => parseLock(JSON.stringify({ ...good, extra: 1 }))).toThrow(/extra/);
    expect(() => parseLock(JSON.stringify({ ...good, files: [good.files[1]] }))).toThrow(/exactly one \.dsc/);
    expect(() => parseLock(JSON.stringify({ ...good, version: '10.0.13' }))).toThrow(/Debian version/);
  });
});

describe('upstreamVersion', () => {
  it('strips epoch, +ds and the Debian revision', () => {
    expect(upstreamVersion('1:10.0.13+ds-0+deb13u1')).toBe('10.0.13');
    expect(upstreamVersion('10.2.2-1')).toBe('10.2.2');
  });
});

describe('checkFiles', () => {
  it('reports missing files, wrong sizes and wrong hashes separately', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lock-'));
    writeFileSync(join(dir, good.files[0]!.name), 'hellO');
    const checks = await checkFiles(dir, good);
    expect(checks[0]).toMatchObject({ ok: false, problem: 'sha256', expected: sha('hello'), actual: sha('hellO') });
    expect(checks[1]).toMatchObject({ ok: false, problem: 'missing' });
    writeFileSync(join(dir, good.files[0]!.name), 'hello');
    writeFileSync(join(dir, good.files[1]!.name), 'world!');
    const again = await checkFiles(dir, good);
    expect(again[0]).toEqual({ name: good.files[0]!.name, ok: true });
    expect(again[1]).toMatchObject({ ok: false, problem: 'size', expected: '5', actual: '6' });
  });
});
