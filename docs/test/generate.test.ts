/**
 * The generator: the reference is read from the patches, and a series that adds something
 * undocumented fails the build with a message naming the item ("cannot drift").
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { figureSvg, percentile, stats, validateBench } from '../scripts/lib/bench.ts';
import { applySeries, GenerateError, loadSeries, parsePatch } from '../scripts/lib/patches.ts';
import { qapiFromSeries } from '../scripts/lib/qapi.ts';
import { benchPage, testingPage } from '../scripts/lib/render.ts';
import { collectProject, countTests } from '../scripts/lib/testing.ts';
import { DOCS_ROOT, pagesFromSeries, readBench, WORKSPACE_ROOT } from '../scripts/generate.ts';

const PATCHES = join(WORKSPACE_ROOT, 'patches');
const FIXTURES = join(DOCS_ROOT, 'test', 'fixtures');

const tempDirs: string[] = [];
afterAll(() => {
  for (const d of tempDirs) rmSync(d, { recursive: true, force: true });
});

/**
 * A copy of patches/ with one patch file edited; with `endAtIt`, the series ends with that
 * patch (an edit that moves lines would break the hunks of later patches to the same file).
 */
function editedSeries(patchPrefix: string, edit: (text: string) => string, { endAtIt = false } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'docs-series-'));
  tempDirs.push(dir);
  cpSync(PATCHES, dir, { recursive: true });
  const name = readdirSync(dir).find((f) => f.startsWith(patchPrefix));
  if (!name) throw new Error(`no patch ${patchPrefix}*`);
  const before = readFileSync(join(dir, name), 'utf8');
  const after = edit(before);
  expect(after, `the edit of ${name} changed nothing`).not.toBe(before);
  writeFileSync(join(dir, name), after);
  if (endAtIt) {
    const series = readFileSync(join(dir, 'series'), 'utf8').split('\n');
    const later = series.slice(series.indexOf(name) + 1).filter((f) => f.endsWith('.patch'));
    for (const f of later) rmSync(join(dir, f));
    writeFileSync(join(dir, 'series'), `${series.slice(0, series.indexOf(name) + 1).join('\n')}\n`);
  }
  return dir;
}

/**
 * Remove added lines (`+...`) that match, and fix the hunk headers: the hunk's new line count,
 * and the new start of later hunks of the same file.
 */
function dropAddedLines(text: string, match: (line: string) => boolean): string {
  const lines = text.split('\n');
  const out: string[] = [];
  let header = -1;
  let removedInFile = 0;
  for (const l of lines) {
    if (l.startsWith('diff --git ')) removedInFile = 0;
    const h = /^@@ -(\d+,\d+) \+(\d+),(\d+) @@(.*)$/.exec(l);
    if (h) {
      out.push(`@@ -${h[1]} +${Number(h[2]) - removedInFile},${h[3]} @@${h[4]}`);
      header = out.length - 1;
      continue;
    }
    if (header >= 0 && l.startsWith('+') && !l.startsWith('+++') && match(l.slice(1))) {
      out[header] = out[header]!.replace(/\+(\d+),(\d+)/, (_, s, n) => `+${s},${Number(n) - 1}`);
      removedInFile++;
      continue;
    }
    out.push(l);
  }
  return out.join('\n');
}

function generateError(fn: () => unknown): GenerateError {
  try {
    fn();
  } catch (e) {
    if (e instanceof GenerateError) return e;
    throw e;
  }
  throw new Error('expected a GenerateError, but nothing was thrown');
}

