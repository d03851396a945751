import type { ChildProcess } from 'node:child_process';
import { IohangError } from './errors.ts';
import { describeEnd, endOf, spawnOwned, stopProcess, type ProcessEnd } from './processes.ts';
import { sleep } from './time.ts';

export interface DaemonOptions {
  /** Its name in messages: "nbdkit", "qemu-nbd in the network namespace". */
  name: string;
  /** True once it serves; polled until then. May throw to give up (a helper it needs died). */
  ready: () => boolean | Promise<boolean>;
  /** What a user can do when it exits or never gets ready. */
  hint: string;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Default 50 ms. */
  pollMs?: number;
  /** SIGTERM to SIGKILL at stop (default 3 s; 0 for a daemon that ignores SIGTERM). */
  stopGraceMs?: number;
}

/**
 * A daemon a test relies on (nbdkit, nbdfuse, qemu-nbd, tgtd): owned like every child,
 * its output's tail kept for messages. Stopping one that had died by itself is an error,
 * since the test's premise was broken.
 */
export class Daemon implements AsyncDisposable {
  private tail = '';
  private stopping?: Promise<ProcessEnd & { before: boolean }>;

  constructor(
    readonly child: ChildProcess,
    readonly opts: DaemonOptions,
  ) {
    const keep = (b: Buffer) => (this.tail = (this.tail + b.toString()).slice(-8192));
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The last 8 KiB it printed, trimmed. */
  get output(): string {
    return this.tail.trim();
  }

  /** How it ended; undefined while it runs. */
  get end(): ProcessEnd | undefined {
    return endOf(this.child);
  }

  /** Stop it (once; later calls wait for the first); throws if it had died before. */
  async stop(): Promise<void> {
    this.stopping ??= stopProcess(this.child, this.opts.stopGraceMs);
    const end = await this.stopping;
    if (end.before) throw new Error(`${this.opts.name} had died before the test stopped it (${describeEnd(end)})${this.output ? `: ${this.output}` : ''}`);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
  }
}

/**
 * Spawn a daemon and wait until `ready` says it serves. A daemon that exits first or is
 * not ready in time is stopped and reported with its output and `hint`.
 */
export async function startDaemon(cmd: string, args: string[], opts: DaemonOptions): Promise<Daemon> {
  const daemon = new Daemon(spawnOwned(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] }), opts);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      const end = daemon.end;
      if (end) throw new IohangError(`${opts.name} exited (${describeEnd(end)})${daemon.output ? `: ${daemon.output}` : ''}`, opts.hint);
      if (await opts.ready()) return daemon;
      if (Date.now() > deadline) throw new IohangError(`${opts.name} was not ready within ${timeoutMs / 1000} s${daemon.output ? `: ${daemon.output}` : ''}`, opts.hint);
      await sleep(opts.pollMs ?? 50);
    }
  } catch (e) {
    await stopProcess(daemon.child, opts.stopGraceMs);
    throw e;
  }
}
