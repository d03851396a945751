import { join } from 'node:path';
import { iohangHome } from '@iohang/core';

/** Paths under iohangHome() for one pinned source version. */
export function statePaths(sourceVersion: string, home = iohangHome()) {
  const v = sourceVersion.replace(/^\d+:/, '');
  return {
    home,
    downloads: join(home, 'downloads', v),
    /** The tree the builder manages: pristine base commit + one commit per patch. */
    buildTree: join(home, 'src', v),
    /** A git worktree of buildTree, detached at iohang-base: the unpatched source (variant "base"). */
    baseTree: join(home, 'src', `${v}-base`),
    /** The developer's editable tree (`iohang qemu tree`); the builder never resets it. */
    devTree: join(home, 'tree', v),
    buildDir: (variant: string) => join(home, 'build', v, variant),
    ccache: join(home, 'ccache'),
  };
}
