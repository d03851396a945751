/** The client against the QEMU this repo builds (qemu-build/out/default), over a real QMP socket. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { QmpClient, QmpCommandError, QmpDisconnectedError } from '../src/index.ts';

const out = fileURLToPath(new URL('../../../qemu-build/out/default/', import.meta.url));
const qemuBin = join(out, 'bin', 'qemu-system-x86_64');
const firmware = join(out, 'firmware');
/** A real PC, paused before the first instruction (-S), for stop/cont. */
const pc = ['-M', 'pc', '-accel', 'tcg', '-L', firmware, '-m', '64', '-nodefaults', '-display', 'none', '-S'];
const none = ['-machine', 'none', '-nodefaults', '-display', 'none'];

interface Vm {
  child: ChildProcess;
  qmp: QmpClient;
  exited: Promise<number | null>;
}

const children: ChildProcess[] = [];
const cleanups: (() => Promise<void>)[] = [];

function alive(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

/**
 * Stops QEMU (SIGTERM, then SIGKILL if it is still there after 3 s) and says how it ended:
 * "exit 0" is a clean end, on SIGTERM or after quit.
 */
async function stop(child: ChildProcess): Promise<string> {
  let forced = false;
  if (alive(child)) {
    const exit = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const timer = setTimeout(() => {
      forced = true;
      child.kill('SIGKILL');
    }, 3000);
    await exit;
    clearTimeout(timer);
  }
  return forced ? 'killed after SIGTERM did not end it' : child.signalCode ? `killed by ${child.signalCode}` : `exit ${child.exitCode}`;
}

/** Starts QEMU with a QMP socket and connects; on test failure prints the QMP transcript and stderr. */
async function startQemu(args: string[]): Promise<Vm> {
  const dir = mkdtempSync(join(tmpdir(), 'qmp-qemu-'));
  const socket = join(dir, 'qmp.sock');
  const child = spawn(qemuBin, [...args, '-qmp', `unix:${socket},server=on,wait=off`], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const transcript: string[] = [];
  onTestFailed(() => console.error(`QMP transcript:\n${transcript.join('\n')}\nQEMU stderr:\n${stderr}`));
  const died = new Promise<never>((_, reject) => {
    child.once('error', reject);
    void exited.then((code) => reject(new Error(`QEMU exited with ${code} before QMP was up: ${stderr}`)));
  });
  const qmp = await Promise.race([
    QmpClient.connect(socket, { timeoutMs: 20_000, transcript: (d, line) => transcript.push(`${d} ${line}`) }),
    died,
  ]);
  cleanups.push(async () => {
    await qmp.close();
    const end = await stop(child);
    rmSync(dir, { recursive: true, force: true });
    // Every test ends with a QEMU that exits 0 and printed no assertion.
    expect(end, `QEMU's end; stderr:\n${stderr}`).toBe('exit 0');
    expect(stderr).not.toMatch(/Assertion `.*' failed|==\d+==ERROR: |runtime error: /);
  });
  return { child, qmp, exited };
}

beforeAll(() => {
  expect(existsSync(qemuBin), `no QEMU in ${out}: run npx nx run qemu-build:build`).toBe(true);
});

afterEach(async () => {
  // Every QEMU is stopped, even when an earlier one ended badly; then the first failure counts.
  const results = await Promise.allSettled(cleanups.splice(0).map((cleanup) => cleanup()));
  for (const r of results) if (r.status === 'rejected') throw r.reason;
});

afterAll(async () => {
  // Belt and braces: whatever a failing test left behind.
  for (const child of children) if (alive(child)) child.kill('SIGKILL');
});

describe('QMP against the built QEMU', () => {
  it('query-version reports 10.0, as the greeting does', async () => {
    const { qmp } = await startQemu(none);
    const v = await qmp.execute('query-version');
    expect(v.qemu).toMatchObject({ major: 10, minor: 0 });
    expect(qmp.greeting.QMP.version.qemu).toEqual(v.qemu);
    expect(qmp.protocolErrors).toEqual([]);
  });

  it('an unknown command is a QmpCommandError of class CommandNotFound', async () => {
    const { qmp } = await startQemu(none);
    const err = await qmp.execute('iohang-no-such-command').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ command: 'iohang-no-such-command', errorClass: 'CommandNotFound' });
    expect((err as Error).message).toMatch(/^iohang-no-such-command: CommandNotFound: .*iohang-no-such-command/);
  });

  it('many commands in flight at once all get their own reply', async () => {
    const { qmp } = await startQemu(none);
    const replies = await Promise.all([
      ...Array.from({ length: 10 }, () => qmp.execute('query-status')),
      qmp.execute('human-monitor-command', { 'command-line': 'info version' }),
    ]);
    expect(replies.slice(0, 10).every((r) => typeof r === 'object' && r !== null && 'status' in r)).toBe(true);
    expect(replies[10]).toMatch(/^10\.0\./);
  });

  it('cont, stop and cont again emit RESUME, STOP and RESUME', async () => {
    const { qmp } = await startQemu(pc);
    expect(await qmp.execute('query-status')).toEqual({ running: false, status: 'prelaunch' });
    await qmp.execute('cont');
    const resumed = await qmp.waitEvent('RESUME', { timeoutMs: 10_000 });
    expect((await qmp.execute('query-status')).status).toBe('running');

    const since = qmp.mark();
    await qmp.execute('stop');
    const stopped = await qmp.waitEvent('STOP', { since, timeoutMs: 10_000 });
    expect(await qmp.execute('query-status')).toEqual({ running: false, status: 'paused' });
    expect(stopped.seq).toBeGreaterThan(resumed.seq);

    const again = qmp.mark();
    await qmp.execute('cont');
    expect((await qmp.waitEvent('RESUME', { since: again, timeoutMs: 10_000 })).seq).toBeGreaterThan(stopped.seq);
    expect(qmp.events().map((e) => e.event)).toEqual(['RESUME', 'STOP', 'RESUME']);
  });

  it('quit resolves, QEMU reports SHUTDOWN and exits 0, and later commands are QmpDisconnectedError', async () => {
    const { qmp, exited } = await startQemu(none);
    expect(await qmp.execute('quit')).toEqual({});
    expect(await exited).toBe(0);
    expect((await qmp.waitEvent('SHUTDOWN', { timeoutMs: 5000 })).data).toEqual({ guest: false, reason: 'host-qmp-quit' });
    await expect(qmp.execute('query-status')).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('blockdev-add of a null-co node shows up in query-named-block-nodes, and blockdev-del removes it', async () => {
    const { qmp } = await startQemu(none);
    await qmp.execute('blockdev-add', { driver: 'null-co', 'node-name': 'null0', size: 1 << 20 });
    const nodes = await qmp.execute('query-named-block-nodes');
    expect(nodes.find((n) => n['node-name'] === 'null0')).toMatchObject({ drv: 'null-co', ro: false, image: { 'virtual-size': 1 << 20 } });
    await qmp.execute('blockdev-del', { 'node-name': 'null0' });
    expect((await qmp.execute('query-named-block-nodes')).map((n) => n['node-name'])).not.toContain('null0');
  });

  it('a blockdev-add of a missing file is a GenericError naming the file', async () => {
    const { qmp } = await startQemu(none);
    const filename = '/nonexistent/iohang-qmp-test.img';
    const err = await qmp.execute('blockdev-add', { driver: 'file', 'node-name': 'f0', filename }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ errorClass: 'GenericError', desc: expect.stringContaining(filename) });
    expect((err as Error).message).toMatch(/^blockdev-add: GenericError: /);
  });

  it('leaves no QEMU process behind', () => {
    expect(children.length).toBeGreaterThan(0);
    const survivors = children.filter((c) => {
      if (alive(c)) return true;
      try {
        process.kill(c.pid!, 0); // throws ESRCH once the process is gone and reaped
        return true;
      } catch {
        return false;
      }
    });
    expect(survivors.map((c) => c.pid)).toEqual([]);
  });
});
