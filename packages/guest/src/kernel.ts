import { existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError, iohangHome } from '@iohang/builder';

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
  const deps = await $({ quiet: true })`apt-cache depends linux-image-amd64`.nothrow();
  const pkg = /Depends: (linux-image-[\w.-]+)/.exec(deps.stdout)?.[1];
  if (!pkg) throw new IohangError('apt does not know linux-image-amd64 or what it depends on', 'Run apt-get update (as root), then try again');
  const show = await $({ quiet: true })`apt-cache show ${pkg}`.nothrow();
  const version = /^Version: (\S+)/m.exec(show.stdout)?.[1];
  if (!version) throw new IohangError(`apt-cache show ${pkg} gave no version`, 'Run apt-get update (as root), then try again');
  return { pkg, version };
}

/** Download (apt-get download) and unpack the guest kernel once per version, under ~/.cache/iohang/guest. */
export async function fetchKernel(log: (line: string) => void = () => {}): Promise<Kernel> {
  const { pkg, version } = await resolveKernelPackage();
  const release = pkg.replace(/^linux-image-/, '');
  const dir = join(iohangHome(), 'guest', 'kernels', `${pkg}_${version}`);
  const root = join(dir, 'root');
  const vmlinuz = join(root, 'boot', `vmlinuz-${release}`);
  if (!existsSync(vmlinuz)) {
    mkdirSync(dir, { recursive: true });
    const staging = mkdtempSync(join(dir, '.download-'));
    try {
      log(`downloading ${pkg}=${version}`);
      const dl = await $({ cwd: staging, quiet: true })`apt-get download ${`${pkg}=${version}`}`.nothrow();
      if (dl.exitCode !== 0) throw new IohangError(`apt-get download ${pkg}=${version} failed:\n${dl.stderr.trim()}`, 'Run apt-get update (as root), then try again');
      const deb = readdirSync(staging).find((f) => f.endsWith('.deb'))!;
      await $({ quiet: true })`dpkg-deb -x ${join(staging, deb)} ${join(staging, 'root')}`;
      rmSync(root, { recursive: true, force: true });
      renameSync(join(staging, 'root'), root);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  }
  return { pkg, version, release, vmlinuz, root };
}
