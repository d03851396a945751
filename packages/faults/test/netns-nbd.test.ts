/**
 * Network storage whose link goes down, seen by QEMU's NBD client (qemu-io from our
 * build, no guest): the outage turns into EIO within seconds, and once the link is back
 * the client reconnects by itself.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { IohangError, listNetnsLinkNamespaces, NetnsNbdStorage } from '../src/index.ts';
import { QemuIo, image } from './qemu-io.ts';
import { sleep } from '@iohang/core';


function alive(pid: number): boolean {
  const status = `/proc/${pid}/status`;
  return existsSync(status) && !/^State:\s+Z/m.test(readFileSync(status, 'utf8'));
}

/** Write every 500 ms until a write succeeds; returns how long that took. */
async function writeUntilOk(io: QemuIo, pattern: number, timeoutMs: number): Promise<number> {
  const started = Date.now();
  for (;;) {
    const r = await io.run(`write -P ${pattern} 0 64k`);
    if (r.ok) return Date.now() - started;
    expect(r.text).toMatch(/write failed: Input\/output error/);
    if (Date.now() - started > timeoutMs) throw new Error(`writes still failing ${timeoutMs / 1000} s after the link came back: ${r.text}`);
    await sleep(500);
  }
}

describe.each([
  ['QEMU in the host network, through the relay', false],
  ['QEMU inside the host namespace, its own TCP socket', true],
] as const)('network-outage storage: %s', (_name, direct) => {
  it('an outage fails an in-flight write with EIO within seconds; after the link is back writes succeed again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netns-nbd-'));
    await using storage = await NetnsNbdStorage.start({ image: await image(), dir });
    const io = direct ? new QemuIo(storage.inetBlockdev(), storage.wrapCommand) : new QemuIo(storage.blockdev());
    try {
      expect((await io.run('write -P 1 0 64k')).ok).toBe(true);
      storage.cut();
      // tcp_retries2=3: ~3 s of retransmissions, then the connection fails.
      const failed = await io.run('write -P 2 0 64k');
      expect(failed.ok).toBe(false);
      expect(failed.text).toMatch(/write failed: Input\/output error/);
      expect(failed.ms).toBeGreaterThan(2000);
      expect(failed.ms).toBeLessThan(8000);
      // While the link is down every request fails at once (the client is reconnecting).
      const quick = await io.run('write -P 2 0 64k');
      expect(quick.ok).toBe(false);
      expect(quick.ms).toBeLessThan(1000);
      await sleep(2000);
      storage.restore();
      // The client's reconnect thread backs off 1, 2, 4, 8, 16 s; a few seconds here.
      const tookMs = await writeUntilOk(io, 3, 30_000);
      console.info(`in-flight write failed after ${failed.ms} ms; writes work again ${tookMs} ms after the link came back`);
      const read = await io.run('read -P 3 0 64k');
      expect(read.ok, read.text).toBe(true);
    } finally {
      await io.close();
    }
  });

  it('a request the server received but had not answered when the link went down also fails within seconds (keep-alive)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netns-nbd-'));
    await using storage = await NetnsNbdStorage.start({ image: await image(), dir });
    const io = direct ? new QemuIo(storage.inetBlockdev(), storage.wrapCommand) : new QemuIo(storage.blockdev());
    try {
      expect((await io.run('write -P 1 0 4k')).ok).toBe(true);
      // A stopped server's kernel still acknowledges the request: nothing is left for TCP to
      // retransmit, so tcp_retries2 does not apply; only keep-alive probes find the dead link.
      process.kill(storage.serverPid!, 'SIGSTOP');
      const pending = io.run('write -P 2 0 4k');
      await sleep(1000);
      storage.cut();
      process.kill(storage.serverPid!, 'SIGCONT');
      const failed = await pending;
      expect(failed.text).toMatch(/write failed: Input\/output error/);
      expect(failed.ms).toBeLessThan(1000 + 6000);
      storage.restore();
      const tookMs = await writeUntilOk(io, 3, 30_000);
      console.info(`unanswered write failed ${failed.ms - 1000} ms after the cut; writes work again ${tookMs} ms after the link came back`);
      expect((await io.run('read -P 3 0 4k')).ok).toBe(true);
    } finally {
      await io.close();
    }
  });
});

describe('network-outage storage: lifecycle', () => {
  it('stop() leaves no namespace, link or process behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'netns-nbd-'));
    const storage = await NetnsNbdStorage.start({ image: await image(), dir });
    const pids = storage.pids;
    expect(pids).toHaveLength(2);
    expect(pids.every(alive)).toBe(true);
    expect(listNetnsLinkNamespaces()).toEqual(expect.arrayContaining([storage.hostNs, storage.storageNs]));
    await storage.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(listNetnsLinkNamespaces()).not.toContain(storage.hostNs);
    expect(listNetnsLinkNamespaces()).not.toContain(storage.storageNs);
    // The veth ends lived only in those namespaces; none show up in the host's network.
    expect(spawnSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }).stdout).not.toMatch(/net-host|net-storage/);
    expect(existsSync(storage.socket)).toBe(false);
    await storage.stop();
  });

  it('two instances at once do not collide, and namespaces of a dead owner are removed', async () => {
    // A namespace named after a process that is gone, as a killed run leaves it.
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const stale = `iohang-net-${dead.pid}-1-1-host`;
    expect(spawnSync('ip', ['netns', 'add', stale]).status).toBe(0);
    const dir = mkdtempSync(join(tmpdir(), 'netns-nbd-'));
    await using a = await NetnsNbdStorage.start({ image: await image(), dir });
    await using b = await NetnsNbdStorage.start({ image: await image(), dir });
    expect(listNetnsLinkNamespaces()).not.toContain(stale);
    expect(new Set([a.hostNs, a.storageNs, b.hostNs, b.storageNs]).size).toBe(4);
    a.cut();
    const io = new QemuIo(b.blockdev());
    try {
      // b's link is untouched by a's outage.
      expect((await io.run('write -P 7 0 4k')).ok).toBe(true);
    } finally {
      await io.close();
    }
  });

  it('says clearly when it is not root', async () => {
    const uid = vi.spyOn(process, 'getuid').mockReturnValue(1000);
    try {
      await expect(NetnsNbdStorage.start({ image: '/dev/null', dir: tmpdir() })).rejects.toThrow(/needs root/);
    } finally {
      uid.mockRestore();
    }
  });

  it('says clearly when `ip` is missing', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent';
    try {
      await expect(NetnsNbdStorage.start({ image: '/dev/null', dir: tmpdir() })).rejects.toThrow(IohangError);
      await expect(NetnsNbdStorage.start({ image: '/dev/null', dir: tmpdir() })).rejects.toThrow(/iproute2/);
    } finally {
      process.env.PATH = path;
    }
  });
});
