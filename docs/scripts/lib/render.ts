/** Markdown for the generated pages. Everything that comes from the sources is escaped. */
import type { BenchData } from './bench.ts';
import { figureSvg, fmt, stats } from './bench.ts';
import type { DeviceProperty, DeviceSupport, DriveOptions } from './options.ts';
import type { Patch } from './patches.ts';
import type { QapiDef } from './qapi.ts';
import { countTests, type TestNode, type TestProject } from './testing.ts';

/** Escape text for Markdown + Vue (VitePress compiles pages as Vue templates). */
export function esc(s: string): string {
  return s
    .replace(/[\\`*_[\]|#]/g, (m) => `\\${m}`)
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/\{/g, '&#123;')
    .replace(/\}/g, '&#125;');
}

/** Inline code span that survives any content. */
export function code(s: string): string {
  const ticks = s.includes('`') ? '``' : '`';
  const pad = s.startsWith('`') || s.endsWith('`') ? ' ' : '';
  return `${ticks}${pad}${s}${pad}${ticks}`;
}

/** Text with code segments: ``rst`` and @qapi-member references become code spans. */
export function richText(s: string): string {
  const out: string[] = [];
  const re = /``(.+?)``|:doc:`([^`]+)`|(?<![\w@])@([\w-]+)/g;
  let last = 0;
  for (const m of s.matchAll(re)) {
    out.push(esc(s.slice(last, m.index)));
    if (m[1] !== undefined) out.push(code(m[1]));
    else if (m[2] !== undefined) out.push(code(`docs${m[2]}.rst`));
    else out.push(code(m[3]!));
    last = m.index! + m[0].length;
  }
  out.push(esc(s.slice(last)));
  return out.join('');
}

function cell(s: string): string {
  return richText(s.replace(/\s*\n\s*/g, ' '));
}

function patchRef(patches: Patch[], index: number | null): string {
  if (index === null) return 'QEMU';
  const p = patches[index - 1];
  return p ? `[${String(index).padStart(2, '0')}](./patches#patch-${String(index).padStart(2, '0')})` : String(index);
}

const GENERATED = (what: string) =>
  `::: info Generated\n${what} This page is written by \`docs/scripts/generate.ts\` on every docs build; edit the sources, not this page.\n:::\n`;

export function anchor(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

export interface ConfigInput {
  patches: Patch[];
  qapi: QapiDef[];
  drive: DriveOptions;
  props: DeviceProperty[];
  support: DeviceSupport[];
  /** io-hang.rst items by term (events). */
  rstEvents: Map<string, string>;
  /** QAPI types returned by existing QMP commands, for "extended" notes. */
  returnedBy: Record<string, string>;
}

function typeRef(type: string, qapi: QapiDef[]): string {
  const bare = type.replace(/^\[|\]$/g, '');
  const def = qapi.find((d) => d.name === bare && d.isNew);
  const inner = def ? `[${code(bare)}](#${anchor(bare)})` : code(bare);
  return type.startsWith('[') ? `array of ${inner}` : inner;
}

function membersTable(def: QapiDef, qapi: QapiDef[], patches: Patch[], onlyAdded: boolean): string {
  const rows = def.members.filter((m) => !onlyAdded || m.addedBy !== null);
  const lines = ['| Member | Type | Description |', '| --- | --- | --- |'];
  for (const m of rows) {
    lines.push(`| ${code(m.name)}${m.optional ? ' (optional)' : ''} | ${typeRef(m.type, qapi)} | ${cell(m.doc)}${onlyAdded ? ` (patch ${patchRef(patches, m.addedBy)})` : ''} |`);
  }
  return lines.join('\n');
}

function defSection(def: QapiDef, input: ConfigInput, level: string): string {
  const out: string[] = [];
  out.push(`${level} ${esc(def.name)} {#${anchor(def.name)}}`, '');
  out.push(`${def.kind === 'event' ? 'Event' : def.kind[0]!.toUpperCase() + def.kind.slice(1)} in ${code(def.file)}, since ${esc(def.since ?? '?')}, added by patch ${patchRef(input.patches, def.addedBy)}.`, '');
  out.push(richText(def.intro).replace(/\n(?!\n)/g, ' '), '');
  if (def.members.length) out.push(membersTable(def, input.qapi, input.patches, false), '');
  const user = input.rstEvents.get(def.name);
  if (user) out.push(`From the user documentation (\`docs/system/io-hang.rst\`): ${richText(user)}`, '');
  for (const s of def.sections) out.push(richText(s), '');
  for (const ex of def.examples) out.push('Example:', '', '```text', ex, '```', '');
  return out.join('\n');
}

export function configurationPage(input: ConfigInput): string {
  const { patches, qapi, drive, props, support } = input;
  const out: string[] = [];
  out.push('# Configuration reference', '');
  out.push(GENERATED('Every item on this page is read from the lines that `patches/` adds to QEMU: `qapi/*.json` (definitions and doc comments), `blockdev.c` and `qemu-options.hx` (`-drive` options), `DEFINE_PROP_*` lines under `hw/` (device properties) and `docs/system/io-hang.rst`. The build fails if the series adds a QAPI definition or member without doc text or `Since:`, or a `-drive` option or property that its documentation does not mention.'));

  out.push('## -drive options {#drive-options}', '');
  out.push('Usage text added to `-drive`:', '', '```text', ...drive.usage, '```', '');
  out.push('| Option | Type | `-help` text (blockdev.c) | Patch |', '| --- | --- | --- | --- |');
  for (const o of drive.options) out.push(`| ${code(o.name)} | ${esc(o.type)} | ${cell(o.help)} | ${patchRef(patches, o.addedBy)} |`);
  out.push('');
  for (const o of drive.options) {
    out.push(`### ${o.name} {#drive-${anchor(o.name)}}`, '', richText(o.userDoc), '');
  }
  for (const m of drive.manual) {
    out.push(`The manual page (\`qemu-options.hx\`), item ${code(m.term)}:`, '', `> ${richText(m.text).replace(/\n\n/g, '\n>\n> ')}`, '');
  }

  out.push('## Device properties {#device-properties}', '');
  const arrays = [...new Set(props.map((p) => p.array))];
  for (const a of arrays) {
    const group = props.filter((p) => p.array === a);
    const first = group[0]!;
    out.push(`### ${esc(first.device)} {#device-${anchor(first.device)}}`, '');
    out.push(`Property list ${code(a)} in ${code(first.file)}.`, '');
    out.push('| Property | Type | Default | Patch |', '| --- | --- | --- | --- |');
    for (const p of group) out.push(`| ${code(p.name)} | ${esc(p.type)} | ${code(p.default)} | ${patchRef(patches, p.addedBy)} |`);
    out.push('');
    for (const n of [...new Set(group.map((p) => p.note).filter(Boolean))]) out.push(`Source comment: ${richText(n)}`, '');
  }
  out.push('### Devices that support I/O hang {#supported-devices}', '');
  out.push('A device opts in by setting `iohang_supported` before `blkconf_apply_backend_options()`; every other device refuses I/O hang at realize.', '');
  for (const s of support) out.push(`- ${code(`${s.func}()`)} in ${code(s.file)}: ${code(s.code)} (patch ${patchRef(patches, s.addedBy)})`);
  out.push('');

  out.push('## QMP commands {#qmp-commands}', '');
  const commands = qapi.filter((d) => d.kind === 'command' && d.isNew);
  if (commands.length === 0) {
    out.push('The series adds no QMP command. It extends what existing commands return:', '');
  }
  for (const d of qapi.filter((x) => !x.isNew)) {
    const cmd = input.returnedBy[d.name];
    const added = d.members.filter((m) => m.addedBy !== null).map((m) => code(m.name)).join(', ');
    out.push(`- ${cmd ? `${code(cmd)} returns ${code(d.name)}` : code(d.name)}, which gains ${added} (see [query-block](#query-block)).`);
  }
  out.push('');
  for (const d of commands) out.push(defSection(d, input, '###'));

  out.push('## query-block {#query-block}', '');
  for (const d of qapi.filter((x) => !x.isNew)) {
    out.push(`Members the series adds to ${code(d.name)}${input.returnedBy[d.name] ? ` (one per disk in ${code(input.returnedBy[d.name]!)})` : ''}:`, '');
    out.push(membersTable(d, qapi, patches, true), '');
  }
  for (const d of qapi.filter((x) => x.isNew && (x.kind === 'struct' || x.kind === 'enum' || x.kind === 'union' || x.kind === 'alternate'))) {
    out.push(defSection(d, input, '###'));
  }

  out.push('## Events {#events}', '');
  for (const d of qapi.filter((x) => x.isNew && x.kind === 'event')) out.push(defSection(d, input, '###'));
  return out.join('\n');
}

export function patchesPage(patches: Patch[]): string {
  const out: string[] = ['# The patch series', ''];
  out.push(GENERATED('Read from `patches/series` and the `git format-patch` files it lists, in order.'));
  out.push(`${patches.length} patches against QEMU 10.0.13. The source of truth is \`patches/\`; \`npx iohang qemu tree\` turns it into a git tree with one commit per patch.`, '');
  out.push('| # | Subject | Files | Changes |', '| --- | --- | --- | --- |');
  for (const p of patches) {
    const summary = /(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?/.exec(p.diffstat);
    const num = String(p.index).padStart(2, '0');
    out.push(`| [${num}](#patch-${num}) | ${cell(p.subject)} | ${summary ? summary[1] : p.files.length} | ${summary ? `+${summary[2] ?? 0} −${summary[3] ?? 0}` : ''} |`);
  }
  out.push('');
  for (const p of patches) {
    const num = String(p.index).padStart(2, '0');
    out.push(`## ${num}. ${esc(p.subject)} {#patch-${num}}`, '');
    out.push(`File: ${code(p.file)}`, '');
    for (const para of p.body.split(/\n\s*\n/)) {
      const lines = para.split('\n');
      if (lines.some((l) => /^\s/.test(l))) out.push('```text', para, '```', '');
      else out.push(esc(lines.join(' ')), '');
    }
    out.push('```text', p.diffstat.replace(/^\n+/, ''), '```', '');
  }
  return out.join('\n');
}

function testList(nodes: TestNode[], depth: number): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const mode = n.mode === 'run' ? '' : ` *(${n.mode})*`;
    if (n.type === 'suite') {
      out.push(`${'  '.repeat(depth)}- **${esc(n.name)}**${mode}`);
      out.push(...testList(n.children, depth + 1));
    } else out.push(`${'  '.repeat(depth)}- ${esc(n.name)}${mode}`);
  }
  return out;
}

export function testingPage(projects: TestProject[]): string {
  const files = projects.flatMap((p) => p.files);
  const total = files.reduce((n, f) => n + countTests(f.tests), 0);
  const out: string[] = ['# Testing matrix', ''];
  out.push(GENERATED(`The titles below are collected from ${projects.map((p) => code(`${p.root}/`)).join(' and ')} by vitest itself (its \`list\` mode imports each test file and expands \`.each\`, but runs no hook and no test).`));
  out.push(`${total} tests in ${files.length} files. They run with \`npm test\` (CI), one project at a time; the scenarios boot a Debian guest on the patched QEMU under TCG. [Design, part 7](/design/io-hang#_7-testing) explains what each scenario proves.`, '');
  out.push('| File | Tests | About |', '| --- | --- | --- |');
  for (const f of files) out.push(`| [${esc(f.path)}](#${anchor(f.path)}) | ${countTests(f.tests)} | ${cell(f.doc)} |`);
  out.push('');
  for (const p of projects) {
    out.push(`## ${esc(p.root)} {#${anchor(p.root)}}`, '');
    for (const f of p.files) {
      out.push(`### ${esc(f.path.slice(p.root.length + 1))} {#${anchor(f.path)}}`, '');
      if (f.doc) out.push(richText(f.doc), '');
      if (f.staticallyParsed) {
        out.push(`::: warning Read without importing\nThis file could not be imported (${esc(f.importError)}), so its titles come from vitest's static parser: parameterised titles are shown as templates (\`%s\`).\n:::`, '');
      }
      out.push(...testList(f.tests, 0), '');
    }
  }
  return out.join('\n');
}

export function benchPage(bench: BenchData | null, source: string): string {
  const out: string[] = ['# Benchmarks', ''];
  if (!bench) {
    out.push(GENERATED(`Built from \`${source}\` when that file exists.`));
    out.push('No benchmark run has been recorded yet.', '');
    out.push('To record one, run the benchmarks against the patched QEMU and rebuild the docs:', '');
    out.push('```sh', 'npx iohang bench             # writes docs/data/bench.json', 'npx nx run @iohang/docs:docs  # or: make docs', '```', '');
    out.push('Each figure in `bench.json` then gets a table (n, p10, median, p90 per series) and a plot on this page.', '');
    return out.join('\n');
  }
  out.push(GENERATED(`Built from \`${source}\`, written by \`npx iohang bench\`.`));
  out.push(`Recorded ${esc(bench.date)} on ${esc(bench.host)}. QEMU: ${esc(bench.qemu)}.`, '');
  out.push('Each plot shows every measured value as a dot, the 10th to 90th percentile as a bar and the median as a vertical line. Percentiles interpolate linearly between the closest ranks.', '');
  for (const f of bench.figures) {
    out.push(`## ${esc(f.id)}: ${esc(f.title)} {#${anchor(f.id)}}`, '');
    if (f.description) out.push(esc(f.description), '');
    out.push(`| Series | n | p10 (${esc(f.unit)}) | median (${esc(f.unit)}) | p90 (${esc(f.unit)}) |`, '| --- | --: | --: | --: | --: |');
    for (const s of f.series) {
      const st = stats(s.values);
      out.push(`| ${esc(s.label)} | ${st.n} | ${fmt(st.p10)} | ${fmt(st.median)} | ${fmt(st.p90)} |`);
    }
    out.push('', `<figure class="bench-figure">${figureSvg(f)}</figure>`, '');
    if (f.summary) out.push(`**Summary:** ${esc(f.summary)}`, '');
  }
  return out.join('\n');
}
