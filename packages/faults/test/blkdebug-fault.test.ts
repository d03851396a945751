/** BlkdebugFault on a real QEMU: several disks fail and come back in one reopen each way. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { endOf, exited, qemuPaths, spawnOwned, stopProcess } from '@iohang/core';
import { QmpClient } from '@iohang/qmp';
import { BlkdebugFault, type BlkdebugTarget } from '../src/index.ts';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** QEMU with no machine and two raw disks, d0 and d1, over image files; QMP connected. */
async function qemuWithTwoDisks() {
  const dir = mkdtempSync(join(tmpdir(), 'blkdebug-fault-'));
  dirs.push(dir);
  const disks = ['d0', 'd1'].flatMap((id) => {
    writeFileSync(join(dir, `${id}.img`), Buffer.alloc(1 << 20));
    return ['-blockdev', JSON.stringify({ driver: 'file', 'node-name': `${id}-proto`, filename: join(dir, `${id}.img`) }), '-blockdev', JSON.stringify({ driver: 'raw', 'node-name': `${id}-fmt`, file: `${id}-proto` })];
  });
  const socket = join(dir, 'qmp.sock');
  const child = spawnOwned(qemuPaths().system, ['-machine', 'none', '-nodefaults', '-display', 'none', '-qmp', `unix:${socket},server=on,wait=off`, ...disks], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  child.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
  const qmp = await QmpClient.connect(socket, { timeoutMs: 30_000 });
  /** HMP qemu-io's result line, which it prints on QEMU's stdout. */
  const write = async (node: string) => {
    const from = stdout.length;
    await qmp.execute('human-monitor-command', { 'command-line': `qemu-io ${node} "write 0 4k"` });
    await expect.poll(() => /^(wrote|write failed).*$/m.test(stdout.slice(from))).toBe(true);
    return /^(wrote|write failed).*$/m.exec(stdout.slice(from))![0];
  };
  const nodes = async () => (await qmp.execute('query-named-block-nodes')).map((n) => n['node-name'] ?? '');
  const quit = async () => {
    await qmp.execute('quit');
    await exited(child);
    await stopProcess(child);
    return endOf(child);
  };
  return { qmp, write, nodes, quit };
}

const target = (id: string): BlkdebugTarget => ({ formatNode: `${id}-fmt`, formatDriver: 'raw', protocolNode: `${id}-proto` });

describe('BlkdebugFault', () => {
  it('fails the writes of every disk it holds between begin() and end(), then leaves no node behind', async () => {
    const q = await qemuWithTwoDisks();
    const fault = new BlkdebugFault(q.qmp, [target('d0'), target('d1')], { ops: ['write'] });
    expect(await q.write('d0-fmt')).toMatch(/wrote 4096\/4096 bytes/);
    await fault.begin();
    await fault.begin();
    expect(fault.nodeNames).toHaveLength(2);
    expect(await q.nodes()).toEqual(expect.arrayContaining(fault.nodeNames));
    for (const d of ['d0-fmt', 'd1-fmt']) expect(await q.write(d)).toMatch(/write failed: Input\/output error/);
    const { sentMs, restoredMs } = await fault.end();
    expect(restoredMs).toBeGreaterThanOrEqual(sentMs);
    for (const d of ['d0-fmt', 'd1-fmt']) expect(await q.write(d)).toMatch(/wrote 4096\/4096 bytes/);
    expect((await q.nodes()).filter((n) => n.startsWith('iohang-dbg'))).toEqual([]);
    await fault.end();
    await fault[Symbol.asyncDispose]();
    expect(await q.quit()).toEqual({ code: 0, signal: null });
  });

  it('a begin() that QEMU refuses half-way leaves the graph as it was', async () => {
    const q = await qemuWithTwoDisks();
    const fault = new BlkdebugFault(q.qmp, [target('d0'), target('nope')], { ops: ['write'] });
    await expect(fault.begin()).rejects.toThrow(/nope-proto/);
    expect(fault.on).toBe(false);
    expect((await q.nodes()).filter((n) => n.startsWith('iohang-dbg'))).toEqual([]);
    expect(await q.write('d0-fmt')).toMatch(/wrote 4096\/4096 bytes/);
    expect(await q.quit()).toEqual({ code: 0, signal: null });
  });
});
