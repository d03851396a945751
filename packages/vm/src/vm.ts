import type { ChildProcess } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { describeEnd, disposeAll, endOf, IohangError, type ProcessEnd, qemuPaths, type QemuVariant, spawnOwned, stopProcess, withTimeout } from '@iohang/core';
import { AgentChannel, type Guest } from '@iohang/guest';
import { QmpClient } from '@iohang/qmp';
import { diskArgs, type DiskSpec } from './args.ts';

export interface VmOptions {
  guest: Guest;
  disks?: DiskSpec[];
  /** `-object iothread,id=<id>` for each; refer to them in deviceProps (iothread=<id>). */
  iothreads?: string[];
  memMiB?: number;
  /** Extra kernel command line. */
  append?: string;
  extraArgs?: string[];
  /**
   * -device specs of controllers the disks plug into (e.g. `virtio-scsi-pci,id=scsi0`,
   * `ahci,id=ahci0`): created before the disks, which extraArgs come after.
   */
  controllers?: string[];
  /** The QEMU build to boot; default: the test run's (testVariant()). */
  variant?: QemuVariant;
  /** Where console.log, agent.log, qmp.log and qemu.log go; default a new temp dir. */
  logDir?: string;
  /** Let a guest reboot (a machine reset) instead of exiting QEMU; see waitReboot(). */
  allowReboot?: boolean;
  bootTimeoutMs?: number;
  /**
   * A prefix QEMU runs under, e.g. `ip netns exec <ns>` so that its TCP connections cross
   * a link that a test can take down (NetnsIscsiStorage.wrapCommand). It must exec QEMU
   * in the same process, so that the pid is QEMU's.
   */
  wrapCommand?: string[];
  /**
   * Start as a migration destination (`-incoming <uri>`, e.g. `unix:/path`): start() returns
   * once QMP is up, without waiting for a boot; the guest arrives by migration. Give it the
   * same disks and options as the source.
   */
  incoming?: string;
  /**
   * What this VM uses and should outlive it: its storage, the daemons behind it. close()
   * disposes them after QEMU has gone, the last first; what goes wrong there is one of
   * endProblems().
   */
  owns?: AsyncDisposable[];
}

export interface ExecResult {
  /** stdout and stderr together, as UTF-8 */
  stdout: string;
  /** the same output, byte for byte */
  bytes: Buffer;
  exitCode: number;
}

const TAIL_BYTES = 64 * 1024;

/**
 * One VM: our QEMU under TCG with the test guest, QMP on a unix socket, the console on
 * ttyS0 and the command agent on ttyS1 (both on inherited socketpair fds, so no output is
 * lost before anything connects). `await using vm = await Vm.start(...)` guarantees the
 * QEMU process is gone afterwards.
 */
export class Vm implements AsyncDisposable {
  readonly logDir: string;
  readonly args: string[];
  qmp!: QmpClient;
  bootMs = 0;
  private readonly child: ChildProcess;
  private readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private consoleText = '';
  private stderrText = '';
  private readonly agent: AgentChannel;
  private readonly logs: WriteStream[] = [];
  private closed = false;
  private readonly sanitizerLines: string[] = [];
  private readonly crashLines: string[] = [];
  /** Resolves when QEMU's stdout and stderr are read to their end. */
  private readonly outputDone: Promise<void>;
  /** How long close() waits for QEMU to exit after quit: an ASan build reports leaks then. */
  private readonly exitGraceMs: number;
  /** close() had to stop QEMU itself, with this signal, after quit did not end it. */
  private stoppedWith?: NodeJS.Signals;
  /** An end the test expects instead of a clean exit (a crash it provokes, kill()). */
  private expectedEnd?: (end: ProcessEnd) => boolean;
  private readonly owned: AsyncDisposable[];
  /** What went wrong disposing of `owned`. */
  private readonly ownedProblems: string[] = [];

