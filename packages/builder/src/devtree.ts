import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepare, type BuildOptions } from './build.ts';
import { IohangError, workspacePaths } from '@iohang/core';
import { readLock } from './lock.ts';
import { statePaths } from './paths.ts';
import { parseSeriesFile } from './series.ts';
import { BASE_TAG, git } from './tree.ts';

export interface DevTreeStatus {
  path: string;
  created: boolean;
  branch: string;
  /** `git log --oneline iohang-base..HEAD`, oldest first. */
  commits: string[];
  dirty: boolean;
}

/**
 * The developer's editable QEMU tree: base commit + one commit per patch, on branch
 * `series`. Created from the builder's tree on first use; never reset afterwards.
 */
export async function ensureDevTree(opts: BuildOptions = {}): Promise<DevTreeStatus> {
  const ws = workspacePaths(opts.root);
  const devTree = opts.devTree ?? statePaths(readLock(ws.lockFile).version).devTree;
  let created = false;
  if (!existsSync(join(devTree, '.git'))) {
    const { tree } = await prepare(opts);
    await git(tree)`git clone -q ${tree} ${devTree}`;
    const g = git(devTree);
    await g`git checkout -q -B series`;
    await g`git remote remove origin`;
    created = true;
  }
  return devTreeStatus(devTree, created);
}

async function devTreeStatus(path: string, created: boolean): Promise<DevTreeStatus> {
  const g = git(path);
  const branch = (await g`git rev-parse --abbrev-ref HEAD`).stdout.trim();
  const log = (await g`git log --reverse --oneline ${`${BASE_TAG}..HEAD`}`).stdout.trim();
  const dirty = (await g`git status --porcelain --untracked-files=no`).stdout.trim() !== '';
  return { path, created, branch, commits: log ? log.split('\n') : [], dirty };
}

export interface ExportResult {
  unchanged: string[];
  written: string[];
  removed: string[];
}

/**
 * `git format-patch` the dev tree's commits since the base into patches/ and rewrite
 * patches/series. Output is stable (zero commit hashes, no signature), files whose
 * content is the same are not touched, and removed patches stay in git history.
 */
export async function exportSeries(opts: BuildOptions = {}): Promise<ExportResult> {
  const ws = workspacePaths(opts.root);
  const devTree = opts.devTree ?? statePaths(readLock(ws.lockFile).version).devTree;
  if (!existsSync(join(devTree, '.git'))) throw new IohangError(`no editable QEMU tree at ${devTree}`, 'Create it with: npx iohang qemu tree');
  const status = await devTreeStatus(devTree, false);
  if (status.dirty) throw new IohangError(`${devTree} has uncommitted changes; export writes only commits`, 'Commit (or stash) them in the tree, then export again');
  const out = mkdtempSync(join(tmpdir(), 'iohang-export-'));
  try {
    await git(devTree)`git format-patch -q --zero-commit --no-signature -o ${out} ${`${BASE_TAG}..HEAD`}`;
    const files = readdirSync(out).filter((f) => f.endsWith('.patch')).sort();
    const seriesPath = join(ws.patchesDir, 'series');
    const previous = existsSync(seriesPath) ? parseSeriesFile(readFileSync(seriesPath, 'utf8')) : [];
    const result: ExportResult = { unchanged: [], written: [], removed: [] };
    for (const f of files) {
      const text = readFileSync(join(out, f), 'utf8');
      const dest = join(ws.patchesDir, f);
      if (existsSync(dest) && readFileSync(dest, 'utf8') === text) result.unchanged.push(f);
      else {
        writeFileSync(dest, text);
        result.written.push(f);
      }
    }
    for (const f of previous) {
      if (!files.includes(f) && existsSync(join(ws.patchesDir, f))) {
        unlinkSync(join(ws.patchesDir, f));
        result.removed.push(f);
      }
    }
    const series = files.map((f) => f + '\n').join('');
    if (!existsSync(seriesPath) || readFileSync(seriesPath, 'utf8') !== series) writeFileSync(seriesPath, series);
    return result;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
