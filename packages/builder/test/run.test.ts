import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runLogged, runTestProgram } from '../src/index.ts';

/** Whether `pid` runs (a killed child nobody has reaped yet is a zombie: not running). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('running programs', () => {
  it('runTestProgram kills a program and what it started after the timeout, and logs it all', async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), 'run-')), 'log');
    const r = await runTestProgram('sh', ['-c', 'sleep 600 & echo child $!; echo oops >&2; wait'], { cwd: tmpdir(), env: process.env, logFile, timeoutMs: 500 });
    expect(r.timedOut).toBe(true);
    const child = Number(/child (\d+)/.exec(r.stdout)![1]);
    await expect.poll(() => running(child)).toBe(false);
    expect(r.output).toContain('oops');
    expect(readFileSync(logFile, 'utf8')).toMatch(/\$ cd .* && sh -c[\s\S]*oops[\s\S]*killed after the timeout/);
  });

  it('runTestProgram returns the exit code, stdout alone, and the output with stderr', async () => {
    const r = await runTestProgram('sh', ['-c', 'echo out; echo err >&2; exit 3'], { cwd: tmpdir(), env: process.env, timeoutMs: 10_000 });
    expect(r).toMatchObject({ exitCode: 3, stdout: 'out\n', timedOut: false });
    expect(r.output).toMatch(/out\n[\s\S]*err\n|err\n[\s\S]*out\n/);
  });

  it('runLogged keeps the tail and the whole log, and reports the exit code', async () => {
    const logFile = join(mkdtempSync(join(tmpdir(), 'run-')), 'log');
    const lines: string[] = [];
    const r = await runLogged('sh', ['-c', 'seq 1 100; exit 2'], { cwd: tmpdir(), logFile, tailLines: 3, onLine: (l) => lines.push(l) });
    expect(r).toEqual({ exitCode: 2, tail: ['98', '99', '100'] });
    expect(lines).toHaveLength(100);
    expect(readFileSync(logFile, 'utf8').split('\n')).toHaveLength(101);
  });
});
