import { describe, expect, it } from 'vitest';
import { exited, spawnOwned, stopProcess } from '../src/index.ts';

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
    await new Promise((r) => setTimeout(r, 200));
    expect(await stopProcess(stubborn, 300)).toMatchObject({ signal: 'SIGKILL', before: false, forced: true });
  });
});
