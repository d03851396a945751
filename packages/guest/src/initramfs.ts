import { createHash } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { iohangHome } from '@iohang/core';
import { fetchBusybox } from './busybox.ts';
import { compileIotool, IOTOOL_SOURCE } from './iotool.ts';
import { fetchKernel, type Kernel } from './kernel.ts';
import { GUEST_MODULES, kernelModulesDep, loadOrder, stageModules } from './modules.ts';

export interface Guest {
  kernel: Kernel;
  /** gzip'd newc cpio: busybox, the drivers, /init, the agent and /bin/iotool */
  initrd: string;
  /** Hash of every input; names the cache directory. */
  hash: string;
  /** Module names in the order /init loads them. */
  modules: string[];
}

export interface GuestOptions {
  log?: (line: string) => void;
  /** Modules to load (their dependencies are added); default GUEST_MODULES. */
  modules?: readonly string[];
}

/** Bump when the layout changes in a way the hashed inputs do not show. */
const LAYOUT_VERSION = 1;

const INIT_SCRIPT = fileURLToPath(new URL('../initramfs/init.sh', import.meta.url));
const AGENT_SCRIPT = fileURLToPath(new URL('../initramfs/agent.sh', import.meta.url));

/**
 * The test guest: Debian's kernel and a busybox initramfs with the drivers, the command
 * agent (on ttyS1) and iotool. Cached by input hash under ~/.cache/iohang/guest/builds, so
 * a call with nothing changed only resolves versions and hashes a few files.
 */
export async function buildGuest(opts: GuestOptions = {}): Promise<Guest> {
  const log = opts.log ?? (() => {});
  const names = opts.modules ?? GUEST_MODULES;
  const kernel = await fetchKernel(log);
  const busybox = await fetchBusybox(log);
  const init = readFileSync(INIT_SCRIPT, 'utf8');
  const agent = readFileSync(AGENT_SCRIPT, 'utf8');
  const iotool = readFileSync(IOTOOL_SOURCE, 'utf8');
  const hash = createHash('sha256')
    .update(JSON.stringify({ LAYOUT_VERSION, kernel: [kernel.pkg, kernel.version], busybox: busybox.version, init, agent, iotool, names }))
    .digest('hex')
    .slice(0, 16);

  const builds = join(iohangHome(), 'guest', 'builds');
  const dir = join(builds, hash);
  const manifest = join(dir, 'guest.json');
  if (existsSync(manifest)) {
    const { modules } = JSON.parse(readFileSync(manifest, 'utf8')) as { modules: string[] };
    return { kernel, initrd: join(dir, 'initrd.img'), hash, modules };
  }

  log(`building guest initramfs ${hash}`);
  mkdirSync(builds, { recursive: true });
  const staging = mkdtempSync(join(builds, '.staging-'));
  try {
    const root = join(staging, 'root');
    for (const d of ['bin', 'dev', 'etc', 'mnt', 'proc', 'run', 'sys', 'tmp', 'usr']) mkdirSync(join(root, d), { recursive: true });

    // Every applet in /bin; the usual other bin directories point there, for scripts with absolute paths.
    copyFileSync(busybox.binary, join(root, 'bin', 'busybox'));
    chmodSync(join(root, 'bin', 'busybox'), 0o755);
    const applets = (await $({ quiet: true })`${busybox.binary} --list`).stdout.split('\n').filter((a) => a && a !== 'busybox');
    for (const applet of applets) symlinkSync('busybox', join(root, 'bin', applet));
    symlinkSync('bin', join(root, 'sbin'));
    symlinkSync('../bin', join(root, 'usr', 'bin'));
    symlinkSync('../bin', join(root, 'usr', 'sbin'));

    writeFileSync(join(root, 'init'), init, { mode: 0o755 });
    writeFileSync(join(root, 'bin', 'iohang-agent'), agent, { mode: 0o755 });
    log('compiling iotool');
    await compileIotool(join(root, 'bin', 'iotool'));

    const order = loadOrder(await kernelModulesDep(kernel), names);
    const modules = await stageModules(kernel, order, root);

    // -R 0:0: everything owned by root in the guest, whoever builds it.
    await $({ cwd: root, quiet: true })`find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -9n > ${join(staging, 'initrd.img')}`;
    rmSync(root, { recursive: true, force: true });
    writeFileSync(join(staging, 'guest.json'), JSON.stringify({ hash, kernel: kernel.pkg, kernelVersion: kernel.version, busybox: busybox.version, modules }, null, 2) + '\n');
    chmodSync(staging, 0o755); // mkdtemp made it private; QEMU may run as another user
    try {
      renameSync(staging, dir);
    } catch (e) {
      if (!existsSync(manifest)) throw e; // else a concurrent build finished first; use it
    }
    return { kernel, initrd: join(dir, 'initrd.img'), hash, modules };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
