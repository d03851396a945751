import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { IohangError } from '@iohang/core';

/** qemu-build/configure.json: configure flags per variant, shipped targets, firmware. */
export const BuildConfigSchema = z.object({
  common: z.array(z.string().startsWith('--')),
  variants: z.record(z.string(), z.array(z.string().startsWith('--'))),
  /** Output name -> ninja target. */
  targets: z.record(z.string(), z.string()),
  /** Host directory -> firmware files copied from it. */
  firmware: z.record(z.string(), z.array(z.string())),
});
export type BuildConfig = z.infer<typeof BuildConfigSchema>;

export function readBuildConfig(root: string): BuildConfig {
  const path = join(root, 'qemu-build', 'configure.json');
  const parsed = BuildConfigSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  if (!parsed.success) throw new IohangError(`${path} is invalid: ${parsed.error.message}`, 'Fix the file or restore it with git checkout');
  return parsed.data;
}

export function configureFlags(config: BuildConfig, variant: string): string[] {
  const extra = config.variants[variant];
  if (!extra) throw new IohangError(`unknown build variant "${variant}"`, `Use one of: ${Object.keys(config.variants).join(', ')}`);
  return [...config.common, ...extra];
}
