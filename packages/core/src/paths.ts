import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

/**
 * Where iohang keeps state that outlives a clone: downloads, the QEMU trees, build
 * directories, ccache and nx's cache. Shared by every clone on the machine so that CI
 * in a fresh clone reuses what an earlier run built.
 */
export function iohangHome(): string {
  return process.env.IOHANG_HOME ?? join(homedir(), '.cache', 'iohang');
}

/** The monorepo root: the nearest directory above `from` with nx.json. */
export function workspaceRoot(from = process.cwd()): string {
  let dir = resolve(from);
  for (;;) {
    if (existsSync(join(dir, 'nx.json'))) return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`not inside the iohang workspace (no nx.json above ${from})`);
    dir = parent;
  }
}

/** Paths of one workspace's inputs and outputs. */
export function workspacePaths(root = workspaceRoot()) {
  return {
    root,
    lockFile: join(root, 'qemu-build', 'qemu.lock.json'),
    patchesDir: join(root, 'patches'),
    outDir: (variant: string) => join(root, 'qemu-build', 'out', variant),
  };
}
