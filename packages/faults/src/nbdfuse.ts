import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { startDaemon, type Daemon } from '@iohang/core';
import type { Fault } from './fault.ts';
import { NbdkitBackend, type NbdkitOptions } from './nbdkit.ts';

/**
 * An image that is a plain file to QEMU (`-drive file=...`) but whose I/O fails on
 * demand: nbdfuse serves an nbdkit export, under nbdkit's error filter, as a file through
 * FUSE. The fault sits below QEMU, like failing network storage, so any command line works
 * unchanged -- also one whose nodes QMP cannot address. Its I/O fails between begin() and
 * end(); disposing of it unmounts it and stops both daemons.
 */
export class NbdfuseImage implements Fault {
  private stopped = false;

  private constructor(
    readonly path: string,
    private readonly nbd: NbdkitBackend,
    private readonly fuse: Daemon,
  ) {}

  static async start(opts: NbdkitOptions & { name?: string }): Promise<NbdfuseImage> {
    const nbd = await NbdkitBackend.start(opts);
    const path = join(opts.dir, opts.name ?? 'shared.img');
    writeFileSync(path, '');
    try {
      // The empty placeholder takes the export's size once the FUSE mount is up.
      const fuse = await startDaemon('nbdfuse', [path, '--unix', nbd.socket], {
        name: 'nbdfuse',
        ready: () => statSync(path).size > 0,
        hint: 'Is /dev/fuse usable? sudo npm run setup installs fuse3 and libnbd-bin',
      });
      return new NbdfuseImage(path, nbd, fuse);
    } catch (e) {
      await unmount(path);
      await nbd.stop();
      throw e;
    }
  }

  begin(): Promise<void> {
    return this.nbd.begin();
  }

  end(): Promise<void> {
    return this.nbd.end();
  }

  get pids(): number[] {
    return [this.fuse.pid, this.nbd.pid].filter((p): p is number => p !== undefined);
  }

  /** Unmount and stop both daemons; it is an error if either had died before. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const died = this.fuse.end;
    // Unmount first so nothing is left stale, then let both processes go (nbdfuse exits on
    // the unmount, so its end after that is no news; one from before is).
    await unmount(this.path);
    const error = await this.fuse.stop().catch((e: Error) => e);
    await this.nbd.stop();
    if (died && error) throw error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

function unmount(path: string) {
  return $({ quiet: true })`fusermount3 -u -z ${path}`.nothrow();
}
