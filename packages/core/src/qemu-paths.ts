import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError } from './errors.ts';
import { workspacePaths } from './paths.ts';

/**
 * The QEMU builds in qemu-build/out/<variant>/: the series (default), the series with
 * AddressSanitizer and UBSan (asan), and the unpatched base (base). configure.json has the
 * flags of the first two (a builder test keeps the lists equal).
 */
export const QEMU_VARIANTS = ['default', 'asan', 'base'] as const;
export type QemuVariant = (typeof QEMU_VARIANTS)[number];

/** A variant named by a user (a flag, an environment variable), or an error saying which exist. */
export function parseVariant(name: string, where: string): QemuVariant {
  if ((QEMU_VARIANTS as readonly string[]).includes(name)) return name as QemuVariant;
  throw new IohangError(`${where}: no QEMU variant "${name}"`, `Use one of: ${QEMU_VARIANTS.join(', ')}`);
}

/**
 * The variant a test run uses: IOHANG_QEMU_VARIANT (the sanitizer tier sets asan), else
 * default. Commands do not read it: they pass the variant they built.
 */
export function testVariant(env: NodeJS.ProcessEnv = process.env): QemuVariant {
  return env.IOHANG_QEMU_VARIANT ? parseVariant(env.IOHANG_QEMU_VARIANT, 'IOHANG_QEMU_VARIANT') : 'default';
}

/** The command that builds a variant. */
export function buildCommand(variant: QemuVariant): string {
  return `npx iohang qemu build${variant === 'default' ? '' : ` --${variant}`}`;
}

/** The binaries and firmware of one build variant in qemu-build/out/. */
export function qemuPaths(variant: QemuVariant = testVariant(), root?: string) {
  const out = workspacePaths(root).outDir(variant);
  if (!existsSync(join(out, 'manifest.json'))) {
    throw new IohangError(`no QEMU build in ${out}`, `Build it with: ${buildCommand(variant)}`);
  }
  const bin = (name: string) => join(out, 'bin', name);
  return {
    variant,
    out,
    system: bin('qemu-system-x86_64'),
    img: bin('qemu-img'),
    io: bin('qemu-io'),
    nbd: bin('qemu-nbd'),
    storageDaemon: bin('qemu-storage-daemon'),
    firmware: join(out, 'firmware'),
  };
}
