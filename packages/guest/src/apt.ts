import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError, iohangHome } from '@iohang/core';

const LISTS_DIR = '/var/lib/apt/lists';

/** Names, sizes and mtimes of apt's package lists: they change whenever apt-get update changes anything. */
function listsStamp(): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(LISTS_DIR).sort()) {
    const st = statSync(join(LISTS_DIR, name));
    if (st.isFile()) hash.update(`${name} ${st.size} ${st.mtimeMs}\n`);
  }
  return hash.digest('hex');
}

/**
 * Remember an answer derived from apt-cache until the package lists change. The image disables
 * apt's binary cache, so every apt-cache call re-reads ~40 MB of lists (over a second); this
 * is what lets an unchanged guest build return at once.
 */
export async function aptCached<T>(key: string, lookup: () => Promise<T>): Promise<T> {
  const file = join(iohangHome(), 'guest', 'apt-answers.json');
  const stamp = listsStamp();
  let answers: Record<string, unknown> = {};
  try {
    const saved = JSON.parse(readFileSync(file, 'utf8')) as { stamp?: string; answers?: Record<string, unknown> };
    if (saved.stamp === stamp && saved.answers) answers = saved.answers;
  } catch {
    // no answers yet, or an unreadable file: ask apt again
  }
  if (key in answers) return answers[key] as T;
  const value = await lookup();
  answers[key] = value;
  mkdirSync(join(iohangHome(), 'guest'), { recursive: true });
  // Write then rename, so a concurrent reader never sees half a file.
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ stamp, answers }, null, 2) + '\n');
  renameSync(tmp, file);
  return value;
}

/** The version of `pkg` in the first stanza of apt-cache show (normally the newest apt knows). */
export async function aptVersion(pkg: string): Promise<string> {
  return aptCached(`version:${pkg}`, async () => {
    const show = await $({ quiet: true })`apt-cache show ${pkg}`.nothrow();
    const version = /^Version: (\S+)/m.exec(show.stdout)?.[1];
    if (!version) throw new IohangError(`apt-cache show ${pkg} gave no version`, 'Run apt-get update (as root), then try again');
    return version;
  });
}

/**
 * Download (apt-get download) and unpack (dpkg-deb -x) one exact package version into
 * `dir/root`, once: an existing `dir/root` is trusted. Returns the root.
 */
export async function unpackDeb(pkg: string, version: string, dir: string, log: (line: string) => void = () => {}): Promise<string> {
  const root = join(dir, 'root');
  if (existsSync(root)) return root;
  mkdirSync(dir, { recursive: true });
  const staging = mkdtempSync(join(dir, '.download-'));
  try {
    log(`downloading ${pkg}=${version}`);
    const dl = await $({ cwd: staging, quiet: true })`apt-get download ${`${pkg}=${version}`}`.nothrow();
    if (dl.exitCode !== 0) throw new IohangError(`apt-get download ${pkg}=${version} failed:\n${dl.stderr.trim()}`, 'Run apt-get update (as root), then try again');
    const deb = readdirSync(staging).find((f) => f.endsWith('.deb'))!;
    await $({ quiet: true })`dpkg-deb -x ${join(staging, deb)} ${join(staging, 'root')}`;
    try {
      renameSync(join(staging, 'root'), root);
    } catch (e) {
      if (!existsSync(root)) throw e; // else another process unpacked it first
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return root;
}
