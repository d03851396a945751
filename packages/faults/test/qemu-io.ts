/** Test helpers: qemu-io from our build driven one command at a time, and scratch images. */
import { spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { qemuPaths, spawnOwned, stopProcess } from '@iohang/core';

/** qemu-io in interactive mode, one command at a time, so one NBD connection lives through the outage. */
export class QemuIo {
  private buf = '';
  /** Everything qemu-io printed: it prints a prompt before it reads each command. */
  private all = '';
  private sent = 0;
  private waiter?: () => void;
  readonly child: ChildProcess;

  constructor(blockdev: Record<string, unknown>, wrap: string[] = []) {
    const io = qemuPaths().io;
    const args = [`json:${JSON.stringify({ driver: 'raw', file: blockdev })}`];
    this.child = wrap.length ? spawnOwned(wrap[0]!, [...wrap.slice(1), io, ...args], { stdio: ['pipe', 'pipe', 'pipe'] }) : spawnOwned(io, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdin?.on('error', () => undefined);
    for (const s of [this.child.stdout, this.child.stderr] as Readable[]) {
      s.on('data', (b: Buffer) => {
        this.buf += b.toString();
        this.all += b.toString();
        this.waiter?.();
      });
    }
  }

  /** Run one command; ok = it printed its result, not an error. */
  async run(cmd: string, timeoutMs = 60_000): Promise<{ ok: boolean; ms: number; text: string }> {
    this.buf = '';
    const started = Date.now();
    (this.child.stdin as Writable).write(`${cmd}\n`);
    const n = ++this.sent;
    // Done when qemu-io asks for the next command: the prompt after the first one, n + 1 in
    // all (a flush that works prints nothing else).
    const done = () => (this.all.match(/qemu-io> /g)?.length ?? 0) > n || this.child.exitCode !== null;
    while (!done()) {
      if (Date.now() - started > timeoutMs) throw new Error(`qemu-io: "${cmd}" did not finish within ${timeoutMs / 1000} s; output: ${this.buf}`);
      await new Promise<void>((r) => {
        this.waiter = r;
        setTimeout(r, 200);
      });
    }
    return { ok: !/failed: |verification failed/.test(this.buf) && this.child.exitCode === null, ms: Date.now() - started, text: this.buf.replace(/qemu-io> /g, '').trim() };
  }

  async close(): Promise<void> {
    (this.child.stdin as Writable).end('quit\n');
    await stopProcess(this.child);
  }
}

/** A fresh 64 MiB raw image in a temp dir. */
export async function image(): Promise<string> {
  const path = join(mkdtempSync(join(tmpdir(), 'faults-img-')), 'disk.img');
  const r = spawnSync(qemuPaths().img, ['create', '-f', 'raw', path, '64M'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(r.stderr);
  return path;
}

