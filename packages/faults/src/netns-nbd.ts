import { existsSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { describeEnd, IohangError, qemuPaths, startDaemon, type Daemon } from '@iohang/core';
import { LinkStorage } from './link-storage.ts';
import { NetnsLink, STORAGE_ADDR, netnsPreflight, type NetnsLinkOptions } from './netns-link.ts';

/**
 * Network storage behind a real link that can go down: an NBD server (our qemu-nbd) in the
 * storage namespace of a NetnsLink, reached over TCP from its host namespace.
 *
 * Why a host namespace and not the real host network: QEMU 10.0's NBD client has no
 * per-socket timeout (no TCP_USER_TIMEOUT, no keep-alive timings; only `keep-alive=on`),
 * so with the kernel defaults an outage is a silent stall of up to ~15 min
 * (`tcp_retries2`=15), never an error. The link's host namespace has short TCP timeouts,
 * so an outage turns into EIO within seconds; nothing else on the machine changes.
 *
 * Two ways for QEMU to use it (see docs/guide/network-outage.md):
 * - blockdev(): QEMU stays in the real host network and connects to a unix socket; a
 *   byte relay inside the host namespace carries the connection over TCP. When TCP gives
 *   up, the relay drops the unix connection and QEMU's NBD client sees the server go away
 *   exactly as with its own socket (EIO, then reconnect attempts). No harness change.
 * - inetBlockdev() with QEMU itself started under `wrapCommand` (`ip netns exec <host ns>`):
 *   QEMU's own TCP socket crosses the link.
 */
export interface NetnsNbdOptions extends NetnsLinkOptions {
  /** The image file to serve. */
  image: string;
  /** Its format (qemu-nbd opens it; QEMU sees a raw export). Default raw. */
  format?: 'raw' | 'qcow2';
  /** Where the relay's unix socket goes (a short path: unix sockets allow 107 bytes). */
  dir: string;
}

const PORT = 10809;

/**
 * A byte relay: unix socket (argv[1]) <-> TCP (argv[2]:argv[3]); either side ending ends
 * both. Python, not Node: Node's setKeepAlive() fixes 10 probes (libuv), while the relay
 * must fail exactly like QEMU's own socket with `keep-alive=on` (the namespace's sysctls).
 */
const RELAY = `
import os, socket, sys, threading
path, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(16)

def pump(a, b):
    try:
        while data := a.recv(65536):
            b.sendall(data)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

def serve(c):
    try:
        u = socket.create_connection((host, port))
    except OSError:
        c.close()
        return
    u.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    u.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    back = threading.Thread(target=pump, args=(u, c), daemon=True)
    back.start()
    pump(c, u)
    back.join()
    c.close()
    u.close()

print('ready', flush=True)
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
`;

export class NetnsNbdStorage extends LinkStorage {
  /** Unix socket of the relay (what blockdev() connects to). */
  readonly socket: string;
  private server?: Daemon;
  private relay?: Daemon;
  private stopped = false;

  private constructor(
    private readonly opts: NetnsNbdOptions,
    link: NetnsLink,
  ) {
    super(link);
    this.socket = join(opts.dir, `nbd-relay-${process.pid}-${link.serial}.sock`);
  }

  static async start(opts: NetnsNbdOptions): Promise<NetnsNbdStorage> {
    netnsPreflight('network-outage storage');
    if (!existsSync(opts.image)) throw new IohangError(`image ${opts.image} does not exist`, 'Create it first (createDisk or qemu-img create)');
    const s = new NetnsNbdStorage(opts, NetnsLink.create(opts));
    try {
      await s.startProcesses();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  /** Namespace where the TCP client (relay, or QEMU under wrapCommand) runs. */
  get hostNs(): string {
    return this.link.hostNs;
  }

  /** Namespace of the NBD server. */
  get storageNs(): string {
    return this.link.storageNs;
  }

  private async startProcesses(): Promise<void> {
    const nbd = qemuPaths().nbd;
    const format = this.opts.format ?? 'raw';
    // -t: keep serving after a client goes; -e 0: any number of clients, because the
    // connection that died in an outage stays open on the server side (nothing tells it).
    const server = await startDaemon('ip', [...this.link.storageCommand.slice(1), nbd, '-f', format, '-t', '-e', '0', '-b', STORAGE_ADDR, '-p', String(PORT), this.opts.image], {
      name: 'qemu-nbd in the network namespace',
      ready: () => true,
      hint: 'Is the QEMU build complete (qemu-nbd), the image readable?',
    });
    this.server = server;
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    // Ready when an NBD greeting comes through the whole path: relay, link, server.
    this.relay = await startDaemon('ip', [...this.link.wrapCommand.slice(1), python, '-c', RELAY, this.socket, STORAGE_ADDR, String(PORT)], {
      name: 'the NBD relay in the network namespace',
      ready: async () => {
        const end = server.end;
        if (end) throw new IohangError(`qemu-nbd in the network namespace exited (${describeEnd(end)}): ${server.output}`, 'Is the QEMU build complete (qemu-nbd), the image readable?');
        return greeting(this.socket);
      },
      hint: 'Is python3 installed, and the image readable by qemu-nbd?',
      timeoutMs: 15_000,
      pollMs: 100,
    }).catch((e: unknown) => {
      // The server's side of the story belongs in the message too.
      if (e instanceof IohangError && server.output) throw new IohangError(`${e.message}\n[qemu-nbd] ${server.output}`, e.fix);
      throw e;
    });
  }

  /** QEMU's NBD client, for a QEMU in the host's own network (a DiskSpec backend). */
  blockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'unix', path: this.socket } };
  }

  /** QEMU's NBD client over TCP, for a QEMU started under wrapCommand. */
  inetBlockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'inet', host: STORAGE_ADDR, port: String(PORT), 'keep-alive': true } };
  }

  /** PID of the NBD server (qemu-nbd). */
  get serverPid(): number | undefined {
    return this.server?.pid;
  }

  /** PIDs of the NBD server and the relay. */
  get pids(): number[] {
    return [this.server?.pid, this.relay?.pid].filter((p): p is number => p !== undefined);
  }

  /**
   * Stop the server and the relay and delete both namespaces (with the link). Anything
   * still running inside them is killed, so stop a QEMU started under wrapCommand first.
   * It is an error if either had died before.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const stops = await Promise.allSettled([this.relay?.stop(), this.server?.stop()]);
    this.link.delete();
    rmSync(this.socket, { force: true });
    const died = stops.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
    if (died.length) throw new Error(died.join('; '));
  }

}

/** Whether an NBD server greets on this unix socket (the first 8 bytes are "NBDMAGIC"). */
function greeting(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    if (!existsSync(path)) return resolve(false);
    const sock = connect(path);
    let got = '';
    const done = (ok: boolean) => {
      sock.destroy();
      clearTimeout(timer);
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 2000);
    sock.on('data', (b: Buffer) => {
      got += b.toString('latin1');
      if (got.length >= 8) done(got.startsWith('NBDMAGIC'));
    });
    sock.on('error', () => done(false));
    sock.on('close', () => done(false));
  });
}
