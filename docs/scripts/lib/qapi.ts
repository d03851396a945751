/**
 * QAPI definitions and doc comments that the series adds, read from the sparse qapi/*.json
 * (see patches.ts). Every definition the series adds must have a doc comment with text, a
 * `Since:` line and text for each member; every member the series adds to an existing
 * definition must have doc text with "(since X.Y)". Anything missing is a GenerateError that
 * names the item, so the reference cannot silently lose documentation.
 */
import { GenerateError, runsOf, type KnownLine, type Patch, type SparseFile } from './patches.ts';

export type QapiKind = 'struct' | 'event' | 'command' | 'enum' | 'union' | 'alternate';

export interface QapiMember {
  name: string;
  type: string;
  optional: boolean;
  doc: string;
  /** Patch index that added the member, or null if QEMU already had it. */
  addedBy: number | null;
}

export interface QapiDef {
  kind: QapiKind;
  name: string;
  file: string;
  /** True if the series adds the whole definition; false if it only adds members. */
  isNew: boolean;
  /** Patch index that added the definition (or its first new member). */
  addedBy: number;
  intro: string;
  since: string | null;
  members: QapiMember[];
  examples: string[];
  /** Other sections (Returns:, Errors:, Features:, ...) as "Title: text". */
  sections: string[];
  /** For commands: the return type. */
  returns: string | null;
}

interface DocBlock {
  /** Doc lines with the leading "# " or "#" removed. */
  lines: { text: string; src: KnownLine }[];
  /** The block's "##" opening line was visible. */
  complete: boolean;
}

interface ParsedDoc {
  name: string | null;
  intro: string;
  members: Map<string, { text: string; src: KnownLine }>;
  since: string | null;
  examples: string[];
  sections: string[];
}

const KINDS: QapiKind[] = ['struct', 'event', 'command', 'enum', 'union', 'alternate'];

function stripHash(t: string): string {
  if (t === '#') return '';
  return t.startsWith('# ') ? t.slice(2) : t.slice(1);
}

/** Parse the doc lines of one block (QAPI's "new style": member text continues indented). */
export function parseDoc(block: DocBlock): ParsedDoc {
  const res: ParsedDoc = { name: null, intro: '', members: new Map(), since: null, examples: [], sections: [] };
  const intro: string[] = [];
  let cur: { kind: 'intro' } | { kind: 'member'; name: string } | { kind: 'example'; buf: string[] } | { kind: 'section'; title: string; buf: string[] } = { kind: 'intro' };
  const flush = () => {
    if (cur.kind === 'example') res.examples.push(dedent(cur.buf).join('\n').trim());
    if (cur.kind === 'section') res.sections.push(`${cur.title}: ${cur.buf.join(' ').replace(/\s+/g, ' ').trim()}`);
  };
  let first = true;
  for (const { text, src } of block.lines) {
    if (first && block.complete) {
      first = false;
      const m = /^@([\w-]+):\s*(.*)$/.exec(text);
      if (m) {
        res.name = m[1]!;
        if (m[2]) intro.push(m[2]);
        continue;
      }
    }
    first = false;
    const member = /^@([\w-]+):\s*(.*)$/.exec(text);
    if (member) {
      flush();
      cur = { kind: 'member', name: member[1]! };
      res.members.set(member[1]!, { text: member[2]!, src });
      continue;
    }
    const since = /^Since:\s*(.*)$/.exec(text);
    if (since) {
      flush();
      res.since = since[1]!.trim() || null;
      cur = { kind: 'intro' };
      continue;
    }
    if (/^\.\. qmp-example::/.test(text)) {
      flush();
      cur = { kind: 'example', buf: [] };
      continue;
    }
    const section = /^(Returns|Errors|Features|Note|Notes|TODO):\s*(.*)$/.exec(text);
    if (section) {
      flush();
      cur = { kind: 'section', title: section[1]!, buf: [section[2]!] };
      continue;
    }
    if (cur.kind === 'member') {
      if (text.trim() === '') { cur = { kind: 'intro' }; continue; }
      const m = res.members.get(cur.name)!;
      m.text = `${m.text} ${text.trim()}`.trim();
      continue;
    }
    if (cur.kind === 'example' || cur.kind === 'section') {
      cur.buf.push(text);
      continue;
    }
    intro.push(text);
  }
  flush();
  res.intro = intro.join('\n').replace(/\n{3,}/g, '\n\n').trim();
  return res;
}

