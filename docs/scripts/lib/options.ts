/**
 * The user-facing configuration the series adds outside QAPI: -drive options (blockdev.c's
 * qemu_common_drive_opts and qemu-options.hx), device properties (DEFINE_PROP_* lines in hw/)
 * and which devices opt in (`iohang_supported = ...`). Cross-checked against each other and
 * against docs/system/io-hang.rst; a name that one of them has and another lacks is a
 * GenerateError naming it.
 */
import { GenerateError, runsOf, type KnownLine, type SparseFile } from './patches.ts';

export interface DriveOption {
  name: string;
  /** QEMU_OPT_BOOL -> "on/off" and so on. */
  type: string;
  /** The .help text in blockdev.c. */
  help: string;
  /** The item for this option in docs/system/io-hang.rst, if any. */
  userDoc: string;
  addedBy: number;
}

export interface DriveOptions {
  options: DriveOption[];
  /** The line(s) the series adds to -drive's usage text in qemu-options.hx. */
  usage: string[];
  /** The qemu-options.hx SRST item(s): term and text. */
  manual: { term: string; text: string }[];
}

export interface DeviceProperty {
  name: string;
  /** e.g. "on/off/auto", "uint32". */
  type: string;
  default: string;
  /** The property array, e.g. virtio_blk_properties. */
  array: string;
  /** The device derived from the array name, e.g. virtio-blk. */
  device: string;
  file: string;
  /** An added comment right above the property group, if any. */
  note: string;
  addedBy: number;
}

export interface DeviceSupport {
  file: string;
  func: string;
  /** e.g. "dev->conf.iohang_supported = kind == IDE_HD". */
  code: string;
  addedBy: number;
}

const OPT_TYPES: Record<string, string> = {
  QEMU_OPT_BOOL: 'on/off',
  QEMU_OPT_NUMBER: 'number',
  QEMU_OPT_STRING: 'string',
  QEMU_OPT_SIZE: 'size',
};

const PROP_TYPES: Record<string, string> = {
  ON_OFF_AUTO: 'on/off/auto',
  BOOL: 'bool',
  UINT8: 'uint8',
  UINT16: 'uint16',
  UINT32: 'uint32',
  UINT64: 'uint64',
  INT32: 'int32',
  INT64: 'int64',
  SIZE: 'size',
  STRING: 'string',
};

/** Concatenate C string literals: `"a " "b"` -> `a b`. */
function cStrings(src: string): string {
  return [...src.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]!.replace(/\\n/g, '\n').replace(/\\(.)/g, '$1')).join('');
}

/** Definition-list items of an RST text at the given indentation: ``term`` + indented text. */
export function rstItems(text: string, indent = 0): { term: string; text: string }[] {
  const lines = text.split('\n');
  const pad = ' '.repeat(indent);
  const items: { term: string; text: string }[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = new RegExp(`^${pad}\`\`(.+)\`\`\\s*$`).exec(lines[i]!);
    if (!m) continue;
    const body: string[] = [];
    let j = i + 1;
    for (; j < lines.length; j++) {
      const l = lines[j]!;
      if (l.trim() === '') { if (body.length && !(lines[j + 1] ?? '').startsWith(`${pad}    `)) break; body.push(''); continue; }
      if (!l.startsWith(`${pad}    `)) break;
      body.push(l.trim());
    }
    if (body.length) items.push({ term: m[1]!, text: body.join('\n').replace(/\n(?!\n)/g, ' ').replace(/ *\n+ */g, '\n\n').trim() });
    i = j - 1;
  }
  return items;
}

/** `iohang=on|off,iohang-timeout=t` -> [iohang, iohang-timeout]. */
function namesInTerm(term: string): string[] {
  return term.split(',').map((p) => p.split('=')[0]!.trim()).filter(Boolean);
}

function added(lines: KnownLine[]): KnownLine[] {
  return lines.filter((l) => l.addedBy !== null);
}

