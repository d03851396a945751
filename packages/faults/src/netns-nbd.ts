import { spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { IohangError } from '@iohang/builder';
import { qemuPaths, spawnOwned, stopProcess } from '@iohang/vm';

/**
 * Network storage behind a real link that can go down: an NBD server (our qemu-nbd) in a
 * "storage" network namespace, reached over TCP through a veth pair from a "host"
 * namespace. cut() takes the storage end of the link down (the host end loses its
 * carrier, as when a SAN switch port dies), restore() brings it back.
 *
 * Why a host namespace and not the real host network: how fast a dead TCP connection
 * fails is set by sysctls of the connecting socket's namespace, and QEMU 10.0 has no
 * per-socket option for it (no TCP_USER_TIMEOUT, no keep-alive timings; only
 * `keep-alive=on`). With the kernel defaults an outage is a silent stall of up to ~15 min
 * (`tcp_retries2`=15), never an error. The host namespace sets `tcp_retries2`=3 (unacked
 * data: ~3 s) and keep-alive 1 s/1 s/2 probes (a request the server got but never answered:
 * ~3 s), so an outage turns into EIO within seconds; nothing else on the machine changes.
 *
 * Two ways for QEMU to use it (see docs/guide/network-outage.md):
 * - blockdev(): QEMU stays in the real host network and connects to a unix socket; a
 *   byte relay inside the host namespace carries the connection over TCP. When TCP gives
 *   up, the relay drops the unix connection and QEMU's NBD client sees the server go away
 *   exactly as with its own socket (EIO, then reconnect attempts). No harness change.
 * - inetBlockdev() with QEMU itself started under `wrapCommand` (`ip netns exec <host ns>`):
 *   QEMU's own TCP socket crosses the link.
 */
export interface NetnsNbdOptions {
  /** The image file to serve. */
  image: string;
  /** Its format (qemu-nbd opens it; QEMU sees a raw export). Default raw. */
  format?: 'raw' | 'qcow2';
  /** Where the relay's unix socket goes (a short path: unix sockets allow 107 bytes). */
  dir: string;
  /**
   * `net.ipv4.tcp_retries2` of the host namespace: unacknowledged data fails the
   * connection after about 0.2 s * (2^(n+1) - 1) (n=3: ~3 s, 4: ~6 s, 5: ~12.6 s; the
   * kernel default 15 is ~924 s).
   */
  tcpRetries?: number;
  /** `net.ipv4.tcp_syn_retries` of the host namespace (connect() gives up after ~2^(n+1)-1 s). Default 1. */
  synRetries?: number;
  /**
   * `net.ipv4.tcp_keepalive_probes` of the host namespace (idle time and interval are 1 s):
   * a connection waiting for an answer fails after about 1 + n s without one. Default 2.
   */
  keepAliveProbes?: number;
}

/** Which end of the veth goes down on cut(). */
export type LinkEnd = 'storage' | 'host';

const PREFIX = 'iohang-nbd-';
const HOST_IF = 'nbd-host';
const STORAGE_IF = 'nbd-storage';
/** Only these two namespaces see the link, so every instance can use the same addresses. */
const HOST_ADDR = '10.201.0.1';
const STORAGE_ADDR = '10.201.0.2';
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

let counter = 0;

function ip(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.error) {
    const missing = (r.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new IohangError(missing ? 'the `ip` command (iproute2) is not installed' : `ip ${args.join(' ')}: ${r.error.message}`, 'sudo apt-get install iproute2');
  }
  return { ok: r.status === 0, out: `${r.stdout}${r.stderr}`.trim() };
}

function mustIp(args: string[], what: string): string {
  const r = ip(args);
  if (!r.ok) throw new IohangError(`${what} failed: ip ${args.join(' ')}: ${r.out}`, 'Network namespaces need root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and a kernel with veth');
  return r.out;
}

/** The start time of a process (field 22 of /proc/<pid>/stat), or undefined if it is gone. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Our namespaces: iohang-nbd-<owner pid>-<owner start time>-<n>-<host|storage>. */
const NAME = new RegExp(`^${PREFIX}(\\d+)-(\\d+)-\\d+-(host|storage)$`);

export function listNetnsNbdNamespaces(): string[] {
  return ip(['netns', 'list'])
    .out.split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => NAME.test(n));
}

