import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';

/** A Debian package iohang needs, why, and where it comes from. */
export interface Requirement {
  pkg: string;
  why: string;
  /** Install from this release (e.g. bookworm-backports) instead of the default one. */
  release?: string;
  /** Lowest acceptable version (dpkg ordering). */
  minVersion?: string;
}

export const REQUIREMENTS: Requirement[] = [
  { pkg: 'meson', why: 'QEMU 10 needs meson >= 1.5', release: 'bookworm-backports', minVersion: '1.5' },
  ...['ninja-build', 'gcc', 'g++', 'make', 'pkgconf', 'python3-venv', 'flex', 'bison', 'ccache', 'git', 'perl'].map((pkg) => ({ pkg, why: 'build tools' })),
  ...['libglib2.0-dev', 'libpixman-1-dev', 'zlib1g-dev', 'libaio-dev', 'liburing-dev', 'libslirp-dev', 'libfdt-dev'].map((pkg) => ({ pkg, why: 'QEMU build dependency' })),
  { pkg: 'dpkg-dev', why: 'dpkg-source unpacks the Debian source package' },
  { pkg: 'xz-utils', why: 'the source tarballs are .tar.xz' },
  { pkg: 'seabios', why: 'PC BIOS for the firmware directory (the +ds source has no blobs)' },
  { pkg: 'qemu-system-data', why: 'option ROMs (linuxboot_dma.bin, kvmvapic.bin) for the firmware directory' },
  { pkg: 'ipxe-qemu', why: "NIC option ROMs (efi-e1000.rom) for QEMU's own qtests and iotests (iohang qemu suites)" },
  ...['busybox-static', 'cpio', 'e2fsprogs', 'kmod', 'libc6-dev'].map((pkg) => ({ pkg, why: 'guest image builder' })),
  { pkg: 'nbdkit', why: 'NBD fault-injection backend' },
  { pkg: 'libnbd-bin', why: 'nbdfuse: an nbdkit export as a plain image file, for faults below QEMU' },
  { pkg: 'fuse3', why: 'fusermount3 for nbdfuse' },
  { pkg: 'libiscsi-dev', why: "QEMU's iscsi block driver (--enable-libiscsi), for the iSCSI outage scenario" },
  { pkg: 'tgt', why: 'a user-space iSCSI target (tgtd) for the iSCSI outage scenario' },
  { pkg: 'iproute2', why: 'network namespaces and a veth link for the real network-storage outage' },
  { pkg: 'chromium', why: 'headless browser checks of the docs site (playwright-core drives /usr/bin/chromium)' },
];

const SOURCES_FILE = '/etc/apt/sources.list.d/iohang.sources';

export interface SystemStatus {
  missing: Requirement[];
  /** Installed but older than minVersion. */
  tooOld: (Requirement & { installed: string })[];
  /** deb-src for the QEMU source suite and the backports suite are configured. */
  sourcesConfigured: boolean;
}

export async function installedVersions(pkgs: string[]): Promise<Map<string, string>> {
  const out = await $`dpkg-query -W -f=${'${Package} ${Status} ${Version}\n'} ${pkgs}`.nothrow().quiet();
  const versions = new Map<string, string>();
  for (const line of out.stdout.split('\n')) {
    const m = /^(\S+) install ok installed (\S+)$/.exec(line.trim());
    if (m) versions.set(m[1]!, m[2]!);
  }
  return versions;
}

export async function versionAtLeast(version: string, min: string): Promise<boolean> {
  return (await $`dpkg --compare-versions ${version} ge ${min}`.nothrow().quiet()).exitCode === 0;
}

export async function checkSystem(requirements = REQUIREMENTS): Promise<SystemStatus> {
  const versions = await installedVersions(requirements.map((r) => r.pkg));
  const missing: Requirement[] = [];
  const tooOld: SystemStatus['tooOld'] = [];
  for (const r of requirements) {
    const v = versions.get(r.pkg);
    if (v === undefined) missing.push(r);
    else if (r.minVersion && !(await versionAtLeast(v, r.minVersion))) tooOld.push({ ...r, installed: v });
  }
  return { missing, tooOld, sourcesConfigured: existsSync(SOURCES_FILE) };
}

