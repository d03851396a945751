import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { IohangError, livePids, sleep, startDaemon } from '../src/index.ts';

describe('startDaemon', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));
  const tempDir = () => {
    const d = mkdtempSync(join(tmpdir(), 'iohang-daemon-'));
    dirs.push(d);
    return d;
  };

  it('returns once the daemon is ready, and stops it once however often stop is called', async () => {
    const ready = join(tempDir(), 'ready');
    const d = await startDaemon('sh', ['-c', `sleep 0.2; touch ${ready}; exec sleep 30`], { name: 'toy', ready: () => existsSync(ready), hint: 'none' });
    expect(livePids()).toContain(d.pid);
    await Promise.all([d.stop(), d.stop()]);
    expect(d.end).toEqual({ code: null, signal: 'SIGTERM' });
    expect(livePids()).not.toContain(d.pid);
  });

  it('reports a daemon that exits before it is ready, with its output and the hint', async () => {
    const start = startDaemon('sh', ['-c', 'echo "toy: cannot bind" >&2; exit 3'], { name: 'toy', ready: () => false, hint: 'free the port' });
    await expect(start).rejects.toThrow(IohangError);
    await expect(start).rejects.toThrow('toy exited (code 3): toy: cannot bind');
    await expect(start).rejects.toMatchObject({ fix: 'free the port' });
  });

  it('stops a daemon that is not ready in time, and says so', async () => {
    const before = livePids();
    await expect(startDaemon('sleep', ['30'], { name: 'toy', ready: () => false, hint: 'h', timeoutMs: 300 })).rejects.toThrow('toy was not ready within 0.3 s');
    expect(livePids()).toEqual(before);
  });

  it('gives up when ready throws, and stops the daemon', async () => {
    const before = livePids();
    await expect(
      startDaemon('sleep', ['30'], {
        name: 'toy',
        hint: 'h',
        ready: () => {
          throw new Error('the helper it needs died');
        },
      }),
    ).rejects.toThrow('the helper it needs died');
    expect(livePids()).toEqual(before);
  });

  it('stop fails for a daemon that died by itself, naming it, its end and its output', async () => {
    const d = await startDaemon('sh', ['-c', 'echo "toy: error: boom" >&2; sleep 0.3; exit 3'], { name: 'nbdkit', ready: () => true, hint: 'h' });
    await sleep(600);
    await expect(d.stop()).rejects.toThrow('nbdkit had died before the test stopped it (code 3): toy: error: boom');
  });
});
