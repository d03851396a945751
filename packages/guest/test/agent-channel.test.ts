import { describe, expect, it } from 'vitest';
import { AgentChannel, AGENT_READY } from '../src/index.ts';

/** What the agent sends for a finished command (agent.sh). */
const block = (id: number, output: string, code = 0) => `@@IOHANG-BEGIN ${id}\n${Buffer.from(output).toString('base64')}\n@@IOHANG-END ${id} ${code}\n`;

describe('AgentChannel', () => {
  it('gives each command a fresh id and routes results to it, in whatever order they come', async () => {
    const sent: string[] = [];
    const channel = new AgentChannel((line) => sent.push(line));
    const a = channel.request('sleep 1; echo a');
    const b = channel.request('echo b');
    expect(sent.map((l) => Number(l.split(' ')[0]))).toEqual([1, 2]);
    expect(channel.running).toBe(2);
    const both = block(2, 'b\n') + block(1, 'a\n', 3);
    for (let i = 0; i < both.length; i += 7) channel.push(both.slice(i, i + 7));
    expect(await b.result).toMatchObject({ id: 2, output: 'b\n', exitCode: 0 });
    expect(await a.result).toMatchObject({ id: 1, output: 'a\n', exitCode: 3 });
    expect(channel.running).toBe(0);
  });

  it('counts READY lines as boots, also split across chunks, and wakes who waits for the next one', async () => {
    const channel = new AgentChannel(() => undefined);
    const first = channel.ready();
    channel.push(`noise\n${AGENT_READY.slice(0, 5)}`);
    expect(channel.boots).toBe(0);
    channel.push(`${AGENT_READY.slice(5)}\n`);
    await first;
    expect(channel.boots).toBe(1);
    let rebooted = false;
    const next = channel.ready(1).then(() => (rebooted = true));
    await channel.ready();
    await Promise.resolve();
    expect(rebooted).toBe(false);
    channel.push(`${AGENT_READY}\n`);
    await next;
    expect(channel.boots).toBe(2);
  });

  it('forgets a command whose result will never come', () => {
    const channel = new AgentChannel(() => undefined);
    const lost = channel.request('echo lost');
    lost.forget();
    expect(channel.running).toBe(0);
    channel.push(block(1, 'late\n'));
    expect(channel.running).toBe(0);
  });
});
