import { mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';
import { checkFiles, type FileCheck, type Lock } from './lock.ts';

const MOVE_PIN = 'Move the pin to the newest 10.0.x in the archive with: npx iohang qemu update-lock (it checks that patches/ still applies, then rewrites qemu-build/qemu.lock.json)';

/**
 * Make `dir` hold exactly the files the lock pins, downloading with apt-get source.
 * Files already there and matching are kept; a file that does not match is kept aside
 * as NAME.rejected (nothing is deleted) and downloaded again.
 */
export async function fetchSource(lock: Lock, dir: string, log: (line: string) => void = () => {}): Promise<void> {
  mkdirSync(dir, { recursive: true });
  const bad = (await checkFiles(dir, lock)).filter((c) => !c.ok);
  if (bad.length === 0) return;
  for (const c of bad) {
    if (c.problem !== 'missing') {
      renameSync(join(dir, c.name), join(dir, `${c.name}.rejected`));
      log(`${c.name} in the download cache does not match the lock (${c.problem}); kept as ${c.name}.rejected`);
    }
  }
  log(`downloading ${lock.package}=${lock.version} (apt-get source --download-only)`);
  await aptDownload(lock, dir);
  const after = (await checkFiles(dir, lock)).filter((c) => !c.ok);
  if (after.length) {
    // Keep what the archive served for inspection; the next run downloads afresh.
    for (const c of after) {
      if (!c.ok && c.problem !== 'missing') renameSync(join(dir, c.name), join(dir, `${c.name}.rejected`));
    }
    throw mismatchError(lock, dir, after);
  }
}

async function aptDownload(lock: Lock, dir: string): Promise<void> {
  const staging = mkdtempSync(join(dir, '.download-'));
  try {
    const r = await $({ cwd: staging })`apt-get source --download-only -q ${`${lock.package}=${lock.version}`}`.nothrow().quiet();
    if (r.exitCode !== 0) throw aptSourceError(lock, r.stderr);
    for (const f of lock.files) {
      try {
        renameSync(join(staging, f.name), join(dir, f.name));
      } catch {
        // Reported as missing by the check that follows.
      }
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

export function aptSourceError(lock: Lock, stderr: string): IohangError {
  const pin = `${lock.package}=${lock.version}`;
  const tail = stderr.trim().split('\n').filter((l) => !l.includes('unsandboxed')).slice(-4).join('\n  ');
  if (/deb-src/.test(stderr)) {
    return new IohangError(`apt has no source repositories, so it cannot fetch ${pin}:\n  ${tail}`, 'Run: sudo npm run setup (it adds deb-src for trixie)');
  }
  if (/Can not find version|Unable to find a source package|No source package/i.test(stderr)) {
    return new IohangError(`the pinned QEMU source ${pin} (suite ${lock.suite}) is no longer in the Debian archive:\n  ${tail}\nDebian replaces 10.0.x point releases, so old pins vanish.`, MOVE_PIN);
  }
  if (/404\s+Not Found|Failed to fetch/i.test(stderr)) {
    return new IohangError(`the archive lists ${pin} but its files could not be downloaded:\n  ${tail}`, `Try again later; if it persists the version is being removed. ${MOVE_PIN}`);
  }
  return new IohangError(`apt-get source ${pin} failed:\n  ${tail}`, 'Check apt (sudo npm run setup, apt-get update) and try again');
}

function mismatchError(lock: Lock, dir: string, bad: FileCheck[]): IohangError {
  const lines = bad.map((c) =>
    c.ok ? '' : c.problem === 'missing' ? `${c.name}: not in the downloaded source package` : `${c.name}: ${c.problem} is ${c.actual}, the lock pins ${c.expected}`,
  );
  return new IohangError(
    `checksum mismatch: the archive's ${lock.package}=${lock.version} is not what qemu-build/qemu.lock.json pins:\n  ${lines.join('\n  ')}\n` +
      `The downloaded files are kept as *.rejected in ${dir}.`,
    `If Debian rebuilt this version, review the change and re-pin with: npx iohang qemu update-lock. Otherwise the mirror served a bad file: try again later.`,
  );
}
