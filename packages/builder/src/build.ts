import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { $ } from 'zx';
import { configureFlags, readBuildConfig, type BuildConfig } from './config.ts';
import { missingDependency } from './deps.ts';
import { IohangError, type QemuVariant, workspacePaths } from '@iohang/core';
import { fetchSource } from './fetch.ts';
import { readLock, upstreamVersion, type Lock } from './lock.ts';
import { statePaths } from './paths.ts';
import { ProgressReporter, parseNinjaLine } from './progress.ts';
import { runLogged } from './run.ts';
import { readSeries, type SeriesPatch } from './series.ts';
import { ensureSystem } from './system.ts';
import { BASE_TAG, applySeries, ensureBaseTree, ensureBaseWorktree } from './tree.ts';
import { withTreeLock } from './tree-lock.ts';

export interface BuildOptions {
  /** A variant of configure.json, or "base": the unpatched source with the default flags. */
  variant?: QemuVariant;
  /** Same as variant "base". */
  base?: boolean;
  root?: string;
  log?: (line: string) => void;
  /** Skip the apt check (tests that exercise one step). */
  skipSystemCheck?: boolean;
  /** The editable tree (`iohang qemu tree`); default under ~/.cache/iohang/tree. */
  devTree?: string;
}

export interface Manifest {
  variant: string;
  base: { package: string; version: string; upstream: string; files: Lock['files'] };
  patches: { file: string; subject: string; sha256: string }[];
  configure: string[];
  compiler: string;
  qemuVersion: string;
  binaries: string[];
  firmware: string[];
}

/**
 * What every step of preparing the tree reads, read once: the workspace, the lock, the
 * series, where the state lives and the log. (configure.json is read by the commands
 * that configure.)
 */
export interface BuildContext {
  log: (line: string) => void;
  ws: ReturnType<typeof workspacePaths>;
  lock: Lock;
  series: SeriesPatch[];
  sp: ReturnType<typeof statePaths>;
}

export function buildContext(opts: BuildOptions = {}): BuildContext {
  const ws = workspacePaths(opts.root);
  const lock = readLock(ws.lockFile);
  return { log: opts.log ?? console.error, ws, lock, series: readSeries(ws.patchesDir), sp: statePaths(lock.version) };
}

/**
 * Run `fn` holding the lock of the builder's tree for the pinned version (see
 * withTreeLock). The steps below (baseTree, seriesTree, baseWorktree) expect it held.
 */
export function withBuilderTree<T>(ctx: BuildContext, fn: () => Promise<T>): Promise<T> {
  return withTreeLock(ctx.sp.buildTree, ctx.log, fn);
}

/** Fetch, verify and unpack: the builder's git tree at its base. */
export async function baseTree(ctx: BuildContext): Promise<string> {
  await fetchSource(ctx.lock, ctx.sp.downloads, ctx.log);
  await ensureBaseTree(ctx.lock, ctx.sp.downloads, ctx.sp.buildTree, ctx.log);
  return ctx.sp.buildTree;
}

/** The builder's git tree at base + patches/, ready to configure. */
export async function seriesTree(ctx: BuildContext): Promise<string> {
  const tree = await baseTree(ctx);
  const { reused, applied } = await applySeries(tree, ctx.series, ctx.log);
  ctx.log(`tree ${tree}: base ${ctx.lock.version} + ${ctx.series.length} patches (${reused} kept, ${applied} applied)`);
  return tree;
}

/**
 * The unpatched source for the "base" variant: a git worktree of the builder's tree at
 * iohang-base (statePaths().baseTree). The builder's tree stays on the series.
 */
export async function baseWorktree(ctx: BuildContext): Promise<string> {
  const tree = await baseTree(ctx);
  await ensureBaseWorktree(tree, ctx.sp.baseTree, ctx.log);
  ctx.log(`tree ${ctx.sp.baseTree}: ${BASE_TAG} ${ctx.lock.version}, no patches`);
  return ctx.sp.baseTree;
}

