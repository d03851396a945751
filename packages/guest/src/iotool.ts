import { fileURLToPath } from 'node:url';
import { $ } from 'zx';
import { IohangError } from '@iohang/builder';

/** The guest's I/O load generator (see the comment at its top). */
export const IOTOOL_SOURCE = fileURLToPath(new URL('../iotool/iotool.c', import.meta.url));

/** Compile iotool as a static binary, so it runs in a guest that has no libc. */
export async function compileIotool(output: string, source = IOTOOL_SOURCE): Promise<void> {
  const cc = await $({ quiet: true })`gcc -static -O2 -Wall -Werror -o ${output} ${source}`.nothrow();
  if (cc.exitCode !== 0) throw new IohangError(`gcc could not build ${source}:\n${cc.stderr.trim()}`, 'Fix the source; static linking also needs libc6-dev (sudo npm run setup)');
}
