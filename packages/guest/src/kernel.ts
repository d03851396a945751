import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError, iohangHome } from '@iohang/core';
import { aptCached, aptVersion, unpackDeb } from './apt.ts';

export interface Kernel {
  /** The versioned package linux-image-amd64 depends on, e.g. linux-image-6.1.0-56-amd64 */
  pkg: string;
  /** Debian package version, e.g. 6.1.192-2 */
  version: string;
  /** Kernel release (uname -r), e.g. 6.1.0-56-amd64 */
  release: string;
  vmlinuz: string;
  /** Root of the unpacked package: lib/modules/<release>/... */
  root: string;
}

/**
 * The kernel package that Debian's linux-image-amd64 currently depends on. Its ABI number
 * changes with security updates, so it is resolved, never hard-coded.
 */
export async function resolveKernelPackage(): Promise<{ pkg: string; version: string }> {
  const pkg = await aptCached('depends:linux-image-amd64', async () => {
    const deps = await $({ quiet: true })`apt-cache depends linux-image-amd64`.nothrow();
    const found = /Depends: (linux-image-[\w.-]+)/.exec(deps.stdout)?.[1];
    if (!found) throw new IohangError('apt does not know linux-image-amd64 or what it depends on', 'Run apt-get update (as root), then try again');
    return found;
  });
  return { pkg, version: await aptVersion(pkg) };
}

/** Download (apt-get download) and unpack the guest kernel once per version, under ~/.cache/iohang/guest. */
export async function fetchKernel(log: (line: string) => void = () => {}): Promise<Kernel> {
  const { pkg, version } = await resolveKernelPackage();
  const release = pkg.replace(/^linux-image-/, '');
  const root = await unpackDeb(pkg, version, join(iohangHome(), 'guest', 'kernels', `${pkg}_${version}`), log);
  return { pkg, version, release, vmlinuz: join(root, 'boot', `vmlinuz-${release}`), root };
}
