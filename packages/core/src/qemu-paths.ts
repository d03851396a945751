import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError } from './errors.ts';
import { workspacePaths } from './paths.ts';

/**
 * The binaries and firmware of one build variant in qemu-build/out/. The default variant
 * can be switched for a whole test run with IOHANG_QEMU_VARIANT (e.g. asan).
 */
export function qemuPaths(variant = process.env.IOHANG_QEMU_VARIANT || 'default', root?: string) {
  const out = workspacePaths(root).outDir(variant);
  if (!existsSync(join(out, 'manifest.json'))) {
    throw new IohangError(`no QEMU build in ${out}`, `Build it with: npx nx run qemu-build:${variant === 'default' ? 'build' : `build-${variant}`}`);
  }
  const bin = (name: string) => join(out, 'bin', name);
  return {
    out,
    system: bin('qemu-system-x86_64'),
    img: bin('qemu-img'),
    io: bin('qemu-io'),
    nbd: bin('qemu-nbd'),
    storageDaemon: bin('qemu-storage-daemon'),
    firmware: join(out, 'firmware'),
  };
}