function deleteNamespace(ns: string): void {
  // Whatever still runs in it would keep the namespace (and its end of the link) alive.
  for (const pid of ip(['netns', 'pids', ns]).out.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  ip(['netns', 'delete', ns]);
}

/** Delete namespaces left by runs whose process is gone (killed before it could clean up). */
export function removeStaleNetnsNbd(): string[] {
  const stale = listNetnsNbdNamespaces().filter((ns) => {
    const [, pid, start] = NAME.exec(ns)!;
    return startTime(Number(pid)) !== start;
  });
  for (const ns of stale) deleteNamespace(ns);
  return stale;
}

function preflight(): void {
  if (process.getuid?.() !== 0) {
    throw new IohangError('network-outage storage needs root (it creates network namespaces and a veth pair)', 'Run the tests as root (sudo), or skip the network-outage tests');
  }
  ip(['-V']);
}

export class NetnsNbdStorage implements AsyncDisposable {
  /** Namespace where the TCP client (relay, or QEMU under wrapCommand) runs. */
  readonly hostNs: string;
  /** Namespace of the NBD server. */
  readonly storageNs: string;
  /** Unix socket of the relay (what blockdev() connects to). */
  readonly socket: string;
  private server?: ChildProcess;
  private relay?: ChildProcess;
  private output = '';
  private stopped = false;

  private constructor(private readonly opts: NetnsNbdOptions) {
    const base = `${PREFIX}${process.pid}-${startTime(process.pid)}-${++counter}`;
    this.hostNs = `${base}-host`;
    this.storageNs = `${base}-storage`;
    this.socket = join(opts.dir, `nbd-relay-${process.pid}-${counter}.sock`);
  }

  static async start(opts: NetnsNbdOptions): Promise<NetnsNbdStorage> {
    preflight();
    if (!existsSync(opts.image)) throw new IohangError(`image ${opts.image} does not exist`, 'Create it first (createDisk or qemu-img create)');
    removeStaleNetnsNbd();
    const s = new NetnsNbdStorage(opts);
    try {
      s.setUpNetwork();
      await s.startProcesses();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  private setUpNetwork(): void {
    const { hostNs: h, storageNs: st } = this;
    mustIp(['netns', 'add', h], 'creating a network namespace');
    mustIp(['netns', 'add', st], 'creating a network namespace');
    // Created directly inside the two namespaces: nothing appears in the host's own network.
    mustIp(['link', 'add', HOST_IF, 'netns', h, 'type', 'veth', 'peer', 'name', STORAGE_IF, 'netns', st], 'creating the veth pair');
    mustIp(['-n', h, 'addr', 'add', `${HOST_ADDR}/30`, 'dev', HOST_IF], 'addressing the link');
    mustIp(['-n', st, 'addr', 'add', `${STORAGE_ADDR}/30`, 'dev', STORAGE_IF], 'addressing the link');
    for (const [ns, dev] of [[h, HOST_IF], [h, 'lo'], [st, STORAGE_IF], [st, 'lo']] as const) mustIp(['-n', ns, 'link', 'set', dev, 'up'], 'bringing the link up');
    const sysctl = (name: string, value: number) => {
      // /proc/sys/net shows the namespace of the process that opens it.
      const r = spawnSync('ip', ['netns', 'exec', h, 'sh', '-c', `echo ${value} > /proc/sys/net/ipv4/${name}`], { encoding: 'utf8' });
      if (r.status !== 0) throw new IohangError(`setting net.ipv4.${name}=${value} in ${h} failed: ${r.stderr}`, 'Is /proc/sys writable (root, not a read-only /proc)?');
    };
    sysctl('tcp_retries2', this.opts.tcpRetries ?? 3);
    sysctl('tcp_syn_retries', this.opts.synRetries ?? 1);
    // A request the server has received but not yet answered leaves nothing unacknowledged
    // on the client: only keep-alive probes notice the dead link then (1 s idle, 2 probes 1 s apart).
    sysctl('tcp_keepalive_time', 1);
    sysctl('tcp_keepalive_intvl', 1);
    sysctl('tcp_keepalive_probes', this.opts.keepAliveProbes ?? 2);
  }

  private capture(child: ChildProcess, name: string): void {
    const add = (b: Buffer) => (this.output = (this.output + `[${name}] ${b.toString()}`).slice(-8192));
    child.stdout?.on('data', add);
    child.stderr?.on('data', add);
  }

  private async startProcesses(): Promise<void> {
    const nbd = qemuPaths().nbd;
    const format = this.opts.format ?? 'raw';
    // -t: keep serving after a client goes; -e 0: any number of clients, because the
    // connection that died in an outage stays open on the server side (nothing tells it).
    this.server = spawnOwned('ip', ['netns', 'exec', this.storageNs, nbd, '-f', format, '-t', '-e', '0', '-b', STORAGE_ADDR, '-p', String(PORT), this.opts.image], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.capture(this.server, 'qemu-nbd');
    const python = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
    this.relay = spawnOwned('ip', ['netns', 'exec', this.hostNs, python, '-c', RELAY, this.socket, STORAGE_ADDR, String(PORT)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.capture(this.relay, 'relay');
    // Ready when an NBD greeting comes through the whole path: relay, link, server.
    const deadline = Date.now() + 15_000;
    for (;;) {
      for (const [child, what] of [[this.server, 'qemu-nbd'], [this.relay, 'the relay']] as const) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new IohangError(`${what} in the network namespace exited (${child.signalCode ?? `code ${child.exitCode}`}): ${this.output.trim()}`, 'Is the QEMU build complete (qemu-nbd), python3 installed, the image readable?');
        }
      }
      if (await greeting(this.socket)) return;
      if (Date.now() > deadline) throw new IohangError(`no NBD greeting through ${this.socket} within 15 s: ${this.output.trim()}`, 'See the qemu-nbd and relay output above');
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** QEMU's NBD client, for a QEMU in the host's own network (a DiskSpec backend). */
  blockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'unix', path: this.socket } };
  }

  /** QEMU's NBD client over TCP, for a QEMU started under wrapCommand. */
  inetBlockdev(): Record<string, unknown> {
    return { driver: 'nbd', server: { type: 'inet', host: STORAGE_ADDR, port: String(PORT), 'keep-alive': true } };
  }

  /** Prefix for a command that should run inside the host namespace (and talk TCP over the link). */
  get wrapCommand(): string[] {
    return ['ip', 'netns', 'exec', this.hostNs];
  }

  /** Take the link down (default: the storage end; the host end then has no carrier). */
  cut(end: LinkEnd = 'storage'): void {
    this.link(end, 'down');
  }

  restore(end: LinkEnd = 'storage'): void {
    this.link(end, 'up');
  }

  private link(end: LinkEnd, state: 'up' | 'down'): void {
    const [ns, dev] = end === 'storage' ? [this.storageNs, STORAGE_IF] : [this.hostNs, HOST_IF];
    mustIp(['-n', ns, 'link', 'set', dev, state], `taking the link ${state}`);
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
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await Promise.all([this.relay, this.server].map((c) => (c ? stopProcess(c) : undefined)));
    for (const ns of [this.hostNs, this.storageNs]) {
      if (ip(['netns', 'list']).out.split('\n').some((l) => l.split(' ')[0] === ns)) deleteNamespace(ns);
    }
    rmSync(this.socket, { force: true });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
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
