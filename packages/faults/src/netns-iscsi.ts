import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { IohangError, startDaemon, type Daemon } from '@iohang/core';
import { LinkStorage } from './link-storage.ts';
import { NetnsLink, STORAGE_ADDR, netnsPreflight, type NetnsLinkOptions } from './netns-link.ts';

/**
 * iSCSI storage behind a real link that can go down: Debian's user-space target (tgtd)
 * in the storage namespace of a NetnsLink, one LUN per image. QEMU's iscsi driver
 * (libiscsi) connects to TCP portals only, so QEMU itself runs under `wrapCommand`, in
 * the link's host namespace; every disk of one VM therefore lives on one storage (one
 * target, several LUNs), and cut() takes them all down at once.
 *
 * What makes QEMU surface an outage as EIO is the driver's own `timeout` option (seconds
 * per SCSI command): a command that times out is re-sent after a reconnect, five times,
 * then fails with EIO. Without it libiscsi reconnects and re-queues forever: the guest
 * only stalls (see docs/guide/network-outage.md for the measurements).
 */
export interface NetnsIscsiOptions extends NetnsLinkOptions {
  /** Image files to serve, as LUN 1, 2, ... (raw). */
  images: string[];
  /**
   * tgtd opens the images with O_DIRECT (`--bsoflags direct`), so that a failing image
   * fails the SCSI command instead of being hidden by the page cache. Default false.
   */
  direct?: boolean;
}

const PORT = 3260;
export const ISCSI_TARGET = 'iqn.2026-11.io.iohang:storage';

function which(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

export class NetnsIscsiStorage extends LinkStorage {
  /** tgtd's control port (its socket is /var/run/tgtd/socket.<port>); unique per instance. */
  readonly controlPort: number;
  private tgtd?: Daemon;
  private stopped = false;

  private constructor(
    private readonly opts: NetnsIscsiOptions,
    link: NetnsLink,
  ) {
    super(link);
    // tgtd takes 0..32767.
    this.controlPort = 1000 + ((process.pid * 16 + link.serial) % 30_000);
  }

  static async start(opts: NetnsIscsiOptions): Promise<NetnsIscsiStorage> {
    netnsPreflight('iSCSI network storage');
    if (!which('tgtd') || !which('tgtadm')) throw new IohangError('the iSCSI target tgtd is not installed', 'sudo apt-get install tgt (or run: sudo npm run setup)');
    if (opts.images.length === 0) throw new IohangError('NetnsIscsiStorage needs at least one image', 'Pass images: [path, ...]');
    for (const image of opts.images) if (!existsSync(image)) throw new IohangError(`image ${image} does not exist`, 'Create it first (createDisk or qemu-img create)');
    const s = new NetnsIscsiStorage(opts, NetnsLink.create(opts));
    try {
      await s.startTarget();
    } catch (e) {
      await s.stop();
      throw e;
    }
    return s;
  }

  private tgtadm(args: string[], what: string): string {
    const r = spawnSync('tgtadm', ['-C', String(this.controlPort), '--lld', 'iscsi', ...args], { encoding: 'utf8' });
    if (r.status !== 0) throw new IohangError(`tgtadm ${what} failed: ${`${r.stdout}${r.stderr}`.trim()}`, `tgtd's output: ${this.tgtd?.output || '(none)'}`);
    return r.stdout;
  }

  private async startTarget(): Promise<void> {
    const [cmd, ...args] = this.link.storageCommand;
    this.tgtd = await startDaemon(cmd!, [...args, 'tgtd', '-f', '-C', String(this.controlPort), '--iscsi', `portal=${STORAGE_ADDR}:${PORT}`], {
      name: 'tgtd in the network namespace',
      ready: () => spawnSync('tgtadm', ['-C', String(this.controlPort), '--op', 'show', '--mode', 'system']).status === 0,
      hint: 'Is another tgtd using the same control port, or port 3260 taken in the namespace?',
      timeoutMs: 15_000,
      pollMs: 100,
      // tgtd ignores SIGTERM; it keeps nothing that needs a clean shutdown (the LUNs are plain files).
      stopGraceMs: 0,
    });
    this.tgtadm(['--op', 'new', '--mode', 'target', '--tid', '1', '-T', ISCSI_TARGET], 'creating the target');
    this.opts.images.forEach((image, i) => this.tgtadm(['--op', 'new', '--mode', 'logicalunit', '--tid', '1', '--lun', String(i + 1), '-b', image, ...(this.opts.direct ? ['--bsoflags', 'direct'] : [])], `adding LUN ${i + 1} (${image})`));
    this.tgtadm(['--op', 'bind', '--mode', 'target', '--tid', '1', '-I', 'ALL'], 'opening the target to initiators');
  }

  /**
   * QEMU's iscsi driver for LUN `lun` (1-based, in the order of `images`). `timeout`: seconds
   * per SCSI command before it is re-sent (and after 5 attempts, failed with EIO); 0 or
   * absent = wait forever.
   */
  blockdev(lun: number, timeout?: number): Record<string, unknown> {
    if (!Number.isInteger(lun) || lun < 1 || lun > this.opts.images.length) throw new IohangError(`no LUN ${lun}: this storage has LUNs 1..${this.opts.images.length}`, 'Use the 1-based index of the image');
    return { driver: 'iscsi', transport: 'tcp', portal: `${STORAGE_ADDR}:${PORT}`, target: ISCSI_TARGET, lun, ...(timeout ? { timeout } : {}) };
  }

  get pid(): number | undefined {
    return this.tgtd?.pid;
  }

  /** Stop tgtd and delete the namespaces; stop a QEMU running under wrapCommand first. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const died = await this.tgtd?.stop().catch((e: Error) => e);
    this.link.delete();
    for (const f of ['', '.lock']) rmSync(`/var/run/tgtd/socket.${this.controlPort}${f}`, { force: true });
    if (died) throw died;
  }

}
