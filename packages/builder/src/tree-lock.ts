import { AsyncLocalStorage } from 'node:async_hooks';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { sleep } from '@iohang/core';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Trees whose lock the current async call chain holds. */
const held = new AsyncLocalStorage<ReadonlySet<string>>();

/**
 * Run `fn` holding the lock of a QEMU tree and its build directories: two builds (or a
 * build and check-series) in one tree would reset it under each other and link objects
 * compiled from different states. A lock left by a process that died is taken over.
 * Each command takes it once; taking it again inside would wait for ever, so that is an
 * error.
 */
export async function withTreeLock<T>(tree: string, log: (line: string) => void, fn: () => Promise<T>): Promise<T> {
  const mine = held.getStore() ?? new Set<string>();
  if (mine.has(tree)) throw new Error(`the lock of ${tree} is taken twice by one call chain: take it once, at the command, and call the steps inside`);
  const dir = `${tree}.lock`;
  const owner = join(dir, 'pid');
  let waiting = false;
  mkdirSync(dirname(dir), { recursive: true });
  for (;;) {
    try {
      mkdirSync(dir);
      writeFileSync(owner, String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const pid = Number(readFileSync(owner, { encoding: 'utf8', flag: 'a+' }) || 0);
      if (pid && !alive(pid)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      if (!waiting) log(`another iohang build (pid ${pid || '?'}) is using ${tree}; waiting for it`);
      waiting = true;
      await sleep(1000);
    }
  }
  try {
    return await held.run(new Set([...mine, tree]), fn);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
