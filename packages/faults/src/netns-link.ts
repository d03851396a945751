import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { IohangError } from '@iohang/core';

/**
 * A link that can go down between two network namespaces: "storage" (where a storage
 * server runs) and "host" (where its client runs), joined by a veth pair. cut() takes one
 * end down (the other loses its carrier, as when a SAN switch port dies), restore()
 * brings it back. Nothing appears in the machine's own network.
 *
 * How fast a dead TCP connection fails is set by sysctls of the connecting socket's
 * namespace; the host namespace gets short ones (see NetnsLinkOptions) so that only what
 * runs there is affected.
 */
export interface NetnsLinkOptions {
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

const PREFIX = 'iohang-net-';
const HOST_IF = 'net-host';
const STORAGE_IF = 'net-storage';
/** Only the two namespaces see the link, so every instance can use the same addresses. */
export const HOST_ADDR = '10.201.0.1';
export const STORAGE_ADDR = '10.201.0.2';

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

/** Our namespaces: iohang-net-<owner pid>-<owner start time>-<n>-<host|storage>. */
const NAME = new RegExp(`^${PREFIX}(\\d+)-(\\d+)-\\d+-(host|storage)$`);

export function listNetnsLinkNamespaces(): string[] {
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
export function removeStaleNetnsLinks(): string[] {
  const stale = listNetnsLinkNamespaces().filter((ns) => {
    const [, pid, start] = NAME.exec(ns)!;
    return startTime(Number(pid)) !== start;
  });
  for (const ns of stale) deleteNamespace(ns);
  return stale;
}

/** Fails clearly when namespaces cannot be made here: not root, or no iproute2. */
export function netnsPreflight(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new IohangError(`${what} needs root (it creates network namespaces and a veth pair)`, 'Run the tests as root (sudo), or skip the network-outage tests');
  }
  ip(['-V']);
}

export class NetnsLink {
  /** Namespace where the storage client runs (a relay, or QEMU under wrapCommand). */
  readonly hostNs: string;
  /** Namespace of the storage server. */
  readonly storageNs: string;
  /** A number unique to this link among the running ones (for sockets and control ports). */
  readonly serial: number;
  private deleted = false;

  private constructor() {
    this.serial = ++counter;
    const base = `${PREFIX}${process.pid}-${startTime(process.pid)}-${this.serial}`;
    this.hostNs = `${base}-host`;
    this.storageNs = `${base}-storage`;
  }

  static create(opts: NetnsLinkOptions = {}): NetnsLink {
    removeStaleNetnsLinks();
    const link = new NetnsLink();
    try {
      link.setUp(opts);
    } catch (e) {
      link.delete();
      throw e;
    }
    return link;
  }

  private setUp(opts: NetnsLinkOptions): void {
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
    sysctl('tcp_retries2', opts.tcpRetries ?? 3);
    sysctl('tcp_syn_retries', opts.synRetries ?? 1);
    // A request the server has received but not yet answered leaves nothing unacknowledged
    // on the client: only keep-alive probes notice the dead link then (1 s idle, 2 probes 1 s apart).
    sysctl('tcp_keepalive_time', 1);
    sysctl('tcp_keepalive_intvl', 1);
    sysctl('tcp_keepalive_probes', opts.keepAliveProbes ?? 2);
  }

  /** Prefix for a command that runs inside the host namespace (its TCP crosses the link). */
  get wrapCommand(): string[] {
    return ['ip', 'netns', 'exec', this.hostNs];
  }

  /** Prefix for a command that runs inside the storage namespace. */
  get storageCommand(): string[] {
    return ['ip', 'netns', 'exec', this.storageNs];
  }

  /** Take the link down (default: the storage end; the host end then has no carrier). */
  cut(end: LinkEnd = 'storage'): void {
    this.set(end, 'down');
  }

  restore(end: LinkEnd = 'storage'): void {
    this.set(end, 'up');
  }

  private set(end: LinkEnd, state: 'up' | 'down'): void {
    const [ns, dev] = end === 'storage' ? [this.storageNs, STORAGE_IF] : [this.hostNs, HOST_IF];
    mustIp(['-n', ns, 'link', 'set', dev, state], `taking the link ${state}`);
  }

  /** Delete both namespaces (with the link), killing whatever still runs inside them. */
  delete(): void {
    if (this.deleted) return;
    this.deleted = true;
    const existing = new Set(ip(['netns', 'list']).out.split('\n').map((l) => l.split(' ')[0]));
    for (const ns of [this.hostNs, this.storageNs]) if (existing.has(ns)) deleteNamespace(ns);
  }
}
