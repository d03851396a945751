import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { IohangError } from '@iohang/core';

/** The guest's I/O load generator (see the comment at its top). */
export const IOTOOL_SOURCE = fileURLToPath(new URL('../iotool/iotool.c', import.meta.url));

/** Compile iotool as a static binary, so it runs in a guest that has no libc. */
export async function compileIotool(output: string, source = IOTOOL_SOURCE): Promise<void> {
  const cc = await $({ quiet: true })`gcc -static -O2 -Wall -Werror -o ${output} ${source}`.nothrow();
  if (cc.exitCode !== 0) throw new IohangError(`gcc could not build ${source}:\n${cc.stderr.trim()}`, 'Fix the source; static linking also needs libc6-dev (sudo npm run setup)');
}

/** The JSON iotool prints (see iotool.c): counts, errors and the per-request timeline. */
export interface IotoolResult {
  op: string;
  /** The guest's wall clock when iotool started (ms since the epoch). */
  start_unix_ms: number;
  done: number;
  ok: boolean;
  errors: { op: string; index: number; offset: number; errno: number; error: string; t_ms: number }[];
  timeline: { t_ms: number; lat_us: number; ok: boolean; op?: string }[];
  [key: string]: unknown;
}

/** iotool's result from a guest command's output (its last JSON line). */
export function parseIotoolResult(stdout: string): IotoolResult {
  const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`iotool printed no JSON:\n${stdout}`);
  return JSON.parse(line) as IotoolResult;
}