export function driveOptions(tree: Map<string, SparseFile>, rst: string): DriveOptions {
  const problems: string[] = [];
  const blockdev = tree.get('blockdev.c');
  const hx = tree.get('qemu-options.hx');
  const options: DriveOption[] = [];
  if (blockdev) {
    for (const run of runsOf(blockdev)) {
      // QemuOptDesc entries: .name = "...", .type = QEMU_OPT_..., .help = "..." "...".
      const text = run.map((l) => l.text).join('\n');
      const re = /\.name\s*=\s*"([^"]+)",\s*\.type\s*=\s*(QEMU_OPT_\w+),(?:\s*\.help\s*=\s*((?:"(?:[^"\\]|\\.)*"\s*)+))?/g;
      for (const m of text.matchAll(re)) {
        const lineNo = text.slice(0, m.index).split('\n').length - 1;
        const line = run[lineNo]!;
        if (line.addedBy === null) continue;
        const help = m[3] ? cStrings(m[3]) : '';
        if (!help.trim()) problems.push(`-drive option ${m[1]} (blockdev.c) has no .help text`);
        options.push({ name: m[1]!, type: OPT_TYPES[m[2]!] ?? m[2]!, help, userDoc: '', addedBy: line.addedBy });
      }
    }
  }
  const usage: string[] = [];
  const manual: { term: string; text: string }[] = [];
  if (hx) {
    for (const run of runsOf(hx)) {
      for (const l of added(run)) {
        if (l.section.includes('DEF("drive"') && /^\s*"/.test(l.text)) usage.push(cStrings(l.text).trim());
      }
      // SRST items: the series' own ones (term line added), with the text as it is now.
      const items = rstItems(run.map((l) => l.text).join('\n'), 4);
      for (const it of items) {
        const termLine = run.find((l) => l.text.trim() === `\`\`${it.term}\`\``);
        if (termLine?.addedBy != null) manual.push(it);
      }
    }
  }
  const usageNames = new Set(usage.flatMap((u) => [...u.matchAll(/\[,([\w-]+)=/g)].map((m) => m[1]!)));
  const manualNames = new Set(manual.flatMap((m) => namesInTerm(m.term)));
  const userItems = rstItems(rst, 0);
  for (const o of options) {
    if (!usageNames.has(o.name)) problems.push(`-drive option ${o.name} (blockdev.c) is missing from -drive's usage text in qemu-options.hx`);
    if (!manualNames.has(o.name)) problems.push(`-drive option ${o.name} (blockdev.c) is not described in qemu-options.hx`);
    const item = userItems.find((it) => namesInTerm(it.term)[0] === o.name);
    if (!item) problems.push(`-drive option ${o.name} (blockdev.c) has no item in docs/system/io-hang.rst`);
    else o.userDoc = item.text;
  }
  for (const n of usageNames) {
    if (!options.some((o) => o.name === n)) problems.push(`qemu-options.hx's usage text has -drive option ${n}, which blockdev.c does not accept`);
  }
  if (problems.length) throw new GenerateError(`-drive options added by the series:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { options, usage, manual };
}

function enclosingFunction(run: KnownLine[], idx: number): string {
  for (let k = idx; k >= 0; k--) {
    const m = /^(?:static\s+)?[\w\s*]+?\b(\w+)\s*\([^;]*$/.exec(run[k]!.text);
    if (m && !run[k]!.text.startsWith(' ') && !run[k]!.text.startsWith('\t')) return m[1]!;
  }
  const m = /\b(\w+)\s*\(/.exec(run[idx]!.section);
  return m ? m[1]! : '?';
}

export function deviceProperties(tree: Map<string, SparseFile>, rst: string): { properties: DeviceProperty[]; support: DeviceSupport[] } {
  const problems: string[] = [];
  const properties: DeviceProperty[] = [];
  const support: DeviceSupport[] = [];
  for (const [path, file] of [...tree].sort(([a], [b]) => a.localeCompare(b))) {
    if (!path.startsWith('hw/')) continue;
    for (const run of runsOf(file)) {
      for (let i = 0; i < run.length; i++) {
        const l = run[i]!;
        if (l.addedBy === null) continue;
        const sup = /^\s*(\S+?iohang_supported)\s*=\s*(.+);\s*$/.exec(l.text);
        if (sup) support.push({ file: path, func: enclosingFunction(run, i), code: `${sup[1]} = ${sup[2]}`, addedBy: l.addedBy });
        if (!/^\s*DEFINE_PROP_/.test(l.text)) continue;
        // Join continuation lines until the parentheses balance.
        let call = l.text.trim();
        let j = i;
        while ((call.match(/\(/g) ?? []).length > (call.match(/\)/g) ?? []).length && j + 1 < run.length) call += ` ${run[++j]!.text.trim()}`;
        const m = /^DEFINE_PROP_(\w+)\(\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*([\w.>-]+)\s*,\s*(.+?)\s*\)\s*,?$/.exec(call);
        if (!m) { problems.push(`${path}:${l.n}: cannot read the property definition "${call}"`); continue; }
        let array = '?';
        for (let k = i; k >= 0; k--) {
          const a = /\bProperty\s+(\w+)\s*\[\]/.exec(run[k]!.text);
          if (a) { array = a[1]!; break; }
        }
        // The added comment right above this property group.
        let note = '';
        let k = i - 1;
        while (k >= 0 && /^\s*DEFINE_PROP_|^\s+\S.*\),?$/.test(run[k]!.text) && run[k]!.addedBy !== null) k--;
        if (k >= 0 && /\*\/\s*$/.test(run[k]!.text) && run[k]!.addedBy !== null) {
          const c: string[] = [];
          for (; k >= 0; k--) {
            c.unshift(run[k]!.text);
            if (/\/\*/.test(run[k]!.text)) break;
          }
          note = c.map((x) => x.replace(/^\s*\/?\*+\/?\s?/, '').replace(/\s*\*\/\s*$/, '')).join(' ').replace(/\s+/g, ' ').trim();
        }
        const type = m[1]!;
        const def = m[5]!.replace(/^ON_OFF_AUTO_/, '').toLowerCase();
        properties.push({
          name: m[2]!,
          type: PROP_TYPES[type] ?? type.toLowerCase(),
          default: def,
          array,
          device: array.replace(/_properties$/, '').replace(/_/g, '-'),
          file: path,
          note,
          addedBy: l.addedBy,
        });
        i = j;
      }
    }
  }
  for (const p of properties) {
    if (!rst.includes(p.name)) problems.push(`device property ${p.name} (${p.file}, ${p.array}) is not mentioned in docs/system/io-hang.rst`);
  }
  if (problems.length) throw new GenerateError(`device properties added by the series:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  return { properties, support };
}

/** The ``TERM`` items of io-hang.rst whose term is one of the given names (events etc.). */
export function rstItemFor(rst: string, name: string): string | null {
  return rstItems(rst, 0).find((it) => it.term === name)?.text ?? null;
}
