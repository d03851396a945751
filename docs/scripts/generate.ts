/**
 * Writes the generated pages of the docs site into docs/reference/ (gitignored):
 *
 *   configuration.md  -drive options, device properties, QMP, query-block, events: from patches/
 *   patches.md        the series: subject, commit message, diffstat per patch
 *   testing.md        the describe/it titles of packages/scenarios and qemu-build tests
 *   benchmarks.md     docs/data/bench.json (or a note that no run has been recorded)
 *
 * Usage: tsx scripts/generate.ts [--bench FILE] [--out DIR] [--skip-tests]
 * Exits non-zero with a message naming the item when the series adds something undocumented.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { validateBench, type BenchData } from './lib/bench.ts';
import { readSoak, soakSection } from './lib/soak.ts';
import { deviceProperties, driveOptions, rstItemFor } from './lib/options.ts';
import { applySeries, fullText, GenerateError, loadSeries } from './lib/patches.ts';
import { qapiFromSeries, type QapiDef } from './lib/qapi.ts';
import { benchPage, configurationPage, patchesPage, testingPage } from './lib/render.ts';
import { collectProject, type TestProject } from './lib/testing.ts';

export const DOCS_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const WORKSPACE_ROOT = resolve(DOCS_ROOT, '..');

/** Test projects whose titles make up the testing matrix. */
export const TEST_PROJECTS = ['packages/scenarios', 'qemu-build'];

/** Existing QMP commands that return a type the series extends. */
const RETURNED_BY: Record<string, string> = { BlockInfo: 'query-block' };

export interface SeriesPages {
  configuration: string;
  patches: string;
  qapi: QapiDef[];
}

/** Everything that comes from patches/: throws GenerateError on undocumented items. */
export function pagesFromSeries(patchesDir: string): SeriesPages {
  const patches = loadSeries(patchesDir);
  const tree = applySeries(patches);
  const rstPath = 'docs/system/io-hang.rst';
  const rst = fullText(tree, rstPath);
  const qapi = qapiFromSeries(tree, patches);
  const drive = driveOptions(tree, rst);
  const { properties, support } = deviceProperties(tree, rst);
  const rstEvents = new Map<string, string>();
  const missing: string[] = [];
  for (const d of qapi.filter((x) => x.isNew && x.kind === 'event')) {
    const text = rstItemFor(rst, d.name);
    if (text) rstEvents.set(d.name, text);
    else missing.push(`event ${d.name} is not described in ${rstPath}`);
  }
  if (missing.length) throw new GenerateError(missing.join('\n'));
  return {
    configuration: configurationPage({ patches, qapi, drive, props: properties, support, rstEvents, returnedBy: RETURNED_BY }),
    patches: patchesPage(patches),
    qapi,
  };
}

export function readBench(path: string): BenchData | null {
  if (!existsSync(path)) return null;
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new GenerateError(`${path}: not valid JSON: ${(e as Error).message}`);
  }
  return validateBench(data, path);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      bench: { type: 'string', default: join(DOCS_ROOT, 'data', 'bench.json') },
      out: { type: 'string', default: join(DOCS_ROOT, 'reference') },
      patches: { type: 'string', default: join(WORKSPACE_ROOT, 'patches') },
      'skip-tests': { type: 'boolean', default: false },
    },
  });
  const t0 = Date.now();
  const out = resolve(values.out!);
  const series = pagesFromSeries(resolve(values.patches!));
  const benchPath = resolve(values.bench!);
  const bench = readBench(benchPath);
  const soakPath = join(dirname(benchPath), 'soak.json');
  const soak = readSoak(soakPath);
  const soakPart = soak ? `\n${soakSection(soak, relative(WORKSPACE_ROOT, soakPath))}` : '';
  let projects: TestProject[] = [];
  if (!values['skip-tests']) {
    for (const p of TEST_PROJECTS) projects.push(await collectProject(WORKSPACE_ROOT, p));
  }
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  const pages: Record<string, string> = {
    'configuration.md': series.configuration,
    'patches.md': series.patches,
    'benchmarks.md': benchPage(bench, relative(WORKSPACE_ROOT, benchPath)) + soakPart,
  };
  if (!values['skip-tests']) pages['testing.md'] = testingPage(projects);
  for (const [name, text] of Object.entries(pages)) writeFileSync(join(out, name), `${text.trimEnd()}\n`);
  const tests = projects.flatMap((p) => p.files);
  console.log(
    `generate: ${Object.keys(pages).length} pages in ${relative(WORKSPACE_ROOT, out)}/ ` +
      `(${series.qapi.length} QAPI definitions, ${tests.length} test files, ` +
      `bench: ${bench ? `${bench.figures.length} figures` : 'none recorded'}) in ${Date.now() - t0} ms`,
  );
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e: unknown) => {
    if (e instanceof GenerateError) {
      console.error(`generate: ${e.message}`);
      process.exit(1);
    }
    throw e;
  });
}
