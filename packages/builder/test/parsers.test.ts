import { describe, expect, it } from 'vitest';
import { buildCommand, parseVariant, QEMU_VARIANTS, testVariant, workspaceRoot } from '@iohang/core';
import { BASE_VARIANT, dscFiles, formatSeriesTable, listedCases, missingDependency, parseCheckpatchTotals, readBuildConfig, sameSeries, tapPassed } from '../src/index.ts';

describe('missingDependency', () => {
  it('maps what meson says to the Debian package', () => {
    expect(missingDependency('../meson.build:955:13: ERROR: Dependency "glib-2.0" not found, tried pkgconfig')).toEqual({ name: 'glib-2.0', pkg: 'libglib2.0-dev' });
    expect(missingDependency("meson.build:1: ERROR: Program 'flex' not found or not executable")).toEqual({ name: 'flex', pkg: 'flex' });
    expect(missingDependency('Run-time dependency slirp found: NO (tried pkgconfig)')).toEqual({ name: 'slirp', pkg: 'libslirp-dev' });
    expect(missingDependency('all good')).toBeUndefined();
  });
});

describe('parseCheckpatchTotals', () => {
  it('reads the summary line', () => {
    expect(parseCheckpatchTotals('total: 0 errors, 1 warnings, 20 lines checked')).toEqual({ errors: 0, warnings: 1 });
    expect(parseCheckpatchTotals('total: 2 errors, 0 warnings, 5 lines checked')).toEqual({ errors: 2, warnings: 0 });
    expect(parseCheckpatchTotals('nothing')).toBeUndefined();
  });
});

describe('formatSeriesTable', () => {
  it('aligns columns and lists failures under the table', () => {
    const t = formatSeriesTable([
      { index: 1, file: 'a', subject: 'block: a', applies: 'ok', compiles: 'ok', tests: 'ok (3)', checkpatch: 'ok', checkpatchOk: true },
      { index: 2, file: 'b', subject: 'hw/block: bb', applies: 'FAIL', compiles: 'skipped', tests: 'skipped', checkpatch: 'skipped', checkpatchOk: false, detail: 'does not apply at x.c:3' },
    ]);
    expect(t.split('\n')).toEqual([
      '#  patch         applies  compiles  tests    checkpatch',
      '-  ------------  -------  --------  -------  ----------',
      '1  block: a      ok       ok        ok (3)   ok',
      '2  hw/block: bb  FAIL     skipped   skipped  skipped',
      'patch 2: does not apply at x.c:3',
    ]);
    expect(formatSeriesTable([])).toMatch(/empty/);
  });
});

describe('update-lock helpers', () => {
  it('reads the files a .dsc lists', () => {
    const dsc = `Format: 3.0 (quilt)\nChecksums-Sha256:\n ${'a'.repeat(64)} 40010016 qemu_10.0.13+ds.orig.tar.xz\n ${'b'.repeat(64)} 156096 qemu_10.0.13+ds-0+deb13u1.debian.tar.xz\nFiles:\n 0123 1 x\n`;
    expect(dscFiles(dsc)).toEqual([
      { name: 'qemu_10.0.13+ds.orig.tar.xz', size: 40010016, sha256: 'a'.repeat(64) },
      { name: 'qemu_10.0.13+ds-0+deb13u1.debian.tar.xz', size: 156096, sha256: 'b'.repeat(64) },
    ]);
  });

  it('moves a pin only within the same major.minor', () => {
    expect(sameSeries('1:10.0.14+ds-0+deb13u1', '1:10.0.13+ds-0+deb13u1')).toBe(true);
    expect(sameSeries('1:10.2.2+ds-1', '1:10.0.13+ds-0+deb13u1')).toBe(false);
  });
});

describe('tapPassed', () => {
  const tap = '1..3\nok 1 /io-hang/a\nok 2 /io-hang/b\nok 3 /io-hang/c\n';
  it('passes a binary that reported every case -l lists, each ok', () => {
    expect(tapPassed(tap, listedCases('# random seed: x\n1..3\n/io-hang/a\n/io-hang/b\n/io-hang/c\n'))).toBe(true);
  });
  it('fails one that stopped early, skipped a case, failed one or ran none', () => {
    expect(tapPassed('1..3\nok 1 /io-hang/a\n', 3)).toBe(false);
    expect(tapPassed(tap.replace('ok 2 /io-hang/b', 'ok 2 /io-hang/b # SKIP no iothreads'), 3)).toBe(false);
    expect(tapPassed(tap.replace('ok 2', 'not ok 2'), 3)).toBe(false);
    expect(tapPassed('1..0\n', 0)).toBe(false);
  });
});

describe('QEMU variants', () => {
  it("configure.json's variants and base are the variants the project knows, and each says how to build it", () => {
    const config = readBuildConfig(workspaceRoot());
    expect([...Object.keys(config.variants), BASE_VARIANT].sort()).toEqual([...QEMU_VARIANTS].sort());
    expect(QEMU_VARIANTS.map(buildCommand)).toEqual(['npx iohang qemu build', 'npx iohang qemu build --asan', 'npx iohang qemu build --base']);
    expect(() => parseVariant('dev', 'IOHANG_QEMU_VARIANT')).toThrow('IOHANG_QEMU_VARIANT: no QEMU variant "dev"');
    expect(testVariant({ IOHANG_QEMU_VARIANT: 'asan' })).toBe('asan');
    expect(testVariant({})).toBe('default');
  });
});
