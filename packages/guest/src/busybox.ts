import { join } from 'node:path';
import { iohangHome } from '@iohang/core';
import { aptVersion, unpackDeb } from './apt.ts';

export interface Busybox {
  /** Debian version of busybox-static, e.g. 1:1.35.0-4+deb12u1+b1 */
  version: string;
  /** The static binary, unpacked from the .deb (not the host's installed copy). */
  binary: string;
}

/** Debian's busybox-static, downloaded and unpacked once per version under ~/.cache/iohang/guest. */
export async function fetchBusybox(log: (line: string) => void = () => {}): Promise<Busybox> {
  const version = await aptVersion('busybox-static');
  const dir = join(iohangHome(), 'guest', 'busybox', version.replace(/^\d+:/, ''));
  const root = await unpackDeb('busybox-static', version, dir, log);
  return { version, binary: join(root, 'bin', 'busybox') };
}
