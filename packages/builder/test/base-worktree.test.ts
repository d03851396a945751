/** The unpatched "base" source: a git worktree at iohang-base beside the builder's tree. */
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BASE_TAG, ensureBaseWorktree, git, resolveVariant } from '../src/index.ts';

/** A tree like the builder's: the base commit tagged, one patch commit on top. */
async function builderTree(): Promise<string> {
  const tree = join(mkdtempSync(join(tmpdir(), 'wt-')), 'src');
  const g = git(tmpdir());
  await g`git init -q -b base ${tree}`;
  writeFileSync(join(tree, 'block.c'), 'base\n');
  await git(tree)`git add -A`;
  await git(tree)`git commit -q -m base`;
  await git(tree)`git tag ${BASE_TAG}`;
  writeFileSync(join(tree, 'block.c'), 'patched\n');
  await git(tree)`git commit -q -a -m patch`;
  return tree;
}

describe('ensureBaseWorktree', () => {
  it('checks out iohang-base beside the tree, leaves the tree on the series, and reuses it untouched', async () => {
    const tree = await builderTree();
    const wt = `${tree}-base`;
    const head = (await git(tree)`git rev-parse HEAD`).stdout;
    const lines: string[] = [];
    await ensureBaseWorktree(tree, wt, (l) => lines.push(l));
    expect(readFileSync(join(wt, 'block.c'), 'utf8')).toBe('base\n');
    expect(readFileSync(join(tree, 'block.c'), 'utf8')).toBe('patched\n');
    expect((await git(tree)`git rev-parse HEAD`).stdout).toBe(head);
    expect(lines.join('\n')).toMatch(/git worktree/);

    const mtime = statSync(join(wt, 'block.c')).mtimeMs;
    lines.length = 0;
    await ensureBaseWorktree(tree, wt, (l) => lines.push(l));
    expect(lines).toEqual([]);
    expect(statSync(join(wt, 'block.c')).mtimeMs).toBe(mtime);
  });

  it('resets a worktree someone changed, and recreates one that no longer belongs to the tree', async () => {
    const tree = await builderTree();
    const wt = `${tree}-base`;
    await ensureBaseWorktree(tree, wt);
    writeFileSync(join(wt, 'block.c'), 'edited by hand\n');
    const lines: string[] = [];
    await ensureBaseWorktree(tree, wt, (l) => lines.push(l));
    expect(lines.join('\n')).toMatch(/resetting it/);
    expect(readFileSync(join(wt, 'block.c'), 'utf8')).toBe('base\n');

    // The tree was unpacked anew: the old worktree's .git points nowhere.
    rmSync(join(tree, '.git', 'worktrees'), { recursive: true, force: true });
    await ensureBaseWorktree(tree, wt);
    expect(readFileSync(join(wt, 'block.c'), 'utf8')).toBe('base\n');
    expect((await git(tree)`git worktree list --porcelain`).stdout).toContain(`worktree ${wt}\n`);
  });
});

describe('resolveVariant', () => {
  it('"base" builds with the default flags into its own variant', () => {
    expect(resolveVariant({ base: true })).toEqual({ variant: 'base', base: true, flagsVariant: 'default' });
    expect(resolveVariant({ variant: 'base' })).toEqual({ variant: 'base', base: true, flagsVariant: 'default' });
    expect(resolveVariant({ variant: 'asan' })).toEqual({ variant: 'asan', base: false, flagsVariant: 'asan' });
    expect(resolveVariant({})).toEqual({ variant: 'default', base: false, flagsVariant: 'default' });
  });
});