/** Fetch + unpack + apply patches/ (`iohang qemu prepare`): the builder's git tree, ready to configure. */
export async function prepare(opts: BuildOptions = {}): Promise<{ lock: Lock; series: SeriesPatch[]; tree: string }> {
  const ctx = buildContext(opts);
  return withBuilderTree(ctx, async () => ({ lock: ctx.lock, series: ctx.series, tree: await seriesTree(ctx) }));
}

/** The variant "base" builds the unpatched source with the default variant's flags. */
export const BASE_VARIANT = 'base' satisfies QemuVariant;

export function resolveVariant(opts: Pick<BuildOptions, 'variant' | 'base'>): { variant: QemuVariant; base: boolean; flagsVariant: QemuVariant } {
  const base = opts.base === true || opts.variant === BASE_VARIANT;
  const variant = base ? BASE_VARIANT : (opts.variant ?? 'default');
  return { variant, base, flagsVariant: base ? 'default' : variant };
}

/** (Re)configure `buildDir` when it is new or its flags changed. */
export async function ensureConfigured(tree: string, buildDir: string, flags: string[], log: (line: string) => void): Promise<void> {
  const stampFile = join(buildDir, 'iohang-configure.json');
  const stamp = JSON.stringify({ tree, flags });
  if (existsSync(join(buildDir, 'build.ninja')) && existsSync(stampFile) && readFileSync(stampFile, 'utf8') === stamp) return;
  rmSync(buildDir, { recursive: true, force: true });
  mkdirSync(buildDir, { recursive: true });
  log(`configure ${flags.join(' ')}`);
  const r = await runLogged(join(tree, 'configure'), flags, { cwd: buildDir, logFile: join(buildDir, 'iohang-configure.log') });
  if (r.exitCode !== 0) {
    const text = r.tail.join('\n');
    const dep = missingDependency(text);
    const fix = dep?.pkg ? `Install it: sudo apt-get install ${dep.pkg} (or run: sudo npm run setup)` : 'Read the full log at ' + join(buildDir, 'iohang-configure.log');
    rmSync(stampFile, { force: true });
    throw new IohangError(
      dep ? `configure failed: build dependency ${dep.name} is missing${dep.pkg ? ` (Debian package ${dep.pkg})` : ''}` : `configure failed:\n${r.tail.slice(-20).join('\n')}`,
      fix,
    );
  }
  writeFileSync(stampFile, stamp);
}

export async function ninja(buildDir: string, targets: string[], label: string, ccacheDir: string): Promise<void> {
  const progress = new ProgressReporter(label);
  const logFile = join(buildDir, 'iohang-ninja.log');
  const r = await runLogged('ninja', ['-C', buildDir, ...targets], {
    cwd: buildDir,
    logFile,
    env: {
      ...process.env,
      // QEMU's configure gives meson a plain `cc`, so meson does not add ccache itself;
      // Debian's masquerade directory first on PATH puts ccache behind that `cc`.
      PATH: `/usr/lib/ccache:${process.env.PATH}`,
      CCACHE_DIR: ccacheDir,
      // Base dir + no dir hash: trees at other paths (check-series) share the cache.
      CCACHE_BASEDIR: dirname(ccacheDir),
      CCACHE_NOHASHDIR: 'true',
      NINJA_STATUS: '[%f/%t] ',
    },
    onLine: (line) => {
      const step = parseNinjaLine(line);
      if (step) progress.update(step);
    },
    tailLines: 200,
  });
  progress.finish();
  if (r.exitCode !== 0) {
    const first = r.tail.findIndex((l) => l.startsWith('FAILED:'));
    const excerpt = (first >= 0 ? r.tail.slice(first, first + 40) : r.tail.slice(-40)).join('\n');
    throw new IohangError(`the QEMU build failed:\n${excerpt}`, `Full log: ${logFile}`);
  }
}

/**
 * Start the new binary far enough to initialise every QOM type and answer QMP. Objects
 * compiled from mixed source states (a stale ccache entry, an interrupted build) pass
 * --version but abort here -- and must never be installed, nor cached by nx.
 */
