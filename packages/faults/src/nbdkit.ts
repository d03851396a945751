import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { IohangError, startDaemon, type Daemon } from '@iohang/core';
import type { Fault } from './fault.ts';
import type { ErrnoName, IoOp } from './ops.ts';

/** nbdkit error filter names per request type (it has no flush hook). */
const FILTER_OP: Partial<Record<IoOp, string>> = { read: 'pread', write: 'pwrite', discard: 'trim', 'write-zeroes': 'zero' };

/** Requests the eval plugin serves, for a fault on flushes (shell, run per request). */
const EVAL_OPS: IoOp[] = ['read', 'write', 'flush'];

/**
 * The file plugin under the error filter, which fails the chosen operations while the
 * trigger file exists; or, for flushes, which that filter cannot fail, the eval plugin
 * serving the image with dd and failing the chosen operations the same way.
 */
function pluginArgs(image: string, trigger: string, ops: IoOp[], errno: string): string[] {
  if (!ops.includes('flush')) {
    const filterArgs = ops.flatMap((op) => [`error-${FILTER_OP[op]}-rate=100%`, `error-${FILTER_OP[op]}-file=${trigger}`]);
    return ['--filter=error', 'file', image, `error=${errno}`, ...filterArgs];
  }
  const unsupported = ops.filter((op) => !EVAL_OPS.includes(op));
  if (unsupported.length) throw new IohangError(`an nbdkit fault on flushes cannot fail ${unsupported.join(', ')} too`, `Fail only ${EVAL_OPS.join(', ')} with it`);
  const q = (path: string) => `'${path.replace(/'/g, `'\\''`)}'`;
  const fail = (op: IoOp) => (ops.includes(op) ? `if [ -e ${q(trigger)} ]; then echo '${errno} injected' >&2; exit 1; fi; ` : '');
  return [
    'eval',
    `get_size=stat -L -c %s ${q(image)}`,
    `pread=${fail('read')}dd if=${q(image)} iflag=skip_bytes,count_bytes skip=$4 count=$3 status=none`,
    `pwrite=${fail('write')}dd of=${q(image)} oflag=seek_bytes conv=notrunc seek=$4 status=none`,
    `flush=${fail('flush')}sync ${q(image)}`,
    'can_write=exit 0',
    'can_flush=exit 0',
  ];
}

export interface NbdkitOptions {
  image: string;
  /** Directory for the socket and the trigger file. */
  dir: string;
  /**
   * Operations that fail while errors are on (default: read, write, discard, write-zeroes).
   * With flush, only read, write and flush are possible.
   */
  ops?: IoOp[];
  errno?: Extract<ErrnoName, 'EIO' | 'ENOSPC' | 'EPERM' | 'EINVAL' | 'ENOMEM' | 'ESHUTDOWN'>;
}

/**
 * A real NBD server in its own process: nbdkit's file plugin under its error filter, which
 * fails the chosen operations while a trigger file exists (between begin() and end()).
 * Disposing of it stops nbdkit.
 */
export class NbdkitBackend implements Fault {
  private constructor(
    private readonly daemon: Daemon,
    readonly socket: string,
    readonly trigger: string,
  ) {}

  static async start(opts: NbdkitOptions): Promise<NbdkitBackend> {
    const ops = opts.ops ?? ['read', 'write', 'discard', 'write-zeroes'];
    const trigger = join(opts.dir, 'nbdkit.errors-on');
    const socket = join(opts.dir, 'nbdkit.sock');
    rmSync(trigger, { force: true });
    const args = ['--foreground', '--exit-with-parent', '-U', socket, ...pluginArgs(opts.image, trigger, ops, opts.errno ?? 'EIO')];
    const daemon = await startDaemon('nbdkit', args, { name: 'nbdkit', ready: () => existsSync(socket), hint: 'Is nbdkit installed? sudo npm run setup' });
    return new NbdkitBackend(daemon, socket, trigger);
  }

  get pid(): number | undefined {
    return this.daemon.pid;
  }

  /** blockdev options for QEMU's NBD client (a DiskSpec backend). */
  blockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'unix', path: this.socket } };
  }

  async begin(): Promise<void> {
    writeFileSync(this.trigger, '');
  }

  async end(): Promise<void> {
    rmSync(this.trigger, { force: true });
  }

  /** Stop nbdkit; it is an error if it had died before. Idempotent. */
  async stop(): Promise<void> {
    await this.daemon.stop();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}
