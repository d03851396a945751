/**
 * An in-process QMP server on a unix socket in a temp dir, scripted by each test: it greets,
 * answers qmp_capabilities, queues every other command for the test to answer (or not), and
 * sends whatever bytes the test gives it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Command {
  execute: string;
  arguments?: Record<string, unknown>;
  id: string;
}

export const greeting = {
  QMP: { version: { qemu: { micro: 13, minor: 0, major: 10 }, package: 'fake' }, capabilities: ['oob'] },
};

export class FakeQmpServer {
  readonly dir = mkdtempSync(join(tmpdir(), 'qmp-fake-'));
  readonly path = join(this.dir, 'qmp.sock');
  /** Every command received, qmp_capabilities included. */
  readonly received: Command[] = [];
  #server: Server | undefined;
  #conn: Socket | undefined;
  #queue: Command[] = [];
  #waiting: ((c: Command) => void) | undefined;

  /** `firstLine`: what the server says on accept (default: the greeting; empty: nothing). */
  constructor(readonly firstLine = `${JSON.stringify(greeting)}\r\n`) {}

  /** A server that is already listening. */
  static async start(firstLine?: string): Promise<FakeQmpServer> {
    const s = new FakeQmpServer(firstLine);
    await s.listen();
    return s;
  }

  listen(): Promise<void> {
    const server = createServer((conn) => this.#accept(conn));
    this.#server = server;
    return new Promise((resolve) => server.listen(this.path, resolve));
  }

  /** The next command other than qmp_capabilities. */
  nextCommand(): Promise<Command> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  send(data: string | Buffer): void {
    this.#connection().write(data);
  }

  sendJson(...messages: object[]): void {
    this.send(messages.map((m) => `${JSON.stringify(m)}\r\n`).join(''));
  }

  reply(cmd: Command, value: unknown = {}): void {
    this.sendJson({ return: value, id: cmd.id });
  }

  /** Cuts the connection, as QEMU dying would. */
  dropClient(): void {
    this.#connection().destroy();
  }

  async stop(): Promise<void> {
    this.#conn?.destroy();
    await new Promise((resolve) => (this.#server ? this.#server.close(resolve) : resolve(undefined)));
    rmSync(this.dir, { recursive: true, force: true });
  }

  #connection(): Socket {
    if (!this.#conn) throw new Error('no client connected');
    return this.#conn;
  }

  #accept(conn: Socket): void {
    this.#conn = conn;
    conn.on('error', () => {}); // the client going away mid-write is part of several tests
    conn.write(this.firstLine);
    let buffered = '';
    conn.setEncoding('utf8');
    conn.on('data', (text: string) => {
      buffered += text;
      const lines = buffered.split('\n');
      buffered = lines.pop()!;
      for (const line of lines) this.#onCommand(JSON.parse(line) as Command);
    });
  }

  #onCommand(cmd: Command): void {
    this.received.push(cmd);
    if (cmd.execute === 'qmp_capabilities') return this.reply(cmd);
    const waiting = this.#waiting;
    this.#waiting = undefined;
    if (waiting) waiting(cmd);
    else this.#queue.push(cmd);
  }
}
