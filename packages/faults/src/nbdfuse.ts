import type { ChildProcess } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { $ } from 'zx';
import { IohangError } from '@iohang/builder';
import { describeEnd, endOf, spawnOwned, stopProcess, withTimeout } from '@iohang/vm';
import { NbdkitBackend, type NbdkitOptions } from './nbdkit.ts';

/**
 * An image that is a plain file to QEMU (`-drive file=...`) but whose I/O fails on
 * demand: nbdfuse serves an nbdkit export, under nbdkit's error filter, as a file through
 * FUSE. The fault sits below QEMU, like failing network storage, so any command line works
 * unchanged -- also one whose nodes QMP cannot address.
 */
export class NbdfuseImage implements AsyncDisposable {
  private stopped = false;

  private constructor(
    readonly path: string,
    private readonly nbd: NbdkitBackend,
    private readonly fuse: ChildProcess,
  ) {}

  static async start(opts: NbdkitOptions & { name?: string }): Promise<NbdfuseImage> {
    const nbd = await NbdkitBackend.start(opts);
    const path = join(opts.dir, opts.name ?? 'shared.img');
    writeFileSync(path, '');
    const fuse = spawnOwned('nbdfuse', [path, '--unix', nbd.socket], { stdio: ['ignore', 'ignore', 'pipe'] });
    const image = new NbdfuseImage(path, nbd, fuse);
    const mounted = (async () => {
      // The empty placeholder takes the export's size once the FUSE mount is up.
      while (statSync(path).size === 0) {
        if (fuse.exitCode !== null) throw new IohangError(`nbdfuse exited (code ${fuse.exitCode})`, 'Is /dev/fuse usable? sudo npm run setup installs fuse3 and libnbd-bin');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await withTimeout(mounted, 10_000).catch(async (e: Error) => {
      await image.stop();
      throw e;
    });
    return image;
  }

  startErrors(): void {
    this.nbd.startErrors();
  }

  stopErrors(): void {
    this.nbd.stopErrors();
  }

  get pids(): number[] {
    return [this.fuse.pid, this.nbd.pid].filter((p): p is number => p !== undefined);
  }

  /** Unmount and stop both daemons; it is an error if either had died before. Idempotent. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const fuseEnd = endOf(this.fuse);
    // Unmount first so nothing is left stale, then let both processes go (nbdfuse exits on the unmount).
    await $({ quiet: true })`fusermount3 -u -z ${this.path}`.nothrow();
    await stopProcess(this.fuse);
    await this.nbd.stop();
    if (fuseEnd) throw new Error(`nbdfuse had died before the test stopped it (${describeEnd(fuseEnd)})`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
