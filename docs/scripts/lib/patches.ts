/**
 * Reading the patch series (`git format-patch` files listed in patches/series) and applying it
 * to a *sparse* tree: we do not have QEMU's source here, only the hunks, so each file is kept
 * as the lines the hunks show (context and added lines) at their exact line numbers after
 * every patch. Lines between hunks are unknown but their numbers shift correctly, so later
 * patches that edit lines added by earlier ones (e.g. patch 09 rewording patch 04's
 * qemu-options.hx text) land where git would put them, and a context line that contradicts
 * what an earlier patch left there is an error.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError } from '@iohang/core';
import { patchSubject, readSeries, type SeriesPatch } from '@iohang/builder';

export class GenerateError extends Error {
  override name = 'GenerateError';
}

export interface HunkLine {
  kind: ' ' | '+' | '-';
  text: string;
}

export interface Hunk {
  oldStart: number;
  oldLines: number;
  newStart: number;
  newLines: number;
  /** The text after the second `@@`: git's guess at the enclosing function. */
  section: string;
  lines: HunkLine[];
}

export interface FileDiff {
  oldPath: string | null;
  newPath: string | null;
  hunks: Hunk[];
}

export interface Patch {
  /** File name in patches/. */
  file: string;
  /** 1-based position in the series. */
  index: number;
  subject: string;
  author: string;
  date: string;
  /** Commit message body (without the subject), trimmed. */
  body: string;
  /** git's diffstat block, as printed after `---`. */
  diffstat: string;
  files: FileDiff[];
}

const HUNK_RE = /^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@ ?(.*)$/;

