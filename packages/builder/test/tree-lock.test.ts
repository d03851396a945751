import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { withTreeLock } from '../src/index.ts';
import { sleep } from '@iohang/core';


describe('withTreeLock', () => {
  it('runs holders of one tree one after the other, and refuses a holder that takes it again', async () => {
    const tree = join(mkdtempSync(join(tmpdir(), 'lock-')), 'tree');
    const events: string[] = [];
    const holder = (name: string) =>
      withTreeLock(tree, () => {}, async () => {
        events.push(`${name} in`);
        await expect(withTreeLock(tree, () => {}, async () => events.push(`${name} nested`))).rejects.toThrow('taken twice by one call chain');
        await sleep(100);
        events.push(`${name} out`);
      });
    await Promise.all([holder('a'), sleep(10).then(() => holder('b'))]);
    expect(events).toEqual(['a in', 'a out', 'b in', 'b out']);
  });

  it('works where nothing exists yet (a fresh IOHANG_HOME)', async () => {
    const tree = join(mkdtempSync(join(tmpdir(), 'lock-')), 'home', 'src', 'tree');
    expect(await withTreeLock(tree, () => {}, async () => 'built')).toBe('built');
  });

  it('takes over a lock left by a process that died, and says when it waits', async () => {
    const tree = join(mkdtempSync(join(tmpdir(), 'lock-')), 'tree');
    mkdirSync(`${tree}.lock`);
    writeFileSync(join(`${tree}.lock`, 'pid'), '999999999');
    const logs: string[] = [];
    expect(await withTreeLock(tree, (l) => logs.push(l), async () => 42)).toBe(42);
    expect(logs).toEqual([]);
    // A live owner (this process's parent) makes us wait and say so.
    mkdirSync(`${tree}.lock`);
    writeFileSync(join(`${tree}.lock`, 'pid'), String(process.ppid));
    const waiting = withTreeLock(tree, (l) => logs.push(l), async () => 'done');
    await sleep(1500);
    expect(logs[0]).toMatch(new RegExp(`another iohang build \\(pid ${process.ppid}\\) is using .*tree; waiting`));
    const { rmSync } = await import('node:fs');
    rmSync(`${tree}.lock`, { recursive: true });
    expect(await waiting).toBe('done');
  });
});