function dedent(lines: string[]): string[] {
  const indents = lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length);
  const n = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(n));
}

/** QAPI's JSON dialect (single quotes, comments) to a JS value. */
export function parseQapiExpr(text: string): unknown {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      let s = '';
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\') { s += text[i + 1]; i += 2; continue; }
        s += text[i];
        i++;
      }
      out += JSON.stringify(s);
    } else if (c === '#') {
      while (i < text.length && text[i] !== '\n') i++;
    } else out += c;
  }
  return JSON.parse(out);
}

function braceDepthDelta(line: string): number {
  let d = 0;
  let inStr = false;
  for (const c of line) {
    if (c === "'") inStr = !inStr;
    else if (!inStr && (c === '{' || c === '[')) d++;
    else if (!inStr && (c === '}' || c === ']')) d--;
  }
  return d;
}

function typeName(t: unknown): string {
  if (Array.isArray(t)) return `[${typeName(t[0])}]`;
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && 'type' in t) return typeName((t as { type: unknown }).type);
  return JSON.stringify(t);
}

/** Keys that a line of a QAPI expression defines (`'*io-hang': ...` -> io-hang). */
function keysOn(text: string): string[] {
  return [...text.matchAll(/'\*?([\w-]+)'\s*:/g)].map((m) => m[1]!);
}

interface RawDef {
  kind: QapiKind;
  name: string;
  expr: Record<string, unknown>;
  lines: KnownLine[];
  doc: DocBlock | null;
}

/** Find every complete definition in the known lines of a QAPI file, with its doc block. */
function rawDefs(file: SparseFile): RawDef[] {
  const defs: RawDef[] = [];
  for (const run of runsOf(file)) {
    // 'tail': the run may start inside a doc block whose "##" is not visible.
    let state: 'tail' | 'doc' | 'out' = 'tail';
    let docLines: DocBlock['lines'] = [];
    let pending: DocBlock | null = null;
    for (let i = 0; i < run.length; i++) {
      const l = run[i]!;
      const t = l.text;
      if (t === '##') {
        if (state === 'doc' || (state === 'tail' && docLines.length)) {
          pending = { lines: docLines, complete: state === 'doc' };
          state = 'out';
        } else {
          state = 'doc';
          docLines = [];
        }
        continue;
      }
      if (t.startsWith('#')) {
        if (state !== 'out') docLines.push({ text: stripHash(t), src: l });
        continue;
      }
      if (t.startsWith('{')) {
        const lines: KnownLine[] = [];
        let depth = 0;
        let j = i;
        for (; j < run.length; j++) {
          lines.push(run[j]!);
          depth += braceDepthDelta(run[j]!.text);
          if (depth === 0) break;
        }
        const doc = state === 'out' ? pending : null;
        pending = null;
        state = 'out';
        if (depth !== 0) {
          if (lines.some((x) => x.addedBy !== null)) {
            throw new GenerateError(`${file.path}:${l.n}: the series changes a QAPI definition whose end is not visible in the patches`);
          }
          break;
        }
        const expr = parseQapiExpr(lines.map((x) => x.text).join('\n')) as Record<string, unknown>;
        const kind = KINDS.find((k) => k in expr);
        if (kind) defs.push({ kind, name: String(expr[kind]), expr, lines, doc });
        i = j;
        continue;
      }
      if (state !== 'out') { state = 'out'; docLines = []; }
    }
  }
  return defs;
}

