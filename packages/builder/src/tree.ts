import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';
import { dscFile, type Lock } from './lock.ts';
import type { SeriesPatch } from './series.ts';

export const BASE_TAG = 'iohang-base';

/** Same identity and dates everywhere, so commit hashes are reproducible across machines. */
const GIT_ENV = {
  GIT_AUTHOR_NAME: 'iohang',
  GIT_AUTHOR_EMAIL: 'iohang@localhost',
  GIT_COMMITTER_NAME: 'iohang',
  GIT_COMMITTER_EMAIL: 'iohang@localhost',
  GIT_AUTHOR_DATE: '1970-01-01T00:00:00Z',
  GIT_COMMITTER_DATE: '1970-01-01T00:00:00Z',
};

export function git(tree: string) {
  return $({ cwd: tree, env: { ...process.env, ...GIT_ENV }, quiet: true });
}

/** What the builder applied to its tree, kept in .git/ so it survives across runs. */
interface AppliedRecord {
  version: string;
  /** sha256: of the patch's diff (SeriesPatch.diffSha256) */
  patches: { file: string; sha256: string; commit: string }[];
}

function recordPath(tree: string): string {
  return join(tree, '.git', 'iohang-applied.json');
}

function readRecord(tree: string): AppliedRecord | undefined {
  try {
    return JSON.parse(readFileSync(recordPath(tree), 'utf8')) as AppliedRecord;
  } catch {
    return undefined;
  }
}

function writeRecord(tree: string, r: AppliedRecord): void {
  writeFileSync(recordPath(tree), JSON.stringify(r, null, 2) + '\n');
}

/**
 * A git tree whose first commit (tagged iohang-base) is the pristine Debian source: the
 * upstream tarball with Debian's quilt patches applied, exactly what `dpkg-source -x` gives.
 * Reused when it already holds this version.
 */
export async function ensureBaseTree(lock: Lock, downloads: string, tree: string, log: (line: string) => void = () => {}): Promise<void> {
  if (readRecord(tree)?.version === lock.version) return;
  if (existsSync(tree)) {
    const stale = `${tree}.stale-${Date.now()}`;
    log(`${tree} holds another version; moving it to ${stale}`);
    renameSync(tree, stale);
  }
  mkdirSync(dirname(tree), { recursive: true });
  const tmp = `${tree}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  log(`unpacking ${dscFile(lock)} (dpkg-source -x)`);
  const x = await $({ quiet: true })`dpkg-source --no-check -x ${join(downloads, dscFile(lock))} ${tmp}`.nothrow();
  if (x.exitCode !== 0) throw new IohangError(`dpkg-source -x failed:\n${x.stderr.trim()}`, 'Delete the download cache directory and run the build again');
  // quilt's bookkeeping is not part of the source.
  rmSync(join(tmp, '.pc'), { recursive: true, force: true });
  log('creating the base commit');
  const g = git(tmp);
  await g`git init -q -b base`;
  await g`git add -A -f .`;
  await g`git commit -q --no-verify -m ${`base: ${lock.package} ${lock.version} (Debian source package, quilt patches applied)`}`;
  await g`git tag ${BASE_TAG}`;
  writeRecord(tmp, { version: lock.version, patches: [] });
  renameSync(tmp, tree);
}

/**
 * `worktree`: a git worktree of `tree` with a detached HEAD at iohang-base -- the unpatched
 * source, built as the "base" variant. `tree` itself stays on the series. Reused as it is
 * when it is still at the base and clean (so ninja's mtimes survive); reset when someone
 * changed it; recreated when it no longer belongs to `tree` (the tree was unpacked anew).
 */
export async function ensureBaseWorktree(tree: string, worktree: string, log: (line: string) => void = () => {}): Promise<void> {
  const base = (await git(tree)`git rev-parse ${BASE_TAG + '^{commit}'}`).stdout.trim();
  if (existsSync(join(worktree, '.git'))) {
    const w = git(worktree);
    const common = (await w`git rev-parse --path-format=absolute --git-common-dir`.nothrow()).stdout.trim();
    if (common && existsSync(common) && realpathSync(common) === realpathSync(join(tree, '.git'))) {
      const head = (await w`git rev-parse HEAD`).stdout.trim();
      const dirty = (await w`git status --porcelain --untracked-files=no`).stdout.trim() !== '';
      if (head === base && !dirty) return;
      log(`${worktree} was changed; resetting it to ${BASE_TAG}`);
      await w`git reset -q --hard ${base}`;
      return;
    }
  }
  rmSync(worktree, { recursive: true, force: true });
  await git(tree)`git worktree prune`;
  log(`checking out ${BASE_TAG} into ${worktree} (git worktree)`);
  await git(tree)`git worktree add -q --detach ${worktree} ${base}`;
}

export interface ApplyFailure {
  patch: SeriesPatch;
  index: number;
  file?: string;
  line?: number;
  hunk?: string;
  gitOutput: string;
}

/** Name the file and hunk a failed `git am` stopped at, from its output and the patch. */
export function describeApplyFailure(patch: SeriesPatch, index: number, gitOutput: string, patchText: string): ApplyFailure {
  const m = /patch failed: (.+):(\d+)/.exec(gitOutput);
  const failure: ApplyFailure = { patch, index, gitOutput };
  if (!m) {
    const f = /error: (.+?): (?:does not exist in index|No such file or directory|already exists in working directory)/.exec(gitOutput);
    if (f) failure.file = f[1];
    return failure;
  }
  failure.file = m[1]!;
  failure.line = Number(m[2]);
  // Find that hunk in the patch: the section of the file, then the @@ -line header.
  const section = patchText.split(/^diff --git /m).find((s) => s.startsWith(`a/${failure.file} `));
  const hunk = section?.split(/^(?=@@ )/m).find((h) => h.startsWith(`@@ -${failure.line},`) || h.startsWith(`@@ -${failure.line} `));
  if (hunk) failure.hunk = hunk.split('\n').slice(0, 12).join('\n');
  return failure;
}

export function applyFailureError(f: ApplyFailure, tree: string): IohangError {
  const where = f.file ? ` at ${f.file}${f.line ? `:${f.line}` : ''}` : '';
  const hunk = f.hunk ? `\nthe hunk that does not apply:\n${f.hunk}` : `\ngit said:\n${f.gitOutput.trim()}`;
  return new IohangError(
    `patch ${f.index + 1} (${f.patch.file}: "${f.patch.subject}") does not apply${where}${hunk}`,
    `Rebase the patch: npx iohang qemu tree shows the editable tree (${tree} is the builder's); fix the commit there, then run npx iohang qemu export`,
  );
}

