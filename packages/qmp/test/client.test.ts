import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  LineSplitter,
  QmpClient,
  QmpCommandError,
  QmpConnectError,
  QmpDisconnectedError,
  QmpError,
  QmpProtocolError,
  QmpTimeoutError,
  type QmpEvent,
  type StatusInfo,
  type Transcript,
} from '../src/index.ts';
import { FakeQmpServer, greeting } from './fake-server.ts';

let servers: FakeQmpServer[] = [];
let clients: QmpClient[] = [];
afterEach(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await Promise.all(servers.map((s) => s.stop()));
  clients = [];
  servers = [];
});

async function setup(transcript?: Transcript): Promise<{ server: FakeQmpServer; client: QmpClient }> {
  const server = await FakeQmpServer.start();
  servers.push(server);
  const client = await QmpClient.connect(server.path, { timeoutMs: 5000, transcript });
  clients.push(client);
  return { server, client };
}

const ts = { seconds: 1_700_000_000, microseconds: 5 };
const event = (name: string, data?: Record<string, unknown>) => ({ event: name, ...(data && { data }), timestamp: ts });
const ioError = { 'qom-path': '/machine/peripheral/vd0/virtio-backend', device: 'vd0', 'node-name': 'n0', operation: 'write', action: 'report', nospace: false, reason: 'Input/output error' };

/** A command answered after `before` was sent: everything in `before` has been processed when it resolves. */
async function roundTrip(server: FakeQmpServer, client: QmpClient, ...before: object[]): Promise<void> {
  const p = client.execute('query-status');
  const cmd = await server.nextCommand();
  server.sendJson(...before, { return: { running: true, status: 'running' }, id: cmd.id });
  await p;
}

