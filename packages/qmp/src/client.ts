/**
 * A QMP client after QEMU's python/qemu/qmp: one connection, commands tagged with unique ids
 * so that many can be in flight, and every event kept from connect time.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecuteArgs, ExecuteOptions, ExecuteResult } from './commands.ts';
import { QmpCommandError, QmpConnectError, QmpDisconnectedError, QmpProtocolError, QmpTimeoutError } from './errors.ts';
import { EventLog, type EventFor, type QmpEvent, type WaitEventOptions } from './event-log.ts';
import { LineSplitter } from './lines.ts';
import { isKnownEvent, parseEvent, parseMessage, type QmpGreeting, type QmpMessage } from './schema.ts';

/** Receives every raw line: '>' sent to QEMU, '<' received from it. */
export type Transcript = (direction: '>' | '<', line: string) => void;

export interface ConnectOptions {
  /** For connecting (retried while the socket does not exist yet) and the handshake; default 10 000. */
  timeoutMs?: number;
  transcript?: Transcript;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout;
}

const RETRY_MS = 50;

export class QmpClient {
  /** Everything invalid the server sent, in order. */
  readonly protocolErrors: QmpProtocolError[] = [];
  readonly #socket: Socket;
  readonly #transcript: Transcript | undefined;
  readonly #lines = new LineSplitter();
  readonly #log = new EventLog();
  readonly #pending = new Map<string, Pending>();
  /** Ids of commands that timed out: a late reply to one is expected, not a protocol error. */
  readonly #abandoned = new Set<string>();
  #nextId = 1;
  #greeting: QmpGreeting | undefined;
  readonly #greeted: Promise<void>;
  #greetingArrived!: () => void;
  #greetingFailed!: (err: Error) => void;
  /** Why the connection is down; undefined while it is up. */
  #down: string | undefined;
  #closedByUs = false;
  readonly #socketClosed: Promise<void>;