/**
 * Bring `tree` to base + the given patches, one commit each. Reuses the longest prefix of
 * patches already applied, so only files touched by changed patches get new mtimes and
 * ninja rebuilds only what they affect.
 */
export async function applySeries(tree: string, patches: SeriesPatch[], log: (line: string) => void = () => {}): Promise<{ reused: number; applied: number }> {
  const record = readRecord(tree);
  if (!record) throw new Error(`${tree} has no iohang record; call ensureBaseTree first`);
  const g = git(tree);
  let keep = 0;
  while (keep < record.patches.length && keep < patches.length && record.patches[keep]!.sha256 === patches[keep]!.diffSha256) keep++;
  const target = keep === 0 ? BASE_TAG : record.patches[keep - 1]!.commit;
  const head = (await g`git rev-parse HEAD`).stdout.trim();
  const expectedHead = record.patches.length ? record.patches.at(-1)!.commit : (await g`git rev-parse ${BASE_TAG}`).stdout.trim();
  const dirty = (await g`git status --porcelain --untracked-files=no`).stdout.trim() !== '';
  if (keep === patches.length && keep === record.patches.length && head === expectedHead && !dirty) return { reused: keep, applied: 0 };
  if (dirty || head !== expectedHead) log(`${tree} was changed by hand; resetting it (edit the tree from npx iohang qemu tree instead)`);
  await g`git am --abort`.nothrow();
  await g`git reset -q --hard ${target}`;
  const applied = record.patches.slice(0, keep);
  writeRecord(tree, { version: record.version, patches: applied });
  for (let i = keep; i < patches.length; i++) {
    const p = patches[i]!;
    log(`applying ${i + 1}/${patches.length}: ${p.subject}`);
    const r = await g`git am -q --committer-date-is-author-date ${p.path}`.nothrow();
    if (r.exitCode !== 0) {
      await g`git am --abort`.nothrow();
      throw applyFailureError(describeApplyFailure(p, i, r.stdout + r.stderr, readFileSync(p.path, 'utf8')), tree);
    }
    applied.push({ file: p.file, sha256: p.diffSha256, commit: (await g`git rev-parse HEAD`).stdout.trim() });
    writeRecord(tree, { version: record.version, patches: applied });
  }
  return { reused: keep, applied: patches.length - keep };
}
