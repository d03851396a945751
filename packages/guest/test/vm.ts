/**
 * Just enough VM for this package's tests: our QEMU under TCG with the guest's console on
 * fd 3 and the agent on fd 4. (The real harness lives in @iohang/vm.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { workspacePaths } from '@iohang/builder';
import { AgentOutputParser, encodeRequest, type AgentResult, type Guest } from '../src/index.ts';

const out = workspacePaths().outDir('default');
export const qemuSystem = join(out, 'bin', 'qemu-system-x86_64');
export const qemuImg = join(out, 'bin', 'qemu-img');
export const qemuManifest = join(out, 'manifest.json');

/** Fail with instructions when our QEMU has not been built (the tests never build it). */
export function requireQemu(): void {
  if (!existsSync(qemuManifest)) throw new Error(`no QEMU build at ${out}: build it first with npm run qemu`);
}

const running = new Set<TestVm>();
// Never leave a QEMU behind, even when the test process is torn down.
process.on('exit', () => {
  for (const vm of running) vm.child.kill('SIGKILL');
});

export class TestVm {
  console = '';
  /** ms from spawning QEMU to the guest's IOHANG-GUEST-READY line */
  bootMs: number | undefined;
  private readonly parser = new AgentOutputParser();
  private readonly waiting = new Map<number, (r: AgentResult) => void>();
  private readonly agent: Socket;
  private readonly exited: Promise<never>;
  private nextId = 1;

  private constructor(readonly child: ChildProcess) {
    const started = Date.now();
    const [, stdout, stderr, consoleSocket, agentSocket] = child.stdio as unknown as [null, Socket, Socket, Socket, Socket];
    const onConsole = (b: Buffer) => {
      this.console += b.toString('latin1');
      if (this.bootMs === undefined && this.console.includes('IOHANG-GUEST-READY')) this.bootMs = Date.now() - started;
    };
    for (const s of [stdout, stderr, consoleSocket]) s.on('data', onConsole);
    this.agent = agentSocket;
    agentSocket.on('data', (b: Buffer) => {
      for (const r of this.parser.push(b)) this.waiting.get(r.id)?.(r);
    });
    this.exited = new Promise((_, reject) => {
      child.on('exit', (code, signal) => {
        running.delete(this);
        reject(new Error(`QEMU exited (code ${code}, signal ${signal})`));
      });
    });
    this.exited.catch(() => {}); // only interesting while someone waits
  }

  /** Boot and wait until the agent is ready. `drives` are extra QEMU arguments. */
  static async start(guest: Guest, drives: string[] = [], bootTimeoutMs = 180_000): Promise<TestVm> {
    const args = [
      ...['-L', join(out, 'firmware'), '-accel', 'tcg', '-m', '512', '-nodefaults', '-display', 'none', '-no-reboot'],
      ...['-kernel', guest.kernel.vmlinuz, '-initrd', guest.initrd, '-append', 'console=ttyS0 panic=-1 quiet'],
      ...['-chardev', 'socket,id=con,fd=3', '-serial', 'chardev:con', '-chardev', 'socket,id=agent,fd=4', '-serial', 'chardev:agent'],
      ...drives,
    ];
    const vm = new TestVm(spawn(qemuSystem, args, { stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'] }));
    running.add(vm);
    try {
      await vm.until(() => vm.parser.ready, bootTimeoutMs, 'the agent to be ready');
    } catch (e) {
      await vm.kill();
      throw new Error(`${(e as Error).message}\n--- console (tail) ---\n${vm.tail()}`);
    }
    return vm;
  }

  /** Send a command; resolves with its result (whatever the exit code). */
  run(cmd: string, timeoutMs = 120_000): Promise<AgentResult> {
    const id = this.nextId++;
    const result = new Promise<AgentResult>((resolve) => this.waiting.set(id, resolve));
    this.agent.write(encodeRequest(id, cmd));
    return this.race(result, timeoutMs, `"${cmd}" to finish`).finally(() => this.waiting.delete(id));
  }

  /** The last lines of the console. */
  tail(lines = 40): string {
    return this.console.split('\n').slice(-lines).join('\n');
  }

  /** SIGTERM, then SIGKILL if QEMU is still there after 3 s. */
  async kill(): Promise<void> {
    await this.stop();
  }

  /**
   * Stop QEMU as kill() does and say what was wrong with how it ended: it had already
   * ended by itself, it did not exit 0 on SIGTERM, it needed the SIGKILL, or it printed
   * an assertion. Empty when it ended well.
   */
  async stop(): Promise<string[]> {
    const { child } = this;
    const ended = (): string => (child.signalCode ? `killed by ${child.signalCode}` : `exit code ${child.exitCode}`);
    const problems: string[] = [];
    if (child.exitCode !== null || child.signalCode !== null) problems.push(`QEMU had ended by itself (${ended()})`);
    else {
      const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      let forced = false;
      const timer = setTimeout(() => {
        forced = true;
        child.kill('SIGKILL');
      }, 3000);
      await gone;
      clearTimeout(timer);
      if (forced) problems.push('QEMU did not exit within 3 s of SIGTERM and was killed');
      else if (child.exitCode !== 0) problems.push(`QEMU ended with ${ended()} on SIGTERM`);
    }
    problems.push(...this.console.split('\n').filter((l) => /Assertion `.*' failed|==\d+==ERROR: |runtime error: /.test(l)));
    return problems;
  }

  private async until(done: () => boolean, timeoutMs: number, what: string): Promise<void> {
    const poll = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (done()) {
          clearInterval(timer);
          resolve();
        }
      }, 50);
      this.child.once('exit', () => clearInterval(timer));
    });
    await this.race(poll, timeoutMs, what);
  }

  private race<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`)), timeoutMs);
    });
    return Promise.race([p, this.exited, timeout]).finally(() => clearTimeout(timer));
  }
}

/** Kill every VM a test left running (afterEach). Returns their console tails. */
export async function killLeftoverVms(): Promise<string[]> {
  const vms = [...running];
  await Promise.all(vms.map((vm) => vm.kill()));
  return vms.map((vm) => vm.tail());
}
