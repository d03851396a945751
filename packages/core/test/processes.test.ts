import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { exited, sleep, spawnOwned, stopProcess } from '../src/index.ts';

describe('how a process ended', () => {
  it('stopProcess says whether the process had ended by itself, and how', async () => {
    const crashed = spawnOwned('sh', ['-c', 'kill -SEGV $$']);
    await exited(crashed);
    expect(await stopProcess(crashed)).toEqual({ code: null, signal: 'SIGSEGV', before: true, forced: false });
    const running = spawnOwned('sleep', ['30']);
    expect(await stopProcess(running)).toEqual({ code: null, signal: 'SIGTERM', before: false, forced: false });
  });

  it('stopProcess kills what ignores SIGTERM after the grace time, and says so', async () => {
    const stubborn = spawnOwned('sh', ['-c', "trap '' TERM; sleep 30 & wait; sleep 30"]);
    await sleep(200);
    expect(await stopProcess(stubborn, 300)).toMatchObject({ signal: 'SIGKILL', before: false, forced: true });
  });
});

/** Whether `pid` runs (a killed child nobody has reaped yet is a zombie: not running). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

async function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve) => child.stdout!.once('data', (b: Buffer) => resolve(b.toString().trim())));
}

describe('process groups', () => {
  it('a group leader takes what it started with it when it ends, and when it is stopped', async () => {
    const ends = spawnOwned('sh', ['-c', 'sleep 30 & echo $!; exit 0'], { stdio: ['ignore', 'pipe', 'ignore'], group: true });
    const left = Number(await firstLine(ends));
    await exited(ends);
    await expect.poll(() => running(left)).toBe(false);

    const stopped = spawnOwned('sh', ['-c', 'sleep 30 & echo $!; wait'], { stdio: ['ignore', 'pipe', 'ignore'], group: true });
    const child = Number(await firstLine(stopped));
    expect(running(child)).toBe(true);
    await stopProcess(stopped);
    await expect.poll(() => running(child)).toBe(false);
  });

  it('without a group, what a child started outlives it (the default for daemons that exec)', async () => {
    const ends = spawnOwned('sh', ['-c', 'sleep 30 & echo $!; exit 0'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const left = Number(await firstLine(ends));
    await exited(ends);
    expect(running(left)).toBe(true);
    process.kill(left, 'SIGKILL');
  });
});