  private constructor(opts: VmOptions) {
    this.owned = [...(opts.owns ?? [])];
    const q = qemuPaths(opts.variant);
    this.logDir = opts.logDir ?? mkdtempSync(join(tmpdir(), 'iohang-vm-'));
    mkdirSync(this.logDir, { recursive: true });
    this.args = [
      ...['-accel', 'tcg', '-L', q.firmware, '-m', String(opts.memMiB ?? 512), '-nodefaults', '-display', 'none'],
      ...(opts.allowReboot ? [] : ['-no-reboot']),
      ...['-kernel', opts.guest.kernel.vmlinuz, '-initrd', opts.guest.initrd, '-append', `console=ttyS0 panic=-1 quiet ${opts.append ?? ''}`.trim()],
      ...['-chardev', 'socket,id=con,fd=3', '-serial', 'chardev:con', '-chardev', 'socket,id=agent,fd=4', '-serial', 'chardev:agent'],
      ...['-qmp', `unix:${join(this.logDir, 'qmp.sock')},server=on,wait=off`],
      ...(opts.iothreads ?? []).flatMap((id) => ['-object', `iothread,id=${id}`]),
      ...(opts.controllers ?? []).flatMap((c) => ['-device', c]),
      ...(opts.disks ?? []).flatMap(diskArgs),
      ...(opts.extraArgs ?? []),
      ...(opts.incoming ? ['-incoming', opts.incoming] : []),
    ];
    this.exitGraceMs = q.variant === 'asan' ? 60_000 : 15_000;
    const [cmd, ...prefix] = [...(opts.wrapCommand ?? []), q.system];
    this.child = spawnOwned(cmd!, [...prefix, ...this.args], { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] });
    this.exit = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    const [, stdout, stderr, consoleStream, agentStream] = this.child.stdio as [null, Readable, Readable, Readable & Writable, Readable & Writable];
    const consoleLog = this.log('console.log');
    const agentLog = this.log('agent.log');
    const qemuLog = this.log('qemu.log');
    qemuLog.write(`${[cmd, ...prefix].join(' ')} ${this.args.join(' ')}\n`);
    let pending = '';
    const scan = (lines: string[]) => {
      this.sanitizerLines.push(...lines.filter((l) => SANITIZER_REPORT.test(l)));
      this.crashLines.push(...lines.filter((l) => CRASH_REPORT.test(l)));
    };
    const onQemuOutput = (b: Buffer) => {
      this.stderrText = (this.stderrText + b.toString()).slice(-TAIL_BYTES);
      qemuLog.write(b);
      // Whole lines only, so that a report split across chunks is still seen.
      const lines = (pending + b.toString()).split('\n');
      pending = lines.pop()!.slice(-4096);
      scan(lines);
    };
    stdout.on('data', onQemuOutput);
    stderr.on('data', onQemuOutput);
    const closed = (s: Readable) => new Promise<void>((resolve) => s.once('close', resolve));
    this.outputDone = Promise.all([closed(stdout), closed(stderr)]).then(() => scan([pending]));
    consoleStream.on('data', (b: Buffer) => {
      this.consoleText = (this.consoleText + b.toString()).slice(-TAIL_BYTES);
      consoleLog.write(b);
    });
    this.agent = new AgentChannel((line) => agentStream.write(line));
    agentStream.on('data', (b: Buffer) => {
      agentLog.write(b);
      this.agent.push(b);
    });
  }

  /**
   * After the guest rebooted (allowReboot): wait until its agent is ready again.
   * Commands that were running in the old boot never finish.
   */
  async waitReboot(timeoutMs = 120_000): Promise<void> {
    await this.whileRunning(withTimeout(this.agent.ready(this.agent.boots), timeoutMs), `the guest did not come back from a reboot within ${timeoutMs / 1000} s`);
  }

  private log(name: string): WriteStream {
    const s = createWriteStream(join(this.logDir, name));
    this.logs.push(s);
    return s;
  }

  /** Start QEMU, connect QMP, wait until the guest's agent answers. */
  static async start(opts: VmOptions): Promise<Vm> {
    const started = Date.now();
    let vm: Vm;
    try {
      vm = new Vm(opts);
    } catch (e) {
      await disposeAll(opts.owns ?? []);
      throw e;
    }
    try {
      vm.qmp = await vm.whileRunning(QmpClient.connect(join(vm.logDir, 'qmp.sock'), { timeoutMs: 30_000, transcript: vm.transcriptWriter() }), 'QMP did not come up');
      const bootTimeoutMs = opts.bootTimeoutMs ?? 120_000;
      if (!opts.incoming) await vm.whileRunning(withTimeout(vm.agent.ready(), bootTimeoutMs), `the guest did not boot within ${bootTimeoutMs / 1000} s`);
      vm.bootMs = Date.now() - started;
      return vm;
    } catch (e) {
      await vm.close();
      throw e;
    }
  }

  private transcriptWriter(): (direction: '>' | '<', line: string) => void {
    const log = this.log('qmp.log');
    return (direction, line) => log.write(`${new Date().toISOString()} ${direction} ${line}\n`);
  }

  /** Await `p` unless QEMU exits first or `p` fails: then say why, with the console's tail. */
  private whileRunning<T>(p: Promise<T>, what: string): Promise<T> {
    const died = this.exit.then(({ code, signal }) => Promise.reject<never>(this.failure(`QEMU exited (${signal ?? `code ${code}`}): ${what}`)));
    return Promise.race([p.catch((e: Error) => Promise.reject(this.failure(`${what}: ${e.message}`))), died]);
  }

  private failure(message: string): IohangError {
    return new IohangError(`${message}\n--- QEMU output (tail) ---\n${tail(this.stderrText, 20)}\n--- guest console (tail) ---\n${tail(this.consoleText, 30)}`, `Full logs in ${this.logDir}`);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  /** The guest console so far (last 64 KiB). */
  console(): string {
    return this.consoleText;
  }

  consoleTail(lines = 30): string {
    return tail(this.consoleText, lines);
  }

  /** What QEMU printed so far (last 64 KiB): warnings, errors, sanitizer reports. */
  qemuOutput(): string {
    return this.stderrText;
  }

  /** Run a shell command in the guest. Commands run concurrently in the guest. */
  exec(cmd: string, opts: { timeoutMs?: number } = {}): Promise<ExecResult> {
    if (this.closed) return Promise.reject(new Error(`exec after the VM was closed: ${cmd}`));
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const { result, forget } = this.agent.request(cmd);
    const done = result.then((r): ExecResult => ({ stdout: r.output, bytes: r.bytes, exitCode: r.exitCode }));
    const p = this.whileRunning(withTimeout(done, timeoutMs), `guest command "${cmd}" finished within ${timeoutMs / 1000} s`).finally(forget);
    // A command left running when a test fails ends with the VM; whoever awaits it still sees that.
    p.catch(() => undefined);
    return p;
  }

  /** exec() that fails unless the command exits 0; returns its output. */
  async run(cmd: string, opts: { timeoutMs?: number } = {}): Promise<string> {
    const r = await this.exec(cmd, opts);
    if (r.exitCode !== 0) throw new Error(`guest command failed (exit ${r.exitCode}): ${cmd}\n${r.stdout}`);
    return r.stdout;
  }

  /**
   * The first line of every report AddressSanitizer, LeakSanitizer or UBSan printed (an
   * ASan build; see IOHANG_QEMU_VARIANT). Complete only after close(): leaks are reported
   * when QEMU exits. The full reports are in qemu.log.
   */
  sanitizerReports(): string[] {
    return [...this.sanitizerLines];
  }

  /**
   * For a test that provokes an end other than a clean exit (a crash, a refusal): which
   * ends are right. close() then reports no problem for them.
   */
  expectEnd(accept: (end: ProcessEnd) => boolean): void {
    this.expectedEnd = accept;
  }

  /** How QEMU ended; undefined while it runs. */
  get end(): ProcessEnd | undefined {
    return endOf(this.child);
  }

  /**
   * After close(): what was wrong with how QEMU ended, one line each -- killed by a signal,
   * a non-zero exit code, an assertion or abort it printed, a sanitizer report, or having
   * to be stopped because it did not exit after quit (a sanitizer may not have finished);
   * and what failed when the things it owned were disposed of (a daemon that had died).
   * Empty for a clean exit, or one the test expected (expectEnd()).
   */
  endProblems(): string[] {
    const end = this.end;
    if (!end) return ['QEMU is still running'];
    const problems: string[] = [];
    if (this.stoppedWith) {
      problems.push(`QEMU did not exit within ${this.exitGraceMs / 1000} s of quit and was stopped with ${this.stoppedWith}: a crash or a sanitizer report may be missing`);
    } else if (!(this.expectedEnd?.(end) ?? (end.code === 0 && end.signal === null))) {
      problems.push(end.signal ? `QEMU was killed by ${end.signal}` : `QEMU exited with ${describeEnd(end)}`);
    }
    if (!this.expectedEnd) problems.push(...this.crashLines.map((l) => `QEMU printed: ${l.trim()}`));
    problems.push(...this.sanitizerLines.map((l) => `sanitizer: ${l.trim()}`));
    problems.push(...this.ownedProblems);
    return problems;
  }

  /** Whether the QEMU process is still running. */
  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Wait for QEMU to exit by itself (e.g. after quit), at most `timeoutMs`. */
  async waitExit(timeoutMs = 10_000): Promise<void> {
    await withTimeout(this.exit, timeoutMs);
  }

  /**
   * Ask QEMU to quit over QMP, then make sure the process is gone and its output read to
   * the end; endProblems() then says whether it ended well. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.running && this.qmp) {
      await withTimeout(this.qmp.execute('quit'), 3000).catch(() => undefined);
      // An ASan build checks for leaks on its way out: give it time to say so.
      await this.waitExit(this.exitGraceMs).catch(() => undefined);
    }
    const stopped = await stopProcess(this.child, 2000);
    if (!stopped.before && !this.expectedEnd) this.stoppedWith = stopped.forced ? 'SIGKILL' : 'SIGTERM';
    await withTimeout(this.outputDone, 10_000).catch(() => undefined);
    await this.qmp?.close().catch(() => undefined);
    const end = this.end;
    this.logs.find((l) => l.path.toString().endsWith('qemu.log'))?.write(`[QEMU ended: ${end ? describeEnd(end) : 'still running'}${this.stoppedWith ? `, stopped with ${this.stoppedWith}` : ''}]\n`);
    await Promise.all(this.logs.map((s) => new Promise((r) => s.end(r))));
    this.ownedProblems.push(...(await disposeAll(this.owned)));
  }

  /** Kill QEMU at once (SIGKILL), as a crash would; the test expects that end. */
  async kill(): Promise<void> {
    this.expectEnd((end) => end.signal === 'SIGKILL');
    this.child.kill('SIGKILL');
    await this.close();
  }

  /** close(); a QEMU that did not end well (endProblems()) is an error here. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
    const problems = this.endProblems();
    if (problems.length) throw new IohangError(`QEMU did not end well:\n${problems.join('\n')}`, `QEMU's output and logs are in ${this.logDir}`);
  }
}

/** The first line of a sanitizer report: ASan/LSan's "==pid==ERROR:" or UBSan's "runtime error:". */
export const SANITIZER_REPORT = /==\d+==ERROR: (AddressSanitizer|LeakSanitizer)|: runtime error: /;

/** A failed assert() or g_assert() (both abort), or glib's "should not be reached". */
export const CRASH_REPORT = /Assertion `.*' failed|^ERROR:\S+: (assertion failed|code should not be reached)/;

export function tail(text: string, lines: number): string {
  return text.split('\n').slice(-lines).join('\n');
}
