import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError } from '@iohang/builder';
import { spawnOwned, stopProcess, withTimeout } from '@iohang/vm';
import type { ErrnoName, IoOp } from './ops.ts';

/** nbdkit error filter names per request type (it has no flush hook). */
const FILTER_OP: Partial<Record<IoOp, string>> = { read: 'pread', write: 'pwrite', discard: 'trim', 'write-zeroes': 'zero' };

export interface NbdkitOptions {
  image: string;
  /** Directory for the socket and the trigger file. */
  dir: string;
  /** Operations that fail while errors are on (default: read, write, discard, write-zeroes). */
  ops?: IoOp[];
  errno?: Extract<ErrnoName, 'EIO' | 'ENOSPC' | 'EPERM' | 'EINVAL' | 'ENOMEM' | 'ESHUTDOWN'>;
}

/**
 * A real NBD server in its own process: nbdkit's file plugin under its error filter, which
 * fails the chosen operations while a trigger file exists.
 */
export class NbdkitBackend implements AsyncDisposable {
  readonly socket: string;
  readonly trigger: string;
  private output = '';

  private constructor(
    private readonly child: ChildProcess,
    dir: string,
  ) {
    this.socket = join(dir, 'nbdkit.sock');
    this.trigger = join(dir, 'nbdkit.errors-on');
    child.stderr?.on('data', (b: Buffer) => (this.output = (this.output + b.toString()).slice(-8192)));
  }

  static async start(opts: NbdkitOptions): Promise<NbdkitBackend> {
    const ops = opts.ops ?? ['read', 'write', 'discard', 'write-zeroes'];
    const trigger = join(opts.dir, 'nbdkit.errors-on');
    rmSync(trigger, { force: true });
    const filterArgs = ops.flatMap((op) => {
      const name = FILTER_OP[op];
      if (!name) throw new IohangError(`nbdkit's error filter cannot fail ${op} requests`, 'Use the blkdebug fault for flush');
      return [`error-${name}-rate=100%`, `error-${name}-file=${trigger}`];
    });
    const args = ['--foreground', '--exit-with-parent', '-U', join(opts.dir, 'nbdkit.sock'), '--filter=error', 'file', opts.image, `error=${opts.errno ?? 'EIO'}`, ...filterArgs];
    const child = spawnOwned('nbdkit', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    const backend = new NbdkitBackend(child, opts.dir);
    const ready = (async () => {
      while (!existsSync(backend.socket)) {
        if (child.exitCode !== null) throw new IohangError(`nbdkit exited (code ${child.exitCode}): ${backend.output.trim()}`, 'Is nbdkit installed? sudo npm run setup');
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await withTimeout(ready, 10_000).catch(async (e: Error) => {
      await stopProcess(child);
      throw e;
    });
    return backend;
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** blockdev options for QEMU's NBD client (a DiskSpec backend). */
  blockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'unix', path: this.socket } };
  }

  startErrors(): void {
    writeFileSync(this.trigger, '');
  }

  stopErrors(): void {
    rmSync(this.trigger, { force: true });
  }

  async stop(): Promise<void> {
    await stopProcess(this.child);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
