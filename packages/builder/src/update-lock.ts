import { mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError, workspacePaths } from '@iohang/core';
import { aptSourceError } from './fetch.ts';
import { checkFiles, readLock, sha256File, upstreamVersion, writeLock, type Lock } from './lock.ts';
import { statePaths } from './paths.ts';
import { readSeries } from './series.ts';
import { applySeries, ensureBaseTree } from './tree.ts';
import { withTreeLock } from './tree-lock.ts';

/** Source versions of `pkg` that apt can fetch (apt-cache showsrc). */
export async function availableSourceVersions(pkg: string): Promise<string[]> {
  const out = await $({ quiet: true })`apt-cache showsrc ${pkg}`.nothrow();
  return [...new Set([...out.stdout.matchAll(/^Version: (\S+)$/gm)].map((m) => m[1]!))];
}

export async function newestVersion(versions: string[]): Promise<string | undefined> {
  let best: string | undefined;
  for (const v of versions) {
    if (best === undefined || (await $({ quiet: true })`dpkg --compare-versions ${v} gt ${best}`.nothrow()).exitCode === 0) best = v;
  }
  return best;
}

/** Same upstream major.minor: a 10.0.x pin only moves within 10.0. */
export function sameSeries(version: string, pinned: string): boolean {
  const mm = (v: string) => upstreamVersion(v).split('.').slice(0, 2).join('.');
  return mm(version) === mm(pinned);
}

/** The files a .dsc lists in Checksums-Sha256. */
export function dscFiles(dscText: string): Lock['files'] {
  const section = /^Checksums-Sha256:\n((?:[ \t].*\n?)+)/m.exec(dscText)?.[1] ?? '';
  return [...section.matchAll(/^\s+([0-9a-f]{64})\s+(\d+)\s+(\S+)/gm)].map((m) => ({ name: m[3]!, size: Number(m[2]), sha256: m[1]! }));
}

export interface UpdateLockResult {
  from: string;
  to: string;
  changed: boolean;
}

/**
 * Move the pin to the newest source version of the same major.minor (or `version`),
 * after checking that patches/ applies to it. The lock is only rewritten on success.
 */
export async function updateLock(opts: { root?: string; version?: string; log?: (line: string) => void } = {}): Promise<UpdateLockResult> {
  const log = opts.log ?? console.error;
  const ws = workspacePaths(opts.root);
  const lock = readLock(ws.lockFile);
  const candidates = (await availableSourceVersions(lock.package)).filter((v) => sameSeries(v, lock.version));
  const target = opts.version ?? (await newestVersion(candidates));
  if (!target) {
    throw new IohangError(
      `apt knows no ${lock.package} source of the ${upstreamVersion(lock.version).split('.').slice(0, 2).join('.')} series`,
      'Run: sudo npm run setup (deb-src for trixie), then apt-get update',
    );
  }
  if (target === lock.version) {
    log(`${lock.package} ${lock.version} is already the newest ${upstreamVersion(lock.version).replace(/\.\d+$/, '')}.x source`);
    return { from: lock.version, to: target, changed: false };
  }
  log(`moving the pin ${lock.version} -> ${target}`);
  const sp = statePaths(target);
  mkdirSync(sp.downloads, { recursive: true });
  const staging = mkdtempSync(join(sp.downloads, '.download-'));
  let next: Lock;
  try {
    const r = await $({ cwd: staging, quiet: true })`apt-get source --download-only -q ${`${lock.package}=${target}`}`.nothrow();
    if (r.exitCode !== 0) throw aptSourceError({ ...lock, version: target }, r.stderr);
    const dsc = readdirSync(staging).find((f) => f.endsWith('.dsc'));
    if (!dsc) throw new IohangError(`apt-get source downloaded no .dsc for ${target}`, 'Try again; check apt-get source output by hand');
    const dscPath = join(staging, dsc);
    next = { ...lock, version: target, files: [{ name: dsc, size: statSync(dscPath).size, sha256: await sha256File(dscPath) }, ...dscFiles(readFileSync(dscPath, 'utf8'))] };
    const bad = (await checkFiles(staging, next)).filter((c) => !c.ok);
    if (bad.length) throw new IohangError(`the downloaded files do not match ${dsc}: ${bad.map((b) => b.name).join(', ')}`, 'Try again later (mirror in sync?)');
    for (const f of next.files) renameSync(join(staging, f.name), join(sp.downloads, f.name));
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  log(`checking that patches/ applies to ${target}`);
  await withTreeLock(sp.buildTree, log, async () => {
    await ensureBaseTree(next, sp.downloads, sp.buildTree, log);
    await applySeries(sp.buildTree, readSeries(ws.patchesDir), log);
  });
  writeLock(ws.lockFile, next);
  log(`qemu-build/qemu.lock.json now pins ${target}`);
  return { from: lock.version, to: target, changed: true };
}
