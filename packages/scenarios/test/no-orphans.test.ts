/** A test process killed half-way (SIGKILL: no cleanup code runs) leaves no QEMU or nbdkit. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { sleep } from '@iohang/core';

/** Running and not a zombie waiting to be reaped. */
function alive(pid: number): boolean {
  const status = `/proc/${pid}/status`;
  return existsSync(status) && !/^State:\s+Z/m.test(readFileSync(status, 'utf8'));
}

it('SIGKILL of the process that owns a VM and an nbdkit server takes both down', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'orphans-'));
  const holder = spawn(process.execPath, ['--import', 'tsx', join(import.meta.dirname, 'fixtures', 'hold-vm.ts'), dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pids = await new Promise<number[]>((resolve, reject) => {
    let out = '';
    holder.stdout.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /PIDS (\d+) (\d+)/.exec(out);
      if (m) resolve([Number(m[1]), Number(m[2])]);
    });
    holder.on('exit', (code) => reject(new Error(`holder exited early (code ${code}): ${out}`)));
  });
  expect(pids.every(alive)).toBe(true);
  holder.kill('SIGKILL');
  const deadline = Date.now() + 10_000;
  while (pids.some(alive) && Date.now() < deadline) await sleep(100);
  expect(pids.filter(alive), 'children still running after their owner was killed').toEqual([]);
});
