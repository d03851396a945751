/**
 * The harness on how QEMU ends: a QEMU that crashes fails the scenario that started it,
 * with the signal named and the logs kept, even when the test body passed; so does QMP
 * output that broke the protocol or the event schemas.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { workspaceRoot } from '@iohang/core';

it('a QEMU killed by SIGSEGV during a scenario fails it, naming the signal, and keeps its logs; so does a QMP protocol error', () => {
  const fixture = join(import.meta.dirname, 'fixtures', 'crash');
  const logDir = join(workspaceRoot(), 'test-logs', 'crash-fixture');
  const run = spawnSync('npx', ['vitest', 'run', '--root', fixture, '--config', join(fixture, 'vitest.config.ts')], { encoding: 'utf8', env: { ...process.env, CI: 'true' } });
  // Without colours: vitest colours its summary even with CI=true.
  const output = `${run.stdout}${run.stderr}`.replace(/\x1b\[[0-9;]*m/g, '');
  expect(run.status, output).toBe(1);
  expect(output).toContain('QEMU did not end well:\nQEMU was killed by SIGSEGV');
  expect(output).toContain(`logs kept in ${logDir}`);
  expect(readFileSync(join(logDir, 'qemu.log'), 'utf8')).toContain('[QEMU ended: SIGSEGV]');
  expect(existsSync(join(logDir, 'console.log'))).toBe(true);
  rmSync(logDir, { recursive: true, force: true });
  expect(output).toContain("QEMU's QMP output broke the protocol or the schemas:\nBLOCK_IO_HANG data does not match its schema (QEMU sent: {\"event\": \"BLOCK_IO_HANG\", \"data\": {}})");
  expect(output).toMatch(/Tests +2 failed/);
  rmSync(join(workspaceRoot(), 'test-logs', 'protocol-fixture'), { recursive: true, force: true });
});
