import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError } from '@iohang/core';

export interface SeriesPatch {
  /** File name inside patches/. */
  file: string;
  /** Subject without the [PATCH n/m] prefix. */
  subject: string;
  /** sha256 of the patch file (recorded in the manifest). */
  sha256: string;
  /**
   * sha256 of the diff alone: identifies an applied patch across runs, so renumbering
   * ([PATCH 3/9] -> [PATCH 3/10]) or a reworded message does not force re-applying it.
   */
  diffSha256: string;
  path: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The file names listed in a quilt-style series file: one per line, # comments, blanks ignored. */
export function parseSeriesFile(text: string, where = 'patches/series'): string[] {
  const files: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim();
    if (!line) return;
    const at = `${where}:${i + 1}`;
    if (/\s/.test(line)) throw new IohangError(`${at}: "${line}" has options or spaces; a series line is one patch file name`, 'Put one file name per line (quilt options like -p1 are not supported)');
    if (line.includes('/')) throw new IohangError(`${at}: "${line}" names a path; patches live directly in patches/`, 'Move the file into patches/ and list its bare name');
    if (files.includes(line)) throw new IohangError(`${at}: "${line}" is listed twice`, 'Remove the duplicate line');
    files.push(line);
  });
  return files;
}

/** The Subject of a git format-patch file, unfolded, without [PATCH ...]. */
export function patchSubject(text: string): string | undefined {
  const m = /^Subject: (.*(?:\n[ \t].*)*)/m.exec(text);
  if (!m) return undefined;
  return m[1]!.replace(/\n[ \t]+/g, ' ').replace(/^\[[^\]]*\]\s*/, '').trim();
}

export function readSeries(patchesDir: string): SeriesPatch[] {
  const seriesPath = join(patchesDir, 'series');
  if (!existsSync(seriesPath)) throw new IohangError(`no series file at ${seriesPath}`, 'Create it (it may be empty), or regenerate patches/ with: npx iohang qemu export');
  return parseSeriesFile(readFileSync(seriesPath, 'utf8'), seriesPath).map((file) => {
    const path = join(patchesDir, file);
    if (!existsSync(path)) throw new IohangError(`patches/series lists ${file}, but ${path} does not exist`, 'Restore the file (git checkout -- patches/) or remove its line from patches/series');
    const text = readFileSync(path, 'utf8');
    const subject = patchSubject(text);
    if (!subject) throw new IohangError(`${path} is not a git format-patch file (no Subject: header)`, 'Regenerate it with: npx iohang qemu export');
    const diff = text.slice(Math.max(0, text.search(/^diff --git /m)));
    return { file, subject, path, sha256: sha256(text), diffSha256: sha256(diff) };
  });
}