export function describeProblems(s: SystemStatus): string[] {
  return [
    ...s.missing.map((r) => `missing package ${r.pkg} (${r.why})`),
    ...s.tooOld.map((r) => `${r.pkg} ${r.installed} is too old: need >= ${r.minVersion} (${r.why})`),
    ...(s.sourcesConfigured ? [] : [`apt sources for the QEMU source (deb-src trixie) and bookworm-backports are not set up (${SOURCES_FILE})`]),
  ];
}

/** The Debian mirror this machine already uses, read from its own apt configuration. */
export function debianMirror(): string {
  const deb822 = '/etc/apt/sources.list.d/debian.sources';
  if (existsSync(deb822)) {
    for (const stanza of readFileSync(deb822, 'utf8').split(/\n\s*\n/)) {
      const uri = /^URIs:\s*(\S+)/m.exec(stanza)?.[1];
      const suites = /^Suites:\s*(.+)$/m.exec(stanza)?.[1] ?? '';
      if (uri && /\bbookworm\b/.test(suites) && !uri.includes('security')) return uri;
    }
  }
  const legacy = '/etc/apt/sources.list';
  if (existsSync(legacy)) {
    const m = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(readFileSync(legacy, 'utf8'));
    if (m) return m[1]!;
  }
  throw new IohangError('cannot find the Debian mirror in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list', 'Add a bookworm "deb" source to apt first, then run: npm run setup');
}

export function sourcesFileText(mirror: string): string {
  return `# Written by iohang (npm run setup): the QEMU 10.0.x source package and meson >= 1.5.
Types: deb-src
URIs: ${mirror}
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${mirror}
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
`;
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Idempotent: adds the apt sources, installs what is missing or too old, and returns the
 * packages it installed. Needs root.
 */
export async function setupSystem(log: (line: string) => void = console.log): Promise<string[]> {
  const before = await checkSystem();
  const problems = describeProblems(before);
  if (problems.length === 0) {
    log('system setup: everything is already in place');
    return [];
  }
  if (!isRoot()) {
    throw new IohangError(`this machine is not set up for iohang:\n  ${problems.join('\n  ')}`, 'Run as root: sudo npm run setup');
  }
  const text = sourcesFileText(debianMirror());
  if (!existsSync(SOURCES_FILE) || readFileSync(SOURCES_FILE, 'utf8') !== text) {
    writeFileSync(SOURCES_FILE, text);
    log(`wrote ${SOURCES_FILE} (deb-src trixie, deb bookworm-backports)`);
  }
  log('apt-get update');
  await aptGet(['update', '-q']);
  const wanted = [...before.missing, ...before.tooOld];
  for (const release of new Set(wanted.map((r) => r.release))) {
    const pkgs = wanted.filter((r) => r.release === release).map((r) => r.pkg);
    log(`apt-get install ${release ? `-t ${release} ` : ''}${pkgs.join(' ')}`);
    await aptGet(['install', '-y', '-q', '--no-install-recommends', ...(release ? ['-t', release] : []), ...pkgs]);
  }
  const left = describeProblems(await checkSystem());
  if (left.length) throw new IohangError(`system setup did not finish:\n  ${left.join('\n  ')}`, 'Read the apt-get output above');
  const installed = wanted.map((r) => r.pkg);
  log(`installed: ${installed.join(' ') || '(nothing; apt sources added)'}`);
  return installed;
}

async function aptGet(args: string[]): Promise<void> {
  const r = await $({ env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })`apt-get ${args}`.nothrow().quiet();
  if (r.exitCode !== 0) {
    throw new IohangError(`apt-get ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.stderr.trim().split('\n').slice(-15).join('\n')}`, 'Check the apt error above (network, mirror, package name), then run: npm run setup');
  }
}

/**
 * Make sure the system can build and run iohang: silent when it can; as root (CI) it runs
 * the setup itself; otherwise it stops with the exact command to run.
 */
export async function ensureSystem(log: (line: string) => void = console.log): Promise<void> {
  if (describeProblems(await checkSystem()).length) await setupSystem(log);
}
