/** The developer loop on the real QEMU tree: tree -> commit -> export -> build tree applies it. */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { IohangError, workspacePaths } from '@iohang/core';
import { ensureDevTree, exportSeries, readSeries } from '../src/index.ts';

const ws = workspacePaths();

/** A throwaway workspace with the real lock and series, so tests never touch patches/. */
function scratchWorkspace(): string {
  const root = mkdtempSync(join(tmpdir(), 'ws-'));
  writeFileSync(join(root, 'nx.json'), '{}');
  mkdirSync(join(root, 'qemu-build'));
  cpSync(ws.lockFile, join(root, 'qemu-build', 'qemu.lock.json'));
  cpSync(ws.patchesDir, join(root, 'patches'), { recursive: true });
  return root;
}

describe('editable tree and export', () => {
  it('exports new commits as patches, and a second export changes nothing', async () => {
    const root = scratchWorkspace();
    const devTree = join(mkdtempSync(join(tmpdir(), 'dev-')), 'qemu');
    const before = readSeries(join(root, 'patches'));
    const status = await ensureDevTree({ root, devTree, log: () => {} });
    expect(status).toMatchObject({ created: true, branch: 'series', dirty: false });
    expect(status.commits).toHaveLength(before.length);

    const g = $({ cwd: devTree, quiet: true });
    appendFileSync(join(devTree, 'docs', 'system', 'index.rst'), '\n.. iohang export test\n');
    await g`git -c user.name=Dev -c user.email=dev@example.com commit -q -a -m ${'docs: mark the export test\n\nA change that only this test makes.'}`;
    expect((await ensureDevTree({ root, devTree })).commits.at(-1)).toMatch(/docs: mark the export test$/);

    const first = await exportSeries({ root, devTree });
    const series = readSeries(join(root, 'patches'));
    expect(series).toHaveLength(before.length + 1);
    expect(series.at(-1)!.subject).toBe('docs: mark the export test');
    // The new patch is written; the others only if their [PATCH n/m] numbering changed.
    expect(first.written).toContain(series.at(-1)!.file);
    expect(first.written.length + first.unchanged.length).toBe(series.length);
    const patchPath = series.at(-1)!.path;
    const text = readFileSync(patchPath, 'utf8');
    expect(text).toMatch(/^From 0{40} /); // --zero-commit: no hash churn
    expect(text).not.toMatch(/^Signed-off-by:/m);
    const mtime = statSync(patchPath).mtimeMs;

    const second = await exportSeries({ root, devTree });
    expect(second).toEqual({ unchanged: first.written.concat(first.unchanged), written: [], removed: [] });
    expect(statSync(patchPath).mtimeMs).toBe(mtime);
  });

  it('refuses to export uncommitted work instead of losing it', async () => {
    const root = scratchWorkspace();
    const devTree = join(mkdtempSync(join(tmpdir(), 'dev-')), 'qemu');
    await ensureDevTree({ root, devTree, log: () => {} });
    appendFileSync(join(devTree, 'README.rst'), 'uncommitted\n');
    await expect(exportSeries({ root, devTree })).rejects.toThrow(IohangError);
    await expect(exportSeries({ root, devTree })).rejects.toThrow(/uncommitted changes/);
  });
});
