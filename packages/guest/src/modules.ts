import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';
import type { Kernel } from './kernel.ts';

/**
 * The drivers the guest loads: virtio core, virtio-blk, virtio-scsi + sd_mod, ahci, nvme
 * and ext4. crc32c_generic is listed because ext4 asks the crypto API for crc32c at mount
 * time: modules.dep does not know about it, so it must precede ext4 here.
 */
export const GUEST_MODULES: readonly string[] = [
  'virtio_ring', 'virtio', 'virtio_pci_legacy_dev', 'virtio_pci_modern_dev', 'virtio_pci',
  'virtio_blk',
  'scsi_common', 'scsi_mod', 'virtio_scsi', 'sd_mod',
  'libata', 'libahci', 'ahci', 'ata_piix',
  'nvme-core', 'nvme',
  'crc16', 'mbcache', 'jbd2', 'crc32c_generic', 'ext4',
];

/** modules.dep: module path (relative to lib/modules/<release>) -> the paths it needs. */
export type ModulesDep = Map<string, string[]>;

export function parseModulesDep(text: string): ModulesDep {
  const deps: ModulesDep = new Map();
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    deps.set(line.slice(0, colon), line.slice(colon + 1).trim().split(/\s+/).filter(Boolean));
  }
  return deps;
}

/** Module name of a path: kernel/drivers/nvme/host/nvme-core.ko.xz -> nvme_core (the kernel treats - and _ alike). */
export function moduleName(path: string): string {
  return basename(path).replace(/\.ko(\.\w+)?$/, '').replaceAll('-', '_');
}

/**
 * The paths to load, every module after all of its dependencies, for the requested names
 * (in their order where dependencies leave a choice).
 */
export function loadOrder(deps: ModulesDep, names: readonly string[]): string[] {
  const byName = new Map([...deps.keys()].map((p) => [moduleName(p), p]));
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    // modules.dep lists the full closure; depth-first still puts a dependency's own deps before it.
    for (const dep of deps.get(path) ?? []) visit(dep);
    order.push(path);
  };
  for (const name of names) {
    const path = byName.get(moduleName(name));
    if (!path) throw new IohangError(`the guest kernel has no module ${name}`, 'Fix the module list passed to buildGuest()');
    visit(path);
  }
  return order;
}

/**
 * modules.dep of the whole kernel, made once per kernel with depmod in a hard-linked copy
 * (the Debian package ships none, and the unpacked package stays as it came).
 */
export async function kernelModulesDep(kernel: Kernel): Promise<ModulesDep> {
  const saved = join(dirname(kernel.root), 'modules.dep');
  if (!existsSync(saved)) {
    const scratch = mkdtempSync(join(dirname(kernel.root), '.depmod-'));
    try {
      const modules = join(scratch, 'lib', 'modules');
      mkdirSync(modules, { recursive: true });
      await $({ quiet: true })`cp -al ${join(kernel.root, 'lib', 'modules', kernel.release)} ${modules}`;
      await $({ quiet: true })`depmod -b ${scratch} ${kernel.release}`;
      renameSync(join(modules, kernel.release, 'modules.dep'), saved);
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  }
  return parseModulesDep(readFileSync(saved, 'utf8'));
}

/**
 * Copy the modules in `order` (with their dependencies already in it) into `root`,
 * uncompressed, and run depmod there. Writes etc/iohang/modules, the list /init insmods in
 * order. Returns the module names in load order.
 */
export async function stageModules(kernel: Kernel, order: string[], root: string): Promise<string[]> {
  const from = join(kernel.root, 'lib', 'modules', kernel.release);
  const to = join(root, 'lib', 'modules', kernel.release);
  const staged: string[] = [];
  for (const path of order) {
    const plain = path.replace(/\.(xz|zst|gz)$/, '');
    mkdirSync(dirname(join(to, plain)), { recursive: true });
    // busybox insmod cannot read compressed modules.
    if (path.endsWith('.xz')) await $({ quiet: true })`xz -dc ${join(from, path)} > ${join(to, plain)}`;
    else if (path.endsWith('.zst')) await $({ quiet: true })`zstd -qdc ${join(from, path)} > ${join(to, plain)}`;
    else if (path.endsWith('.gz')) await $({ quiet: true })`gzip -dc ${join(from, path)} > ${join(to, plain)}`;
    else copyFileSync(join(from, path), join(to, plain));
    staged.push(plain);
  }
  // depmod wants to know what is built in; without these it warns and guesses.
  for (const f of ['modules.order', 'modules.builtin', 'modules.builtin.modinfo']) {
    if (existsSync(join(from, f))) copyFileSync(join(from, f), join(to, f));
  }
  await $({ quiet: true })`depmod -b ${root} ${kernel.release}`;
  mkdirSync(join(root, 'etc', 'iohang'), { recursive: true });
  writeFileSync(join(root, 'etc', 'iohang', 'modules'), staged.join('\n') + '\n');
  return staged.map(moduleName);
}