/** Parse one `git format-patch` file. Throws GenerateError naming the file on anything odd. */
export function parsePatch(text: string, file: string, index = 0): Patch {
  const lines = text.replace(/\r\n/g, '\n').split('\n');
  const fail = (msg: string, line?: number): never => {
    throw new GenerateError(`${file}${line !== undefined ? `:${line + 1}` : ''}: ${msg}`);
  };

  // Mail headers, with RFC 822 continuation lines.
  const headers = new Map<string, string>();
  let i = 0;
  if (lines[0]?.startsWith('From ')) i = 1;
  let last: string | null = null;
  for (; i < lines.length && lines[i] !== ''; i++) {
    const l = lines[i]!;
    if (/^\s/.test(l) && last) {
      headers.set(last, `${headers.get(last)} ${l.trim()}`);
      continue;
    }
    const m = /^([A-Za-z-]+):\s?(.*)$/.exec(l);
    if (!m) fail(`unexpected mail header line "${l}"`, i);
    last = m![1]!.toLowerCase();
    headers.set(last, m![2]!);
  }
  const subject = patchSubject(text);
  if (!subject) fail('no Subject: header (not git format-patch output?)');

  // Body up to the first "---" line, then the diffstat up to the first "diff --git".
  i++;
  const bodyLines: string[] = [];
  for (; i < lines.length && lines[i] !== '---'; i++) {
    if (lines[i]!.startsWith('diff --git ')) fail('no "---" line between the commit message and the diff', i);
    bodyLines.push(lines[i]!);
  }
  if (i >= lines.length) fail('no "---" line after the commit message');
  i++;
  const statLines: string[] = [];
  for (; i < lines.length && !lines[i]!.startsWith('diff --git '); i++) statLines.push(lines[i]!);

  const files: FileDiff[] = [];
  let cur: FileDiff | null = null;
  while (i < lines.length) {
    const l = lines[i]!;
    if (l.startsWith('diff --git ')) {
      cur = { oldPath: null, newPath: null, hunks: [] };
      files.push(cur);
      i++;
      continue;
    }
    if (l === '-- ' ) break; // format-patch signature: "-- \n2.39.5"
    if (!cur) { i++; continue; }
    if (l.startsWith('--- ')) {
      cur.oldPath = l === '--- /dev/null' ? null : l.slice(4).replace(/^a\//, '');
      i++;
      continue;
    }
    if (l.startsWith('+++ ')) {
      cur.newPath = l === '+++ /dev/null' ? null : l.slice(4).replace(/^b\//, '');
      i++;
      continue;
    }
    const h = HUNK_RE.exec(l);
    if (h) {
      const hunk: Hunk = {
        oldStart: Number(h[1]),
        oldLines: h[2] === undefined ? 1 : Number(h[2]),
        newStart: Number(h[3]),
        newLines: h[4] === undefined ? 1 : Number(h[4]),
        section: h[5] ?? '',
        lines: [],
      };
      i++;
      let oldSeen = 0;
      let newSeen = 0;
      while (oldSeen < hunk.oldLines || newSeen < hunk.newLines) {
        if (i >= lines.length) fail(`hunk "${l}" ends early`, i);
        const hl = lines[i]!;
        if (hl.startsWith('\\')) { i++; continue; } // "\ No newline at end of file"
        const kind = (hl[0] ?? ' ') as HunkLine['kind'];
        if (kind !== ' ' && kind !== '+' && kind !== '-') fail(`bad line in hunk "${l}": "${hl}"`, i);
        hunk.lines.push({ kind, text: hl.slice(1) });
        if (kind !== '+') oldSeen++;
        if (kind !== '-') newSeen++;
        i++;
      }
      if (oldSeen !== hunk.oldLines || newSeen !== hunk.newLines) fail(`hunk "${l}" has the wrong line counts`, i);
      while (lines[i]?.startsWith('\\')) i++;
      cur.hunks.push(hunk);
      continue;
    }
    i++; // index, mode, similarity, rename lines
  }

  return {
    file,
    index,
    subject: subject!,
    author: headers.get('from') ?? '',
    date: headers.get('date') ?? '',
    body: bodyLines.join('\n').trim(),
    diffstat: statLines.join('\n').replace(/\s+$/, ''),
    files,
  };
}

/** patches/series (comments and blank lines ignored), every listed file parsed. */
export function loadSeries(patchesDir: string): Patch[] {
  // The builder's reader of patches/series, so that the site and the build agree on the series.
  let listed: SeriesPatch[];
  try {
    listed = readSeries(patchesDir);
  } catch (e) {
    if (e instanceof IohangError) throw new GenerateError(`${e.message}${e.fix ? ` (${e.fix})` : ''}`);
    throw e;
  }
  const seriesFile = join(patchesDir, 'series');
  if (listed.length === 0) throw new GenerateError(`${seriesFile} lists no patch`);
  const unlisted = readdirSync(patchesDir).filter((f) => f.endsWith('.patch') && !listed.some((p) => p.file === f));
  if (unlisted.length) throw new GenerateError(`patches not listed in ${seriesFile}: ${unlisted.join(', ')}`);
  return listed.map((p, n) => parsePatch(readFileSync(p.path, 'utf8'), p.file, n + 1));
}

/** One line of a sparse file. */
export interface KnownLine {
  /** 1-based line number in the file after the whole series. */
  n: number;
  text: string;
  /** Index (1-based) of the patch that added the line; null for QEMU's own lines. */
  addedBy: number | null;
  /**
   * For added lines: the base (pre-series) lines that the hunks which produced this line
   * removed, so that a rewritten line (`'a', 'b' } }` -> `'a', 'b',`) can be told apart
   * from new content.
   */
  replaces: string[];
  /** The hunk's section text (enclosing function) when the line was last touched. */
  section: string;
}

/** A file as far as the series shows it: known lines sorted by number. */
export interface SparseFile {
  path: string;
  /** True if the series creates the file, in which case every line is known. */
  created: boolean;
  lines: KnownLine[];
}

/** Contiguous runs of known lines. */
export function runsOf(file: SparseFile): KnownLine[][] {
  const runs: KnownLine[][] = [];
  for (const l of file.lines) {
    const run = runs[runs.length - 1];
    if (run && run[run.length - 1]!.n === l.n - 1) run.push(l);
    else runs.push([l]);
  }
  return runs;
}

/** Apply the series to a sparse tree. Throws if a hunk contradicts what earlier patches left. */
export function applySeries(patches: Patch[]): Map<string, SparseFile> {
  const tree = new Map<string, SparseFile>();
  for (const p of patches) {
    for (const fd of p.files) {
      const path = fd.newPath ?? fd.oldPath;
      if (!path) continue;
      if (fd.newPath === null) { tree.delete(fd.oldPath!); continue; }
      let file = fd.oldPath ? tree.get(fd.oldPath) : undefined;
      if (fd.oldPath && fd.oldPath !== fd.newPath) tree.delete(fd.oldPath);
      if (!file) file = { path, created: fd.oldPath === null, lines: [] };
      file.path = path;
      file.lines = applyHunks(file, fd.hunks, p);
      tree.set(path, file);
    }
  }
  return tree;
}

function applyHunks(file: SparseFile, hunks: Hunk[], p: Patch): KnownLine[] {
  const byNumber = new Map(file.lines.map((l) => [l.n, l]));
  const out: KnownLine[] = [];
  // Old lines outside every hunk move by the hunks before them.
  const ranges = hunks.map((h) => ({ from: h.oldLines === 0 ? h.oldStart + 1 : h.oldStart, to: h.oldLines === 0 ? h.oldStart : h.oldStart + h.oldLines - 1, delta: h.newLines - h.oldLines }));
  for (const l of file.lines) {
    if (ranges.some((r) => l.n >= r.from && l.n <= r.to)) continue;
    const shift = ranges.filter((r) => r.to < l.n).reduce((s, r) => s + r.delta, 0);
    out.push({ ...l, n: l.n + shift });
  }
  for (const h of hunks) {
    let oldN = h.oldLines === 0 ? h.oldStart + 1 : h.oldStart;
    let newN = h.newLines === 0 ? h.newStart + 1 : h.newStart;
    const replaces: string[] = [];
    for (const hl of h.lines) {
      if (hl.kind === '-') {
        const known = byNumber.get(oldN);
        if (!known || known.addedBy === null) replaces.push(hl.text);
        else replaces.push(...known.replaces);
      }
      if (hl.kind !== '+') oldN++;
    }
    oldN = h.oldLines === 0 ? h.oldStart + 1 : h.oldStart;
    for (const hl of h.lines) {
      if (hl.kind !== '+') {
        const known = byNumber.get(oldN);
        if (known && known.text !== hl.text) {
          throw new GenerateError(
            `${p.file}: hunk "@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@" in ${file.path} expects line ${oldN} to be\n  ${JSON.stringify(hl.text)}\nbut the patches before it left\n  ${JSON.stringify(known.text)}`,
          );
        }
        if (hl.kind === ' ') {
          out.push(known ? { ...known, n: newN, section: known.section || h.section } : { n: newN, text: hl.text, addedBy: null, replaces: [], section: h.section });
          newN++;
        }
        oldN++;
      } else {
        out.push({ n: newN, text: hl.text, addedBy: p.index, replaces, section: h.section });
        newN++;
      }
    }
  }
  out.sort((a, b) => a.n - b.n);
  for (let k = 1; k < out.length; k++) {
    if (out[k]!.n === out[k - 1]!.n) throw new GenerateError(`${p.file}: overlapping hunks in ${file.path} at line ${out[k]!.n}`);
  }
  return out;
}

/** The full text of a file the series creates (throws if the series only edits it). */
export function fullText(tree: Map<string, SparseFile>, path: string): string {
  const f = tree.get(path);
  if (!f) throw new GenerateError(`the series has no file ${path}`);
  if (!f.created) throw new GenerateError(`the series does not create ${path}, so its full text is unknown`);
  return f.lines.map((l) => l.text).join('\n');
}
