import { appendFileSync, createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { signalOwned, spawnOwned } from '@iohang/core';

export interface RunResult {
  exitCode: number;
  /** The last lines of combined output, for error messages. */
  tail: string[];
}

/**
 * Run a long command (configure, ninja) with its full output in `logFile`, calling
 * `onLine` for each stdout line (progress parsing). Only the tail is kept in memory. It
 * leads a process group of its own: if we die, the compilers go too.
 */
export function runLogged(
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; tailLines?: number },
): Promise<RunResult> {
  const log = createWriteStream(opts.logFile);
  const tail: string[] = [];
  const keep = opts.tailLines ?? 60;
  const child = spawnOwned(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'], group: true });
  const take = (onLine?: (line: string) => void) => (line: string) => {
    log.write(line + '\n');
    tail.push(line);
    if (tail.length > keep) tail.shift();
    onLine?.(line);
  };
  createInterface({ input: child.stdout! }).on('line', take(opts.onLine));
  createInterface({ input: child.stderr! }).on('line', take());
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      log.end(() => resolve({ exitCode: code ?? (signal ? 128 : 1), tail }));
    });
  });
}

export interface Captured {
  exitCode: number;
  stdout: string;
  /** stdout and stderr as they came, whole: for failure messages and crash lines. */
  output: string;
  timedOut: boolean;
  seconds: number;
}

/**
 * Run a test program (a unit test, a qtest, iotests' check) as the leader of its own
 * process group: a timeout, its end or ours kills the QEMUs it started too. Its stdout and
 * stderr are appended to `logFile` when given; stdout is returned for parsing.
 */
export function runTestProgram(cmd: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv; logFile?: string; timeoutMs: number; onLine?: (line: string) => void }): Promise<Captured> {
  const started = Date.now();
  const log = (text: string | Buffer) => opts.logFile && appendFileSync(opts.logFile, text);
  log(`\n$ cd ${opts.cwd} && ${[cmd, ...args].join(' ')}\n`);
  const child = spawnOwned(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], group: true });
  let stdout = '';
  let output = '';
  let timedOut = false;
  const keep = (b: Buffer) => {
    output += b.toString();
    log(b);
  };
  child.stdout!.on('data', (b: Buffer) => {
    stdout += b.toString();
    keep(b);
  });
  child.stderr!.on('data', keep);
  if (opts.onLine) createInterface({ input: child.stdout! }).on('line', opts.onLine);
  const timer = setTimeout(() => {
    timedOut = true;
    signalOwned(child, 'SIGKILL');
  }, opts.timeoutMs);
  return new Promise((resolve, reject) => {
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const seconds = (Date.now() - started) / 1000;
      log(`[exit ${code ?? signal}${timedOut ? ', killed after the timeout' : ''}, ${seconds.toFixed(1)} s]\n`);
      resolve({ exitCode: code ?? 128, stdout, output, timedOut, seconds });
    });
  });
}
