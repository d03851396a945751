import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { IohangError } from '@iohang/core';

/** qemu-build/qemu.lock.json: the exact Debian source package the series applies to. */
export const LockSchema = z.strictObject({
  package: z.string().regex(/^[a-z0-9][a-z0-9+.-]+$/),
  /** Debian version with epoch, e.g. 1:10.0.13+ds-0+deb13u1 */
  version: z.string().regex(/^(\d+:)?\d[\w.+~]*-[\w.+~]+$/, 'a Debian version like 1:10.0.13+ds-0+deb13u1'),
  /** The suite whose deb-src carries this version (informational, used in messages). */
  suite: z.string().min(1),
  files: z
    .array(
      z.strictObject({
        name: z.string().regex(/^[^/]+$/, 'a file name without a directory'),
        size: z.number().int().positive(),
        sha256: z.string().regex(/^[0-9a-f]{64}$/, '64 lowercase hex digits'),
      }),
    )
    .min(1),
});
export type Lock = z.infer<typeof LockSchema>;

export function parseLock(text: string, where = 'qemu.lock.json'): Lock {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new IohangError(`${where} is not valid JSON: ${(e as Error).message}`, `Fix the file, or restore it with git checkout -- ${where}`);
  }
  const parsed = LockSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `  ${i.path.join('.') || '(top)'}: ${i.message}`).join('\n');
    throw new IohangError(`${where} is not a valid lock:\n${problems}`, `Fix the fields above, or regenerate the lock with: npx iohang qemu update-lock`);
  }
  const dsc = parsed.data.files.filter((f) => f.name.endsWith('.dsc'));
  if (dsc.length !== 1) {
    throw new IohangError(`${where} must list exactly one .dsc file, found ${dsc.length}`, 'Regenerate the lock with: npx iohang qemu update-lock');
  }
  return parsed.data;
}

export function readLock(path: string): Lock {
  if (!existsSync(path)) {
    throw new IohangError(`no lock file at ${path}`, 'Create one with: npx iohang qemu update-lock');
  }
  return parseLock(readFileSync(path, 'utf8'), path);
}

export function writeLock(path: string, lock: Lock): void {
  writeFileSync(path, JSON.stringify(LockSchema.parse(lock), null, 2) + '\n');
}

/** Upstream QEMU version of a Debian version: 1:10.0.13+ds-0+deb13u1 -> 10.0.13 */
export function upstreamVersion(debianVersion: string): string {
  return debianVersion.replace(/^\d+:/, '').replace(/[+~-].*$/, '');
}

export function dscFile(lock: Lock): string {
  return lock.files.find((f) => f.name.endsWith('.dsc'))!.name;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export type FileCheck =
  | { name: string; ok: true }
  | { name: string; ok: false; problem: 'missing' }
  | { name: string; ok: false; problem: 'size' | 'sha256'; expected: string; actual: string };

/** Compare the files in `dir` with the lock: size first (cheap), then sha256. */
export async function checkFiles(dir: string, lock: Lock): Promise<FileCheck[]> {
  return Promise.all(
    lock.files.map(async (f): Promise<FileCheck> => {
      const path = join(dir, f.name);
      if (!existsSync(path)) return { name: f.name, ok: false, problem: 'missing' };
      const size = statSync(path).size;
      if (size !== f.size) return { name: f.name, ok: false, problem: 'size', expected: String(f.size), actual: String(size) };
      const sha = await sha256File(path);
      if (sha !== f.sha256) return { name: f.name, ok: false, problem: 'sha256', expected: f.sha256, actual: sha };
      return { name: f.name, ok: true };
    }),
  );
}
