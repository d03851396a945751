/**
 * The test matrix: the describe/it titles of test projects, collected by vitest itself
 * (`vitest list` through its Node API: the files are imported, which expands `.each`, but no
 * hook or test runs, so nothing boots). A file that cannot be imported (say, a dependency is
 * missing) is collected again with vitest's static parser, which keeps `.each` titles as
 * templates; a file neither can read is a GenerateError.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { TestModule, TestSuite, TestCase } from 'vitest/node';
import { GenerateError } from './patches.ts';

export interface TestNode {
  type: 'suite' | 'test';
  name: string;
  mode: 'run' | 'skip' | 'todo' | 'only';
  children: TestNode[];
}

export interface TestFile {
  /** Path relative to the workspace root. */
  path: string;
  /** The file's leading /** ... *\/ comment, if any. */
  doc: string;
  /** True if the titles come from the static parser (templates not expanded). */
  staticallyParsed: boolean;
  /** Why the file could not be imported, when staticallyParsed. */
  importError: string;
  tests: TestNode[];
}

export interface TestProject {
  /** Project root relative to the workspace root, e.g. packages/scenarios. */
  root: string;
  files: TestFile[];
}

function toNodes(parent: TestModule | TestSuite): TestNode[] {
  const out: TestNode[] = [];
  for (const c of parent.children) {
    if (c.type === 'suite') out.push({ type: 'suite', name: c.name, mode: modeOf(c), children: toNodes(c) });
    else out.push({ type: 'test', name: c.name, mode: modeOf(c), children: [] });
  }
  return out;
}

function modeOf(c: TestSuite | TestCase): TestNode['mode'] {
  const m = c.options.mode;
  return m === 'skip' || m === 'todo' || m === 'only' ? m : 'run';
}

export function countTests(nodes: TestNode[]): number {
  return nodes.reduce((n, x) => n + (x.type === 'test' ? 1 : countTests(x.children)), 0);
}

export function leadingDoc(source: string): string {
  const m = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source);
  if (!m) return '';
  return m[1]!.split('\n').map((l) => l.replace(/^\s*\* ?/, '')).join('\n').replace(/\s+/g, ' ').trim();
}

function errorText(e: unknown): string {
  if (e && typeof e === 'object' && 'message' in e) return String((e as { message: unknown }).message).split('\n')[0]!;
  return String(e);
}

/** Collect one vitest project (a directory with its own vitest config, or none). */
export async function collectProject(workspaceRoot: string, projectRoot: string): Promise<TestProject> {
  const { createVitest } = await import('vitest/node');
  const root = join(workspaceRoot, projectRoot);
  // Test files may create temporary files at import time; keep them out of /tmp.
  const tmp = mkdtempSync(join(tmpdir(), 'iohang-docs-collect-'));
  const savedTmp = process.env.TMPDIR;
  process.env.TMPDIR = tmp;
  const vitest = await createVitest('test', { root, watch: false, reporters: [], silent: true, passWithNoTests: true });
  // vitest sets process.exitCode when a file fails to import; here that is handled below.
  const savedExitCode = process.exitCode;
  try {
    const dynamic = await vitest.collect();
    const files: TestFile[] = [];
    const failed: string[] = [];
    const importErrors = new Map<string, string>();
    for (const m of dynamic.testModules) {
      const errs = m.errors();
      if (m.state() === 'failed' || errs.length) {
        failed.push(m.moduleId);
        importErrors.set(m.moduleId, errs.map((e) => errorText(e)).join('; ') || 'failed to import');
        continue;
      }
      files.push(fileOf(workspaceRoot, m, false, ''));
    }
    if (failed.length) {
      const statik = await vitest.collect(failed, { staticParse: true });
      for (const id of failed) {
        const m = statik.testModules.find((x) => x.moduleId === id);
        const errs = m?.errors() ?? [];
        if (!m || errs.length || m.state() === 'failed') {
          throw new GenerateError(`cannot read the tests in ${relative(workspaceRoot, id)}: ${importErrors.get(id)}${errs.length ? `; static parse: ${errs.map(errorText).join('; ')}` : ''}`);
        }
        console.warn(`generate: ${relative(workspaceRoot, id)} could not be imported (${importErrors.get(id)}); its titles come from the static parser`);
        files.push(fileOf(workspaceRoot, m, true, importErrors.get(id) ?? ''));
      }
    }
    files.sort((a, b) => a.path.localeCompare(b.path));
    return { root: projectRoot, files };
  } finally {
    await vitest.close();
    process.exitCode = savedExitCode;
    if (savedTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmp;
    rmSync(tmp, { recursive: true, force: true });
  }
}

function fileOf(workspaceRoot: string, m: TestModule, staticallyParsed: boolean, importError: string): TestFile {
  let doc = '';
  try {
    doc = leadingDoc(readFileSync(m.moduleId, 'utf8'));
  } catch {
    /* virtual module */
  }
  return { path: relative(workspaceRoot, m.moduleId), doc, staticallyParsed, importError, tests: toNodes(m) };
}