function membersOf(def: RawDef): { name: string; type: string; optional: boolean }[] {
  const data = def.expr.data;
  if (def.kind === 'enum' && Array.isArray(data)) {
    return data.map((v) => ({ name: typeof v === 'string' ? v : String((v as { name: string }).name), type: '', optional: false }));
  }
  if (data && typeof data === 'object' && !Array.isArray(data)) {
    return Object.entries(data as Record<string, unknown>).map(([k, v]) => ({ name: k.replace(/^\*/, ''), type: typeName(v), optional: k.startsWith('*') }));
  }
  return [];
}

/**
 * The QAPI definitions the series adds or extends, in file order. Throws a GenerateError
 * listing every undocumented item.
 */
export function qapiFromSeries(tree: Map<string, SparseFile>, patches: Patch[]): QapiDef[] {
  const problems: string[] = [];
  const out: QapiDef[] = [];
  const patchName = (i: number | null) => (i === null ? 'QEMU' : (patches[i - 1]?.file ?? `patch ${i}`));
  for (const [path, file] of [...tree].sort(([a], [b]) => a.localeCompare(b))) {
    if (!/^qapi\/.*\.json$/.test(path)) continue;
    for (const def of rawDefs(file)) {
      const head = def.lines[0]!;
      const isNew = head.addedBy !== null && !head.replaces.some((r) => r.includes(`'${def.name}'`));
      const members = membersOf(def).map((m) => {
        const line = def.lines.find((l) => keysOn(l.text).includes(m.name));
        const added = line && line.addedBy !== null && !line.replaces.some((r) => keysOn(r).includes(m.name)) ? line.addedBy : null;
        // In a new definition, a member a later patch added is that patch's.
        return { ...m, addedBy: isNew ? (added ?? head.addedBy) : added };
      });
      const addedMembers = members.filter((m) => m.addedBy !== null);
      if (!isNew && addedMembers.length === 0) continue;
      const what = `${def.kind} ${def.name}`;
      const doc = def.doc ? parseDoc(def.doc) : null;
      if (isNew) {
        const by = patchName(head.addedBy);
        if (!doc || !def.doc!.complete) problems.push(`${what} (added by ${by}) has no doc comment`);
        else {
          if (doc.name !== def.name) problems.push(`${what} (added by ${by}): its doc comment is for @${doc.name ?? '?'}, not @${def.name}`);
          if (!doc.intro) problems.push(`${what} (added by ${by}) has no doc text`);
          if (!doc.since) problems.push(`${what} (added by ${by}) has no "Since:" line in its doc comment`);
          for (const m of members) {
            const d = doc.members.get(m.name);
            if (!d || !d.text.trim()) problems.push(`${what} member ${m.name} (added by ${patchName(m.addedBy!)}) has no doc text`);
          }
        }
      } else {
        for (const m of addedMembers) {
          const by = patchName(m.addedBy);
          const d = doc?.members.get(m.name);
          if (!d || !d.text.trim()) problems.push(`${what} member ${m.name} (added by ${by}) has no doc text`);
          else if (!/\(since [\d.]+\)/i.test(d.text)) problems.push(`${what} member ${m.name} (added by ${by}) has no "(since X.Y)" in its doc text`);
        }
      }
      const returns = def.expr.returns === undefined ? null : typeName(def.expr.returns);
      out.push({
        kind: def.kind,
        name: def.name,
        file: path,
        isNew,
        addedBy: (isNew ? head.addedBy : addedMembers[0]!.addedBy)!,
        intro: isNew ? (doc?.intro ?? '') : '',
        since: isNew ? (doc?.since ?? null) : null,
        members: members.map((m) => ({ ...m, doc: doc?.members.get(m.name)?.text ?? '' })),
        examples: isNew ? (doc?.examples ?? []) : [],
        sections: isNew ? (doc?.sections ?? []) : [],
        returns,
      });
    }
  }
  if (problems.length) {
    throw new GenerateError(`undocumented QAPI items added by the series:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
  return out;
}