/** Whether `p` has settled by the time pending I/O has been handled. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await sleep(20);
  return done;
}

describe('connect', () => {
  it('reads the greeting, negotiates capabilities and keeps a transcript of every line', async () => {
    const lines: string[] = [];
    const { server, client } = await setup((dir, line) => lines.push(`${dir} ${line}`));
    expect(client.greeting).toEqual(greeting);
    expect(server.received.map((c) => c.execute)).toEqual(['qmp_capabilities']);
    expect(lines).toEqual([
      `< ${JSON.stringify(greeting)}`,
      `> {"execute":"qmp_capabilities","id":"${server.received[0]!.id}"}`,
      `< {"return":{},"id":"${server.received[0]!.id}"}`,
    ]);
  });

  it('retries until the socket appears', async () => {
    const server = new FakeQmpServer();
    servers.push(server);
    const connecting = QmpClient.connect(server.path, { timeoutMs: 5000 });
    await sleep(300);
    await server.listen();
    const client = await connecting;
    clients.push(client);
    expect(client.greeting.QMP.version.qemu.major).toBe(10);
  });

  it('fails with QmpConnectError when the server does not greet with QMP', async () => {
    const notQmp = await FakeQmpServer.start('SSH-2.0-OpenSSH_9.2\r\n');
    const silent = await FakeQmpServer.start('');
    servers.push(notQmp, silent);
    await expect(QmpClient.connect(notQmp.path)).rejects.toThrow(new QmpConnectError('expected the QMP greeting, got: SSH-2.0-OpenSSH_9.2'));
    await expect(QmpClient.connect(silent.path, { timeoutMs: 200 })).rejects.toThrow(
      new QmpConnectError(`${silent.path}: no QMP greeting within 200 ms`),
    );
  });

  it('gives up with QmpConnectError when the socket never appears', async () => {
    const server = new FakeQmpServer();
    servers.push(server);
    const started = Date.now();
    const err = await QmpClient.connect(server.path, { timeoutMs: 300 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpConnectError);
    expect((err as Error).message).toContain(server.path);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
  });
});

describe('commands', () => {
  it('routes concurrent replies by id, whatever their order', async () => {
    const { server, client } = await setup();
    const a = client.execute('query-status');
    const b = client.execute('query-version');
    const c = client.execute('human-monitor-command', { 'command-line': 'info status' });
    const cmds = [await server.nextCommand(), await server.nextCommand(), await server.nextCommand()];
    expect(new Set(cmds.map((x) => x.id)).size).toBe(3);
    expect(cmds[2]!.arguments).toEqual({ 'command-line': 'info status' });
    server.reply(cmds[2]!, 'VM status: paused');
    server.reply(cmds[0]!, { running: false, status: 'paused' });
    server.reply(cmds[1]!, greeting.QMP.version);
    expect(await c).toBe('VM status: paused');
    expect(await a).toEqual({ running: false, status: 'paused' });
    expect((await b).qemu.minor).toBe(0);
    expectTypeOf(a).toEqualTypeOf<Promise<StatusInfo>>();
    // Types only: these lambdas never run.
    expectTypeOf(() => client.execute('no-such-command', { x: 1 })).returns.toEqualTypeOf<Promise<unknown>>();
    // @ts-expect-error blockdev-del needs its node-name
    expectTypeOf(() => client.execute('blockdev-del', {})).toBeFunction();
    // @ts-expect-error stop takes no arguments
    expectTypeOf(() => client.execute('stop', { now: true })).toBeFunction();
  });

  it('turns an error reply into a QmpCommandError with its class and description', async () => {
    const { server, client } = await setup();
    const p = client.execute('blockdev-del', { 'node-name': 'x' });
    server.sendJson({ error: { class: 'DeviceNotFound', desc: "Failed to find node with node-name='x'" }, id: (await server.nextCommand()).id });
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpCommandError);
    expect(err).toMatchObject({ command: 'blockdev-del', errorClass: 'DeviceNotFound', desc: "Failed to find node with node-name='x'" });
    expect((err as Error).message).toBe("blockdev-del: DeviceNotFound: Failed to find node with node-name='x'");
  });

  it('times out with a QmpTimeoutError naming the command, and ignores the late reply', async () => {
    const { server, client } = await setup();
    const err = await client.execute('stop', undefined, { timeoutMs: 50 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as Error).message).toBe('stop: timed out after 50 ms');
    server.reply(await server.nextCommand());
    await roundTrip(server, client);
    expect(client.protocolErrors).toEqual([]);
  });

  it('rejects pending commands with QmpDisconnectedError when the server goes away', async () => {
    const { server, client } = await setup();
    const p = client.execute('cont');
    const wait = client.waitEvent('RESUME');
    await server.nextCommand();
    server.dropClient();
    await expect(p).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(p).rejects.toThrow('cont: QEMU closed the connection');
    await expect(wait).rejects.toBeInstanceOf(QmpDisconnectedError);
    await expect(client.execute('query-status')).rejects.toBeInstanceOf(QmpDisconnectedError);
  });

  it('rejects pending commands and later ones after close(), which is idempotent', async () => {
    const { server, client } = await setup();
    const p = client.execute('query-block');
    await server.nextCommand();
    await Promise.all([client.close(), client.close()]);
    await client.close();
    await expect(p).rejects.toThrow(new QmpDisconnectedError('query-block: client closed'));
    await expect(client.execute('query-status')).rejects.toThrow(new QmpDisconnectedError('query-status: client closed'));
  });

  it('resolves quit when QEMU closes the socket without replying', async () => {
    const { server, client } = await setup();
    const p = client.execute('quit');
    await server.nextCommand();
    server.dropClient();
    expect(await p).toEqual({});
  });

  it('resolves quit when QEMU replies and then closes', async () => {
    const { server, client } = await setup();
    const p = client.execute('quit');
    server.reply(await server.nextCommand());
    server.sendJson(event('SHUTDOWN', { guest: false, reason: 'host-qmp-quit' }));
    server.dropClient();
    expect(await p).toEqual({});
    expect((await client.waitEvent('SHUTDOWN')).data.reason).toBe('host-qmp-quit');
  });
});

describe('framing', () => {
  it('LineSplitter reassembles lines split at every byte, inside "é" too', () => {
    const text = '{"a":"café"}\r\n{"b":2}\n';
    const bytes = Buffer.from(text);
    for (let i = 0; i <= bytes.length; i++) {
      const s = new LineSplitter();
      const lines = [...s.push(bytes.subarray(0, i)), ...s.push(bytes.subarray(i))];
      expect(lines, `split at ${i}`).toEqual(['{"a":"café"}', '{"b":2}']);
      expect(s.rest()).toBe('');
    }
  });

  it('handles an event and a reply split across two reads at every byte boundary', async () => {
    const { server, client } = await setup();
    for (let i = 1; ; i++) {
      const p = client.execute('query-status');
      const cmd = await server.nextCommand();
      const bytes = Buffer.from(
        `${JSON.stringify(event('BLOCK_IO_ERROR', { ...ioError, reason: `é${i}` }))}\r\n` +
          `${JSON.stringify({ return: { running: true, status: 'running', note: 'é' }, id: cmd.id })}\r\n`,
      );
      if (i >= bytes.length) {
        server.send(bytes);
        await p;
        break;
      }
      server.send(bytes.subarray(0, i));
      await sleep(1); // let the first part arrive as its own read
      server.send(bytes.subarray(i));
      expect(await p, `split at ${i}`).toEqual({ running: true, status: 'running', note: 'é' });
      expect(client.events().at(-1)?.data, `split at ${i}`).toMatchObject({ reason: `é${i}` });
    }
    expect(client.protocolErrors).toEqual([]);
  });

  it('handles many messages in one read', async () => {
    const { server, client } = await setup();
    const p = client.execute('query-status');
    const cmd = await server.nextCommand();
    const events = Array.from({ length: 50 }, (_, i) => `${JSON.stringify(event('JOB_STATUS_CHANGE', { id: `job${i}`, status: 'running' }))}\n`);
    server.send(events.join('') + JSON.stringify({ return: { running: true, status: 'running' }, id: cmd.id }) + '\n');
    await p;
    expect(client.events().map((e) => [e.seq, e.data.id])).toEqual(events.map((_, i) => [i, `job${i}`]));
  });

  it('keeps events that interleave with replies, in order, and routes the replies', async () => {
    const { server, client } = await setup();
    const a = client.execute('stop');
    const b = client.execute('query-status');
    const [ca, cb] = [await server.nextCommand(), await server.nextCommand()];
    server.sendJson(event('STOP'), { return: { running: false, status: 'paused' }, id: cb.id });
    server.sendJson(event('RESUME'), { return: {}, id: ca.id }, event('STOP'));
    expect(await b).toEqual({ running: false, status: 'paused' });
    expect(await a).toEqual({});
    await roundTrip(server, client);
    expect(client.events().map((e) => `${e.seq}:${e.event}`)).toEqual(['0:STOP', '1:RESUME', '2:STOP']);
    expect(client.events()[0]!.timestamp).toEqual(ts);
  });

  it('records an invalid line in protocolErrors and keeps going', async () => {
    const { server, client } = await setup();
    const p = client.execute('query-status');
    const cmd = await server.nextCommand();
    server.send('this is not json\r\n{"neither": "reply nor event"}\r\n');
    server.sendJson({ error: { class: 'GenericError', desc: 'JSON parse error' } }, { return: { running: true, status: 'running' }, id: cmd.id });
    expect(await p).toEqual({ running: true, status: 'running' });
    expect(client.protocolErrors.map((e) => [e.line, e.message])).toEqual([
      ['this is not json', expect.stringContaining('not valid JSON')],
      ['{"neither": "reply nor event"}', expect.stringContaining('neither a reply')],
      ['{"error":{"class":"GenericError","desc":"JSON parse error"}}', 'a reply without an id'],
    ]);
  });

  it('every error it reports is a QmpError, named after its own class', async () => {
    const { server, client } = await setup();
    const failed = client.execute('blockdev-del', { 'node-name': 'x' });
    server.sendJson({ error: { class: 'DeviceNotFound', desc: 'no' }, id: (await server.nextCommand()).id });
    server.send('not json\r\n');
    const errors = [
      await failed.catch((e: unknown) => e),
      await client.execute('stop', undefined, { timeoutMs: 20 }).catch((e: unknown) => e),
      await QmpClient.connect(server.path + '.none', { timeoutMs: 50 }).catch((e: unknown) => e),
    ];
    await client.close();
    errors.push(await client.execute('cont').catch((e: unknown) => e));
    await expect.poll(() => client.protocolErrors.length).toBe(1);
    errors.push(client.protocolErrors[0]);
    expect(errors.map((e) => [e instanceof QmpError, (e as Error).name])).toEqual([
      [true, 'QmpCommandError'],
      [true, 'QmpTimeoutError'],
      [true, 'QmpConnectError'],
      [true, 'QmpDisconnectedError'],
      [true, 'QmpProtocolError'],
    ]);
  });
});

describe('events', () => {
  it('waitEvent finds an event that arrived before the call', async () => {
    const { server, client } = await setup();
    await roundTrip(server, client, event('BLOCK_IO_ERROR', ioError));
    const e = await client.waitEvent('BLOCK_IO_ERROR', { timeoutMs: 20 });
    expect(e).toEqual({ seq: 0, event: 'BLOCK_IO_ERROR', data: ioError, timestamp: ts });
    expectTypeOf(e.data.operation).toEqualTypeOf<'read' | 'write'>();
    expectTypeOf(e.data['node-name']).toEqualTypeOf<string | undefined>();
  });

  it('waitEvent waits for a later event and applies the predicate', async () => {
    const { server, client } = await setup();
    const wait = client.waitEvent('BLOCK_IO_HANG', { predicate: (e) => !e.data.set, timeoutMs: 2000 });
    const hang = { device: 'vd0', 'qom-path': '/machine/peripheral/vd0/virtio-backend', set: true };
    await roundTrip(server, client, event('BLOCK_IO_HANG', hang));
    expect(await settled(wait)).toBe(false);
    server.sendJson(event('BLOCK_IO_HANG', { ...hang, set: false }));
    expect(await wait).toMatchObject({ seq: 1, data: { set: false } });
  });

  it('waitEvent with since ignores older events', async () => {
    const { server, client } = await setup();
    await roundTrip(server, client, event('STOP'));
    const since = client.mark();
    expect(since).toBe(1);
    const wait = client.waitEvent('STOP', { since, timeoutMs: 2000 });
    expect(await settled(wait)).toBe(false);
    server.sendJson(event('STOP'));
    expect((await wait).seq).toBe(1);
    expect((await client.waitEvent('STOP')).seq).toBe(0);
  });

  it('waitEvent times out listing the events that did arrive since `since`', async () => {
    const { server, client } = await setup();
    await roundTrip(server, client, event('RESUME'), event('SHUTDOWN', { guest: true, reason: 'guest-shutdown' }));
    const err = await client.waitEvent('STOP', { timeoutMs: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QmpTimeoutError);
    expect((err as Error).message).toBe('event STOP: timed out after 30 ms; events since seq 0: RESUME, SHUTDOWN');
    await expect(client.waitEvent('STOP', { timeoutMs: 30, since: 1 })).rejects.toThrow('events since seq 1: SHUTDOWN');
    await expect(client.waitEvent('STOP', { timeoutMs: 30, since: 2 })).rejects.toThrow('events since seq 2: (none)');
  });

  it('keeps unknown events untyped and reports known events whose data is wrong', async () => {
    const { server, client } = await setup();
    await roundTrip(server, client, event('SOMETHING_NEW', { x: 1 }), event('BLOCK_IO_HANG', { device: 'vd0', set: 'yes' }));
    const e: QmpEvent = await client.waitEvent('SOMETHING_NEW');
    expect(e.data).toEqual({ x: 1 });
    expect(client.protocolErrors).toHaveLength(1);
    expect(client.protocolErrors[0]!.message).toMatch(/BLOCK_IO_HANG data does not match its schema[\s\S]*qom-path[\s\S]*set/);
    await expect(client.waitEvent('BLOCK_IO_HANG')).rejects.toBeInstanceOf(QmpProtocolError);
  });

  it('eventStream yields kept events from since, then new ones, and ends on close', async () => {
    const { server, client } = await setup();
    await roundTrip(server, client, event('STOP'), event('RESUME'));
    const seen: string[] = [];
    const done = (async () => {
      for await (const e of client.eventStream(1)) seen.push(`${e.seq}:${e.event}`);
    })();
    await roundTrip(server, client, event('STOP'));
    await client.close();
    await done;
    expect(seen).toEqual(['1:RESUME', '2:STOP']);
  });
});
