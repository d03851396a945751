import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { createInterface } from 'node:readline';

export interface RunResult {
  exitCode: number;
  /** The last lines of combined output, for error messages. */
  tail: string[];
}

/**
 * Run a long command with its full output in `logFile`, calling `onLine` for each stdout
 * line (progress parsing). Only the tail is kept in memory.
 */
export function runLogged(
  cmd: string,
  args: string[],
  opts: { cwd: string; logFile: string; env?: NodeJS.ProcessEnv; onLine?: (line: string) => void; tailLines?: number },
): Promise<RunResult> {
  const log = createWriteStream(opts.logFile);
  const tail: string[] = [];
  const keep = opts.tailLines ?? 60;
  const child = spawn(cmd, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const take = (onLine?: (line: string) => void) => (line: string) => {
    log.write(line + '\n');
    tail.push(line);
    if (tail.length > keep) tail.shift();
    onLine?.(line);
  };
  createInterface({ input: child.stdout }).on('line', take(opts.onLine));
  createInterface({ input: child.stderr }).on('line', take());
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      log.end(() => resolve({ exitCode: code ?? (signal ? 128 : 1), tail }));
    });
  });
}