export async function smokeTest(system: string, firmware: string, buildDir: string): Promise<void> {
  const r = await $({ quiet: true, nothrow: true, timeout: '60s', input: '{"execute":"qmp_capabilities"}\n{"execute":"quit"}\n' })`${system} -machine pc -accel tcg -L ${firmware} -nodefaults -display none -S -qmp stdio`;
  if (r.exitCode !== 0 || /ERROR|Bail out|Assertion/.test(r.stderr)) {
    throw new IohangError(
      `the QEMU just built does not start (exit ${r.exitCode}):\n${r.stderr.trim().split('\n').slice(-6).join('\n')}`,
      `Objects from different source states were linked together. Remove ${buildDir} and ~/.cache/iohang/ccache, then build again`,
    );
  }
}

/** Copy the shipped binaries, the firmware directory and a manifest to `out`, atomically. */
async function installOutputs(config: BuildConfig, buildDir: string, out: string, manifest: Omit<Manifest, 'binaries' | 'firmware' | 'qemuVersion'>): Promise<Manifest> {
  const tmp = `${out}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(join(tmp, 'bin'), { recursive: true });
  mkdirSync(join(tmp, 'firmware'), { recursive: true });
  for (const [name, target] of Object.entries(config.targets)) copyFileSync(join(buildDir, target), join(tmp, 'bin', name));
  const firmware: string[] = [];
  for (const [dir, files] of Object.entries(config.firmware)) {
    for (const f of files) {
      const src = join(dir, f);
      if (!existsSync(src)) throw new IohangError(`firmware file ${src} is missing`, 'Run: sudo npm run setup (it installs seabios and qemu-system-data)');
      copyFileSync(src, join(tmp, 'firmware', f));
      firmware.push(f);
    }
  }
  const qemuVersion = (await $({ quiet: true })`${join(tmp, 'bin', 'qemu-system-x86_64')} --version`).stdout.split('\n')[0]!.trim();
  await smokeTest(join(tmp, 'bin', 'qemu-system-x86_64'), join(tmp, 'firmware'), buildDir).catch((e: unknown) => {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  });
  const full: Manifest = { ...manifest, qemuVersion, binaries: Object.keys(config.targets), firmware };
  writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(full, null, 2) + '\n');
  rmSync(out, { recursive: true, force: true });
  renameSync(tmp, out);
  return full;
}

/**
 * The whole pipeline: system check, fetch, prepare, configure, ninja, outputs. With
 * `base` (or variant "base"), the same for the unpatched source: its own worktree and
 * build directory, outputs in qemu-build/out/base with a manifest listing no patches.
 */
export async function build(opts: BuildOptions = {}): Promise<{ manifest: Manifest; out: string; seconds: number }> {
  const started = Date.now();
  const { variant, base, flagsVariant } = resolveVariant(opts);
  const ctx = buildContext(opts);
  const { log, ws, lock, sp } = ctx;
  if (!opts.skipSystemCheck) await ensureSystem(log);
  const config = readBuildConfig(ws.root);
  const flags = configureFlags(config, flagsVariant);
  return withBuilderTree(ctx, async () => {
    const tree = base ? await baseWorktree(ctx) : await seriesTree(ctx);
    const series = base ? [] : ctx.series;
    const buildDir = sp.buildDir(variant);
    await ensureConfigured(tree, buildDir, flags, log);
    await ninja(buildDir, Object.values(config.targets), `qemu (${variant})`, sp.ccache);
    const compiler = (await $({ quiet: true })`cc --version`).stdout.split('\n')[0]!.trim();
    const manifest = await installOutputs(config, buildDir, ws.outDir(variant), {
      variant,
      base: { package: lock.package, version: lock.version, upstream: upstreamVersion(lock.version), files: lock.files },
      patches: series.map(({ file, subject, sha256 }) => ({ file, subject, sha256 })),
      configure: flags,
      compiler,
    });
    const seconds = (Date.now() - started) / 1000;
    log(`built ${manifest.qemuVersion} (${variant}, ${series.length} patches) in ${seconds.toFixed(1)} s -> ${ws.outDir(variant)}`);
    return { manifest, out: ws.outDir(variant), seconds };
  });
}
