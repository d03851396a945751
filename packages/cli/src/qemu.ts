import { writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { workspacePaths } from '@iohang/core';
import { build, checkSeries, ensureDevTree, exportSeries, fetchSource, formatSeriesTable, formatSuitesReport, parseSuiteList, prepare, readLock, runSuites, suitesPassed, seriesCheckPassed, statePaths, updateLock } from '@iohang/builder';

export function qemuCommand(): Command {
  const qemu = new Command('qemu').description('build the patched QEMU and work on the patch series');

  qemu
    .command('build')
    .description('fetch the pinned source, apply patches/, build; outputs go to qemu-build/out/<variant>/ (bin/, firmware/, manifest.json)')
    .option('--asan', 'build the AddressSanitizer + UBSan variant (qemu-build/out/asan/)')
    .option('--base', 'build the unpatched source with the default flags, for comparisons (qemu-build/out/base/)')
    .action(async (opts: { asan?: boolean; base?: boolean }) => {
      if (opts.asan && opts.base) throw new Error('--asan and --base exclude each other');
      const { manifest, out } = await build({ variant: opts.asan ? 'asan' : opts.base ? 'base' : 'default' });
      console.log(`${manifest.qemuVersion}\n${out}/bin/qemu-system-x86_64 -L ${out}/firmware`);
    });

  qemu
    .command('suites')
    .description("QEMU's own block tests on the unpatched source and on the series, same flags and environment; lists new failures, flaky ones included (exit 1 if any, or if a suite passed nothing)")
    .option('--only <suites>', 'comma-separated: unit,qtest,iotests-raw,iotests-qcow2 (default: all)')
    .option('--iotests <tests>', 'comma-separated iotests to run instead of the quick group (both formats)')
    .option('--json <file>', 'write every per-test result there')
    .option('--no-retry', 'do not run new failures again on both sides to tell flaky tests apart (a flaky test fails the run either way, unless it is flaky on base too)')
    .action(async (opts: { only?: string; iotests?: string; json?: string; retry: boolean }) => {
      const iotests = opts.iotests?.split(',').map((t) => t.trim()).filter(Boolean);
      const report = await runSuites({
        only: opts.only ? parseSuiteList(opts.only) : undefined,
        iotests: iotests && { raw: iotests, qcow2: iotests },
        retry: opts.retry,
      });
      console.log(formatSuitesReport(report));
      if (opts.json) writeFileSync(opts.json, JSON.stringify(report, null, 2) + '\n');
      if (!suitesPassed(report)) process.exitCode = 1;
    });

  qemu
    .command('fetch')
    .description('download the pinned Debian source package into the cache and verify its sha256s')
    .action(async () => {
      const lock = readLock(workspacePaths().lockFile);
      const dir = statePaths(lock.version).downloads;
      await fetchSource(lock, dir, console.error);
      console.log(`${lock.package} ${lock.version}: ${lock.files.length} files verified in ${dir}`);
    });

  qemu
    .command('prepare')
    .description("bring the builder's git tree to base + patches/ (one commit per patch)")
    .action(async () => {
      const { tree } = await prepare();
      console.log(tree);
    });

  qemu
    .command('tree')
    .description('create (first time) or show the editable QEMU git tree: base commit + one commit per patch on branch "series"')
    .action(async () => {
      const s = await ensureDevTree();
      console.log(`${s.created ? 'created' : 'editable tree'}: ${s.path} (branch ${s.branch}${s.dirty ? ', uncommitted changes' : ''})`);
      console.log(s.commits.length ? s.commits.map((c, i) => `  ${i + 1}. ${c}`).join('\n') : '  no patches yet: commit on top of the base, then npx iohang qemu export');
      console.log('edit, commit (git commit --amend / git rebase -i iohang-base), then: npx iohang qemu export');
    });

  qemu
    .command('export')
    .description("git format-patch the editable tree's commits into patches/ and rewrite patches/series (unchanged files are left alone)")
    .action(async () => {
      const r = await exportSeries();
      console.log(`patches/: ${r.unchanged.length} unchanged, ${r.written.length} written, ${r.removed.length} removed`);
      for (const f of r.written) console.log(`  wrote ${f}`);
      for (const f of r.removed) console.log(`  removed ${f}`);
    });

  qemu
    .command('check-series')
    .description('apply the series patch by patch in a scratch tree; after each: compile and scripts/checkpatch.pl; prints a table')
    .option('--no-compile', 'only apply and checkpatch')
    .action(async (opts: { compile: boolean }) => {
      const rows = await checkSeries({ compile: opts.compile });
      console.log(formatSeriesTable(rows));
      if (!seriesCheckPassed(rows)) process.exitCode = 1;
    });

  qemu
    .command('update-lock')
    .description('move the pin to the newest same-series (10.0.x) Debian source, after checking that patches/ still applies')
    .option('--version <debian-version>', 'pin this exact version instead of the newest')
    .action(async (opts: { version?: string }) => {
      const r = await updateLock({ version: opts.version });
      console.log(r.changed ? `pinned ${r.to} (was ${r.from})` : `unchanged: ${r.to}`);
    });

  return qemu;
}