describe('configuration reference from the patch series', () => {
  it('the real series: every QAPI addition is documented and on the page', () => {
    const pages = pagesFromSeries(PATCHES);
    const names = pages.qapi.map((d) => `${d.kind} ${d.name}${d.isNew ? '' : ' (extended)'}`);
    expect(names).toEqual(expect.arrayContaining(['event BLOCK_IO_HANG', 'event BLOCK_IO_HANG_TIMEOUT', 'struct BlockIOHangInfo', 'struct BlockInfo (extended)']));
    for (const d of pages.qapi.filter((x) => x.isNew)) expect(d.since, d.name).toMatch(/^\d+\.\d+$/);
    for (const s of ['BLOCK\\_IO\\_HANG', 'BLOCK\\_IO\\_HANG\\_TIMEOUT', '`iohang`', '`iohang-timeout`', '`iohang-retry-interval`', '`io-hang`', '`parked-requests`', '`virtio_blk_properties`', '`ide_dev_initfn()`']) {
      expect(pages.configuration).toContain(s);
    }
  });

  it('a QAPI event without "Since:" is rejected, naming the event (fixture series)', () => {
    const patches = loadSeries(join(FIXTURES, 'qapi-no-since'));
    const e = generateError(() => qapiFromSeries(applySeries(patches), patches));
    expect(e.message).toMatch(/event FIXTURE_EVENT \(added by 0001-qapi-add-an-event-without-Since\.patch\) has no "Since:" line/);
  });

  it('dropping "Since:" from BLOCK_IO_HANG_TIMEOUT in patch 03 fails the build, naming it', () => {
    const dir = editedSeries('0003-', (t) => dropAddedLines(t, (l) => l === '# Since: 10.1'));
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toContain('event BLOCK_IO_HANG_TIMEOUT (added by 0003-');
    expect(e.message).toContain('has no "Since:" line');
  });

  it('a struct member without doc text is rejected, naming the member', () => {
    const dir = editedSeries('0016-', (t) => dropAddedLines(t, (l) => l === '# @errors: the errors that make requests park'), { endAtIt: true });
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toMatch(/struct BlockIOHangInfo member errors \(added by 0016-[^)]*\) has no doc text/);
  });

  it('a member added to an existing struct without "(since X.Y)" is rejected', () => {
    const dir = editedSeries('0006-', (t) => t.replace('#     enabled.  (since 10.1)', '#     enabled.'));
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toMatch(/struct BlockInfo member io-hang \(added by 0006-[^)]*\) has no "\(since X\.Y\)"/);
  });

  it('a -drive option that qemu-options.hx and io-hang.rst do not describe is rejected', () => {
    const dir = editedSeries('0004-', (t) => t.replace('.name = "iohang-retry-interval"', '.name = "iohang-retry-period"'));
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toContain('-drive option iohang-retry-period (blockdev.c) is not described in qemu-options.hx');
    expect(e.message).toContain('-drive option iohang-retry-period (blockdev.c) has no item in docs/system/io-hang.rst');
  });

  it('a device property that the user documentation does not mention is rejected', () => {
    const dir = editedSeries('0005-', (t) => t.replace('DEFINE_PROP_UINT32("iohang-timeout"', 'DEFINE_PROP_UINT32("iohang-deadline"'));
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toContain('device property iohang-deadline (hw/block/virtio-blk.c, virtio_blk_properties) is not mentioned in docs/system/io-hang.rst');
  });

  it('a patch whose context contradicts what earlier patches left is an error', () => {
    // Patch 09 rewords a line that patch 04 added to qemu-options.hx; change its context.
    const dir = editedSeries('0009-', (t) => t.replace(' non-zero ``iohang-timeout`` turns I/O hang on by itself;', ' non-zero ``iohang-timeout`` enables I/O hang;'));
    const e = generateError(() => pagesFromSeries(dir));
    expect(e.message).toMatch(/0009-.*qemu-options\.hx expects line \d+ to be/s);
  });

  it('a malformed patch is rejected with its file name', () => {
    expect(() => parsePatch('From x\nSubject: [PATCH] x\n\nbody\n', 'broken.patch')).toThrow(/broken\.patch: no "---" line/);
  });

  it('the patch page has subject, message and diffstat of every patch, in series order', () => {
    const { patches: page } = pagesFromSeries(PATCHES);
    const series = loadSeries(PATCHES);
    const headings = [...page.matchAll(/^## (\d\d)\. /gm)].map((m) => Number(m[1]));
    expect(headings).toEqual(series.map((p) => p.index));
    for (const p of series) {
      expect(page).toContain(p.file);
      expect(page).toMatch(new RegExp(`\\d+ files? changed`));
    }
  });
});

describe('testing matrix', () => {
  it('collects expanded titles, and falls back to the static parser for a file that cannot be imported', async () => {
    const project = await collectProject(WORKSPACE_ROOT, 'docs/test/fixtures/testsuite');
    const good = project.files.find((f) => f.path.endsWith('good.test.ts'))!;
    const broken = project.files.find((f) => f.path.endsWith('broken-import.test.ts'))!;
    expect(good.staticallyParsed).toBe(false);
    expect(countTests(good.tests)).toBe(6);
    expect(good.tests[0]!.children.map((c) => c.name)).toEqual(['plain test', 'inner (a)', 'inner (b)']);
    expect(good.tests[1]).toMatchObject({ name: 'skipped at top level', mode: 'skip' });
    expect(broken.staticallyParsed).toBe(true);
    expect(broken.importError).toContain('does-not-exist');
    expect(broken.tests[0]!.name).toBe('needs %s');
    const page = testingPage([project]);
    expect(page).toContain('7 tests in 2 files');
    expect(page).toContain('Read without importing');
    expect(page).toContain('inner (b)');
  });
});

describe('benchmarks', () => {
  it('percentiles interpolate between the closest ranks', () => {
    const s = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];
    expect(percentile(s, 0.1)).toBeCloseTo(1.9);
    expect(percentile(s, 0.5)).toBeCloseTo(5.5);
    expect(percentile(s, 0.9)).toBeCloseTo(9.1);
    expect(stats([3, 1, 2])).toMatchObject({ n: 3, median: 2, min: 1, max: 3 });
    expect(stats([]).n).toBe(0);
  });

  it('bench.json with a wrong shape is rejected, naming the field', () => {
    // The schema is @iohang/bench's, the one `iohang bench` writes the file by.
    expect(() => validateBench({ date: 'd', host: 'h', qemu: 'q', figures: [{ id: 'P1', title: 't', description: '', unit: 's', summary: '', series: [{ label: 'a', values: [1, 'x'] }] }] }, 'bench.json')).toThrow(
      /^bench\.json: bench report does not match the schema:\n.*expected number, received string\n.*at figures\[0\]\.series\[0\]\.values\[1\]/,
    );
    expect(() => validateBench({ date: 'd', host: 'h', qemu: 'q' }, 'bench.json')).toThrow(/^bench\.json: .*\n.*expected array, received undefined\n.*at figures$/);
  });

  it('the fixture renders a table and a plot per figure', () => {
    const bench = readBench(join(FIXTURES, 'bench.json'))!;
    const page = benchPage(bench, 'docs/test/fixtures/bench.json');
    expect(page.match(/<svg /g)).toHaveLength(bench.figures.length);
    expect(page).toContain('| outage 5 s | 10 | 5.48 | 5.56 | 5.72 |');
    for (const f of bench.figures) expect(page).toContain(`## ${f.id}: `);
    const svg = figureSvg(bench.figures[0]!);
    expect(svg.match(/<circle /g)).toHaveLength(30);
    expect(svg).not.toMatch(/\n\s*\n/); // a blank line would end Markdown's HTML block
  });

  it('without bench.json the page says that no run has been recorded and how to make one', () => {
    const page = benchPage(null, 'docs/data/bench.json');
    expect(page).toContain('No benchmark run has been recorded yet.');
    expect(page).toContain('npx iohang bench');
  });
});
