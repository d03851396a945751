import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileIotool } from '../src/index.ts';

// iotool on the host, against files: the format, the verifier and the error paths. The
// guest test runs it on a real disk with O_DIRECT.
let dir: string;
let iotool: string;

function run(...args: string[]) {
  const r = spawnSync(iotool, args, { encoding: 'utf8' });
  return { code: r.status, json: r.stdout ? (JSON.parse(r.stdout) as Record<string, any>) : undefined, stderr: r.stderr };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'iotool-'));
  iotool = join(dir, 'iotool');
  await compileIotool(iotool);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('iotool', () => {
  it('writes blocks that verify with their generation and only with it', () => {
    const f = join(dir, 'gen');
    const w = run('write', f, '--bs', '4096', '--count', '32', '--offset', '8192', '--gen', '7', '--fsync-every', '10');
    expect(w.code).toBe(0);
    expect(w.json).toMatchObject({ op: 'write', done: 32, ok: true, errors: [] });
    const timeline = w.json!.timeline as { op: string; i: number; ok: boolean; t_ms: number; lat_us: number }[];
    expect(timeline.filter((e) => e.op === 'write')).toHaveLength(32);
    // after writes 9, 19, 29, and once more for the last two
    expect(timeline.filter((e) => e.op === 'fsync').map((e) => e.i)).toEqual([9, 19, 29, 31]);
    expect(statSync(f).size).toBe(8192 + 32 * 4096);

    expect(run('verify', f, '--bs', '4096', '--count', '32', '--offset', '8192', '--gen', '7').json).toMatchObject({ ok: true, blocks_ok: 32 });
    const wrong = run('verify', f, '--bs', '4096', '--count', '32', '--offset', '8192', '--gen', '8');
    expect(wrong.code).toBe(1);
    expect(wrong.json).toMatchObject({ ok: false, blocks_ok: 0, wrong_gen: 32, bad_checksum: 0, bad_block: 0, bad_magic: 0 });
    // The same data read at another offset: intact blocks, but in the wrong place.
    expect(run('verify', f, '--bs', '4096', '--count', '2', '--offset', '0', '--gen', '7').json).toMatchObject({ bad_magic: 2 });
    expect(run('verify', f, '--bs', '8192', '--count', '1', '--offset', '8192', '--gen', '7').json).toMatchObject({ bad_checksum: 1 });
  });

  it('paces requests with --interval-ms', () => {
    const r = run('read', '/dev/zero', '--bs', '4096', '--count', '4', '--interval-ms', '50');
    const starts = (r.json!.timeline as { t_ms: number }[]).map((e) => e.t_ms);
    for (let i = 1; i < starts.length; i++) expect(starts[i]! - starts[i - 1]!).toBeGreaterThanOrEqual(50);
  });

  it('tells a corrupted block, a misplaced block and a discarded block apart', () => {
    const f = join(dir, 'kinds');
    run('write', f, '--bs', '512', '--count', '8', '--gen', '1');
    const bytes = execFileSync('cat', [f]);
    bytes.writeUInt8(bytes.readUInt8(2 * 512 + 100) ^ 1, 2 * 512 + 100); // flip a payload bit in block 2
    bytes.copy(bytes, 5 * 512, 4 * 512, 5 * 512); // block 4's content also at block 5
    writeFileSync(f, bytes);
    expect(run('discard', f, '--offset', '3584', '--length', '512').json).toMatchObject({ op: 'discard', method: 'punch_hole', ok: true });
    const v = run('verify', f, '--bs', '512', '--count', '8', '--gen', '1');
    expect(v.json).toMatchObject({ blocks_ok: 5, bad_checksum: 1, bad_block: 1, bad_magic: 1 });
    expect((v.json!.mismatches as { index: number; kind: string }[]).map((m) => [m.index, m.kind])).toEqual([
      [2, 'bad_checksum'],
      [5, 'bad_block'],
      [7, 'bad_magic'],
    ]);
  });

  it('records I/O errors and stops at the first unless --keep-going', () => {
    const stop = run('write', '/dev/full', '--bs', '4096', '--count', '3', '--gen', '1');
    expect(stop.code).toBe(1);
    expect(stop.json).toMatchObject({ ok: false, done: 0, errors: [{ index: 0, offset: 0, errno: 28, error: 'No space left on device' }] });
    const all = run('write', '/dev/full', '--bs', '4096', '--count', '3', '--gen', '1', '--keep-going');
    expect((all.json!.errors as { index: number }[]).map((e) => e.index)).toEqual([0, 1, 2]);
    expect((all.json!.timeline as { ok: boolean }[]).every((e) => !e.ok)).toBe(true);
    expect(run('read', join(dir, 'missing'), '--bs', '4096', '--count', '1').json).toMatchObject({ ok: false, errors: [{ errno: 2 }] });
    expect(run('read', '/dev/zero', '--bs', '4096', '--count', '4').json).toMatchObject({ ok: true, done: 4 });
  });

  it('exits 2 with a message on usage errors', () => {
    for (const args of [
      [],
      ['frob', 'x'],
      ['write', 'x', '--bs', '4096', '--count', '1'], // no --gen
      ['write', 'x', '--bs', '100', '--count', '1', '--gen', '1'],
      ['write', 'x', '--bs', '4096', '--count', '1', '--gen', '1', '--offset', '100'],
      ['verify', 'x', '--bs', '4096', '--count', '1', '--gen', '1', '--fsync-every', '1'],
      ['write', 'x', '--bs', '4096', '--count', '-1', '--gen', '1'],
      ['discard', 'x', '--offset', '0'],
    ]) {
      const r = run(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^iotool: .+\nusage:/);
      expect(r.json).toBeUndefined();
    }
  });
});
