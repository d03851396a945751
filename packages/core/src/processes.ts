import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Every QEMU and nbdkit we start goes through here, so none outlives us:
 * - `setpriv --pdeathsig KILL` makes the kernel kill the child when our process dies,
 *   even by SIGKILL (a test runner killed half-way, a CI timeout);
 * - on a normal exit or SIGINT/SIGTERM we kill whatever is still registered.
 */
const live = new Set<ChildProcess>();
let handlersInstalled = false;

function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      killAll();
      process.kill(process.pid, sig);
    });
  }
}

export function spawnOwned(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  installHandlers();
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], opts);
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** How a process ended: its exit code, or the signal that ended it. */
export interface ProcessEnd {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The end of a process that has exited; undefined while it runs. */
export function endOf(child: ChildProcess): ProcessEnd | undefined {
  if (child.exitCode === null && child.signalCode === null) return undefined;
  return { code: child.exitCode, signal: child.signalCode };
}

/** "code 1", "SIGSEGV" */
export function describeEnd(end: ProcessEnd): string {
  return end.signal ?? `code ${end.code}`;
}

/**
 * SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone, with how it
 * ended and whether it had ended by itself before (`before`) or needed the SIGKILL.
 */
export async function stopProcess(child: ChildProcess, graceMs = 3000): Promise<ProcessEnd & { before: boolean; forced: boolean }> {
  const already = endOf(child);
  if (already) return { ...already, before: true, forced: false };
  let forced = false;
  child.kill('SIGTERM');
  const timer = setTimeout(() => {
    forced = true;
    child.kill('SIGKILL');
  }, graceMs);
  await exited(child);
  clearTimeout(timer);
  return { ...endOf(child)!, before: false, forced };
}

/** PIDs of children still running (for tests that assert nothing is left). */
export function livePids(): number[] {
  return [...live].map((c) => c.pid).filter((p): p is number => p !== undefined);
}
