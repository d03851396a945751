import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';

/**
 * Every QEMU, daemon and test program we start goes through here, so none outlives us:
 * - `setpriv --pdeathsig KILL` makes the kernel kill the child when our process dies,
 *   even by SIGKILL (a test runner killed half-way, a CI timeout);
 * - on a normal exit or SIGINT/SIGTERM we kill whatever is still registered;
 * - a child started as a group leader (`group`) takes down with it whatever it started
 *   itself (the QEMUs a qtest or iotest runs), however it ends.
 */
const live = new Map<ChildProcess, { group: boolean }>();
let handlersInstalled = false;

/** Send `signal` to the child, or to its whole process group if it leads one. */
export function signalOwned(child: ChildProcess, signal: NodeJS.Signals): void {
  if (!live.get(child)?.group || child.pid === undefined) {
    child.kill(signal);
    return;
  }
  try {
    process.kill(-child.pid, signal);
  } catch {
    /* the group is gone */
  }
}

function killAll(): void {
  for (const child of live.keys()) signalOwned(child, 'SIGKILL');
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

export interface OwnedSpawnOptions extends SpawnOptions {
  /** Lead a process group of its own, killed as a whole when it ends or is stopped. */
  group?: boolean;
}

export function spawnOwned(cmd: string, args: string[], opts: OwnedSpawnOptions = {}): ChildProcess {
  installHandlers();
  const { group = false, ...spawnOpts } = opts;
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', cmd, ...args], { ...spawnOpts, detached: group });
  live.set(child, { group });
  const forget = () => {
    // What the group leader left behind (a QEMU it started) goes with it.
    if (group) signalOwned(child, 'SIGKILL');
    live.delete(child);
  };
  child.once('exit', forget);
  child.once('error', forget);
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
  signalOwned(child, 'SIGTERM');
  const timer = setTimeout(() => {
    forced = true;
    signalOwned(child, 'SIGKILL');
  }, graceMs);
  await exited(child);
  clearTimeout(timer);
  return { ...endOf(child)!, before: false, forced };
}

/** PIDs of children still running (for tests that assert nothing is left). */
export function livePids(): number[] {
  return [...live.keys()].map((c) => c.pid).filter((p): p is number => p !== undefined);
}