  private constructor(socket: Socket, transcript: Transcript | undefined) {
    this.#socket = socket;
    this.#transcript = transcript;
    this.#greeted = new Promise((resolve, reject) => {
      this.#greetingArrived = resolve;
      this.#greetingFailed = reject;
    });
    this.#socketClosed = new Promise((resolve) => socket.once('close', resolve));
    socket.on('data', (chunk: Buffer) => {
      for (const line of this.#lines.push(chunk)) this.#onLine(line);
    });
    // 'close' always follows 'error'; remember the cause for the errors we raise there.
    socket.on('error', (err) => (this.#down ??= `connection error: ${err.message}`));
    socket.on('close', () => this.#onClose());
  }

  /** Connects to QEMU's QMP socket, reads the greeting and negotiates capabilities. */
  static async connect(socketPath: string, opts: ConnectOptions = {}): Promise<QmpClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    const deadline = Date.now() + timeoutMs;
    const client = new QmpClient(await connectSocket(socketPath, deadline), opts.transcript);
    try {
      await within(client.#greeted, deadline - Date.now(), () => new QmpConnectError(`${socketPath}: no QMP greeting within ${timeoutMs} ms`));
      await client.execute('qmp_capabilities', undefined, { timeoutMs: Math.max(1, deadline - Date.now()) });
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** QEMU's greeting: its version and capabilities. */
  get greeting(): QmpGreeting {
    if (!this.#greeting) throw new Error('no greeting yet');
    return this.#greeting;
  }

  /**
   * Runs a command and resolves with its `return` value. Known commands (QmpCommands) have typed
   * arguments and results. Rejects with QmpCommandError for an error reply, QmpTimeoutError, or
   * QmpDisconnectedError; `quit` resolves also when QEMU closes the socket without replying.
   */
  execute<C extends string>(command: C, ...rest: ExecuteArgs<C>): Promise<ExecuteResult<C>> {
    const [args, opts = {}] = rest as [Record<string, unknown> | undefined, ExecuteOptions | undefined];
    if (this.#down !== undefined) return Promise.reject(new QmpDisconnectedError(`${command}: ${this.#down}`));
    const id = `iohang-${this.#nextId++}`;
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const line = JSON.stringify(args === undefined ? { execute: command, id } : { execute: command, arguments: args, id });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        this.#abandoned.add(id);
        reject(new QmpTimeoutError(command, timeoutMs));
      }, timeoutMs);
      this.#pending.set(id, { command, resolve: resolve as (value: unknown) => void, reject, timer });
      this.#transcript?.('>', line);
      this.#socket.write(`${line}\n`);
    });
  }

  /** Every event received since connect, in arrival order. */
  events(): readonly QmpEvent[] {
    return this.#log.all();
  }

  /** The seq the next event will get: pass it as `since` to wait only for later events. */
  mark(): number {
    return this.#log.mark();
  }

  /**
   * The first event named `name` with seq >= since (default 0) that passes `predicate`, whether
   * it already arrived or arrives later. Known events have typed, validated `data`.
   */
  waitEvent<N extends string>(name: N, opts?: WaitEventOptions<EventFor<N>>): Promise<EventFor<N>> {
    return this.#log.wait(name, opts);
  }

  /** Kept events from `since` (default 0), then new ones as they come; ends when the client closes. */
  eventStream(since = 0): AsyncIterable<QmpEvent> {
    return this.#log.stream(since);
  }

  /** Closes the connection; pending commands reject with QmpDisconnectedError. Idempotent. */
  close(): Promise<void> {
    if (this.#down === undefined) {
      this.#down = 'client closed';
      this.#closedByUs = true;
    }
    this.#socket.destroy();
    return this.#socketClosed;
  }

  #onLine(line: string): void {
    this.#transcript?.('<', line);
    const msg = this.#parse(line);
    if (!this.#greeting) {
      if (msg?.kind === 'greeting') {
        this.#greeting = msg.greeting;
        this.#greetingArrived();
      } else {
        this.#greetingFailed(new QmpConnectError(`expected the QMP greeting, got: ${line}`));
      }
      return;
    }
    switch (msg?.kind) {
      case undefined:
        return;
      case 'greeting':
        return this.#protocolError(line, 'a second greeting');
      case 'event': {
        let { data } = msg;
        let invalid: string | undefined;
        if (isKnownEvent(msg.event)) {
          try {
            data = parseEvent(msg.event, data);
          } catch (err) {
            invalid = (err as Error).message;
            this.#protocolError(line, invalid);
          }
        }
        return this.#log.push({ event: msg.event, data, timestamp: msg.timestamp }, invalid);
      }
      case 'return':
        return this.#settle(line, msg.id, (p) => p.resolve(msg.value));
      case 'error':
        return this.#settle(line, msg.id, (p) => p.reject(new QmpCommandError(p.command, msg.errorClass, msg.desc)));
    }
  }

  /** The message on this line, or undefined after recording why it is not valid QMP. */
  #parse(line: string): QmpMessage | undefined {
    try {
      return parseMessage(JSON.parse(line));
    } catch (err) {
      const why = err instanceof SyntaxError ? `not valid JSON: ${err.message}` : (err as Error).message;
      this.#protocolError(line, why);
      return undefined;
    }
  }

  #settle(line: string, id: string | undefined, settle: (p: Pending) => void): void {
    if (id === undefined) return this.#protocolError(line, 'a reply without an id');
    const pending = this.#pending.get(id);
    if (!pending) {
      if (!this.#abandoned.delete(id)) this.#protocolError(line, `a reply to unknown id ${id}`);
      return;
    }
    this.#pending.delete(id);
    clearTimeout(pending.timer);
    settle(pending);
  }

  #protocolError(line: string, why: string): void {
    this.protocolErrors.push(new QmpProtocolError(why, line));
  }

  #onClose(): void {
    const why = (this.#down ??= 'QEMU closed the connection');
    const rest = this.#lines.rest();
    if (!this.#closedByUs && rest.trim() !== '') this.#protocolError(rest, 'the connection closed in the middle of a message');
    this.#greetingFailed(new QmpConnectError(`${why} before the QMP greeting`));
    for (const p of this.#pending.values()) {
      clearTimeout(p.timer);
      // QEMU may exit before its reply to quit reaches us; the exit is the answer.
      if (p.command === 'quit' && !this.#closedByUs) p.resolve({});
      else p.reject(new QmpDisconnectedError(`${p.command}: ${why}`));
    }
    this.#pending.clear();
    this.#log.close(why);
  }
}

/** Connects to a unix socket, retrying while QEMU has not created or opened it yet. */
async function connectSocket(path: string, deadline: number): Promise<Socket> {
  for (;;) {
    try {
      return await new Promise<Socket>((resolve, reject) => {
        const socket = netConnect(path);
        socket.once('error', reject);
        socket.once('connect', () => {
          socket.off('error', reject);
          resolve(socket);
        });
      });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const retry = code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'EAGAIN';
      if (!retry) throw new QmpConnectError(`cannot connect to ${path}: ${(err as Error).message}`);
      if (Date.now() + RETRY_MS > deadline) throw new QmpConnectError(`cannot connect to ${path} before the timeout: ${(err as Error).message}`);
      await sleep(RETRY_MS);
    }
  }
}

/** `promise`, or the error from `onTimeout` if it takes longer than `ms`. */
function within<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(onTimeout()), Math.max(0, ms));
    promise.then(
      (value) => {
        clearTimeout(timer);
        resolve(value);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
