/**
 * The failures a user meets, each against the real thing: Debian's archive through apt,
 * the real QEMU source tree, QEMU's own configure.
 */
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import { IohangError, workspacePaths } from '@iohang/core';
import { applySeries, checkSystem, configureFlags, describeProblems, ensureBaseTree, ensureConfigured, fetchSource, readBuildConfig, readLock, readSeries, statePaths, updateLock, type Lock } from '../src/index.ts';

const ws = workspacePaths();
const lock = readLock(ws.lockFile);
const sp = statePaths(lock.version);

async function caught(p: Promise<unknown>): Promise<IohangError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof IohangError) return e;
    throw e;
  }
  throw new Error('expected an IohangError, got success');
}

beforeAll(async () => {
  await fetchSource(lock, sp.downloads);
  await ensureBaseTree(lock, sp.downloads, sp.buildTree);
});

describe('source fetch', () => {
  it('a checksum mismatch names the file and both hashes, keeps the file, and says how to re-pin', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'fetch-'));
    for (const f of lock.files) copyFileSync(join(sp.downloads, f.name), join(dir, f.name));
    const wrong = 'f'.repeat(64);
    const tampered: Lock = { ...lock, files: lock.files.map((f) => (f.name.endsWith('.debian.tar.xz') ? { ...f, sha256: wrong } : f)) };
    const e = await caught(fetchSource(tampered, dir));
    const debianTar = lock.files.find((f) => f.name.endsWith('.debian.tar.xz'))!;
    expect(e.message).toContain('checksum mismatch');
    expect(e.message).toContain(`${debianTar.name}: sha256 is ${debianTar.sha256}, the lock pins ${wrong}`);
    expect(e.fix).toContain('npx iohang qemu update-lock');
    // Nothing lost: the mismatching download is kept for inspection.
    expect(readdirSync(dir)).toContain(`${debianTar.name}.rejected`);
    // The files that do match are kept as they are.
    expect(readdirSync(dir)).toContain(lock.files[1]!.name);
  });

  it('a pinned version that left the archive says so and how to move the pin', async () => {
    const gone: Lock = { ...lock, version: '1:10.0.1+ds-0+deb13u1' };
    const e = await caught(fetchSource(gone, mkdtempSync(join(tmpdir(), 'fetch-'))));
    expect(e.message).toContain('qemu=1:10.0.1+ds-0+deb13u1');
    expect(e.message).toContain('no longer in the Debian archive');
    expect(e.fix).toContain('npx iohang qemu update-lock');
  });
});

describe('patch series', () => {
  it('a patch that does not apply names the patch, the file and the hunk', async () => {
    const tree = mkdtempSync(join(tmpdir(), 'tree-'));
    await $({ quiet: true })`git clone -q --shared ${sp.buildTree} ${tree}`;
    await $({ quiet: true, cwd: tree })`git checkout -q iohang-base`;
    copyFileSync(join(sp.buildTree, '.git', 'iohang-applied.json'), join(tree, '.git', 'iohang-applied.json'));
    writeFileSync(join(tree, '.git', 'iohang-applied.json'), JSON.stringify({ version: lock.version, patches: [] }));
    const patches = mkdtempSync(join(tmpdir(), 'patches-'));
    writeFileSync(
      join(patches, '0001-block-backend-stale-context.patch'),
      `From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001
From: Someone <someone@example.com>
Date: Sat, 21 Nov 2026 10:00:00 +0000
Subject: [PATCH] block-backend: a change written against another tree

---
 block/block-backend.c | 2 +-
 1 file changed, 1 insertion(+), 1 deletion(-)

diff --git a/block/block-backend.c b/block/block-backend.c
--- a/block/block-backend.c
+++ b/block/block-backend.c
@@ -1583,3 +1583,3 @@ static void blk_aio_complete(BlkAioEmAIOCB *acb)
 {
-    this line is not in QEMU 10.0;
+    neither is this one;
 }
`,
    );
    writeFileSync(join(patches, 'series'), '0001-block-backend-stale-context.patch\n');
    const e = await caught(applySeries(tree, readSeries(patches)));
    expect(e.message).toContain('patch 1 (0001-block-backend-stale-context.patch: "block-backend: a change written against another tree") does not apply');
    expect(e.message).toContain('at block/block-backend.c:1583');
    expect(e.message).toContain('-    this line is not in QEMU 10.0;');
    expect(e.fix).toContain('npx iohang qemu export');
    // The tree is left at the last good state, not half-applied.
    const status = await $({ quiet: true, cwd: tree })`git status --porcelain --untracked-files=no`;
    expect(status.stdout.trim()).toBe('');
  });
});

describe('build dependencies', () => {
  it('a package that is not installed is named with what it is for', async () => {
    const status = await checkSystem([
      { pkg: 'gcc', why: 'compiler' },
      { pkg: 'iohang-no-such-package', why: 'needed by this test' },
    ]);
    expect(status.missing.map((r) => r.pkg)).toEqual(['iohang-no-such-package']);
    expect(describeProblems(status)).toContain('missing package iohang-no-such-package (needed by this test)');
  });

  it('a package that is too old is named with the version needed', async () => {
    const status = await checkSystem([{ pkg: 'gcc', why: 'compiler', minVersion: '99:1' }]);
    expect(describeProblems(status)[0]).toMatch(/^gcc \S+ is too old: need >= 99:1 \(compiler\)$/);
  });

  it("a dependency QEMU's configure cannot find is named with its Debian package", async () => {
    const buildDir = mkdtempSync(join(tmpdir(), 'configure-'));
    const saved = process.env.PKG_CONFIG_LIBDIR;
    process.env.PKG_CONFIG_LIBDIR = '/nonexistent'; // pkg-config now finds nothing, as if -dev packages were missing
    try {
      const e = await caught(ensureConfigured(sp.buildTree, buildDir, configureFlags(readBuildConfig(ws.root), 'default'), () => {}));
      expect(e.message).toMatch(/build dependency [\w.-]+ is missing \(Debian package lib[\w.-]+-dev\)/);
      expect(e.fix).toMatch(/sudo apt-get install lib[\w.-]+-dev/);
    } finally {
      if (saved === undefined) delete process.env.PKG_CONFIG_LIBDIR;
      else process.env.PKG_CONFIG_LIBDIR = saved;
    }
  });
});

describe('update-lock', () => {
  it('moves a vanished pin to the newest 10.0.x in the archive, after checking the series applies', async () => {
    const root = mkdtempSync(join(tmpdir(), 'ws-'));
    writeFileSync(join(root, 'nx.json'), '{}');
    mkdirSync(join(root, 'qemu-build'));
    cpSync(ws.patchesDir, join(root, 'patches'), { recursive: true });
    writeFileSync(join(root, 'qemu-build', 'qemu.lock.json'), JSON.stringify({ ...lock, version: '1:10.0.1+ds-0+deb13u1', files: lock.files }, null, 2));
    const r = await updateLock({ root, log: () => {} });
    expect(r).toMatchObject({ from: '1:10.0.1+ds-0+deb13u1', changed: true });
    const moved = JSON.parse(readFileSync(join(root, 'qemu-build', 'qemu.lock.json'), 'utf8')) as Lock;
    expect(moved.version).toBe(r.to);
    expect(moved.version).toMatch(/^1:10\.0\.\d+\+ds/);
    if (moved.version === lock.version) expect(moved.files).toEqual(lock.files);
    expect(existsSync(join(statePaths(moved.version).downloads, moved.files[0]!.name))).toBe(true);
  });
});
