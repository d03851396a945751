/** QEMU command-line pieces for the disks a test describes. */
import type { QmpCommands } from '@iohang/qmp';

export type PropValue = string | number | boolean;
export type Props = Record<string, PropValue>;

type IoHangSet = QmpCommands['block-io-hang-set']['args'];

/**
 * The series' device properties, typed as the block-io-hang-set members they set at
 * startup (docs/system/io-hang.rst). The per-direction settings and the error list are
 * -drive options and QMP members only.
 */
export interface IoHangProps {
  /** block-io-hang-set `enable` */
  iohang?: IoHangSet['enable'];
  /** Seconds; 0: never time out. block-io-hang-set `timeout` */
  'iohang-timeout'?: IoHangSet['timeout'];
  /** Milliseconds. block-io-hang-set `retry-interval` */
  'iohang-retry-interval'?: IoHangSet['retry-interval'];
}

/** Device properties: the I/O hang ones typed, any other as QEMU spells it. */
export type DeviceProps = IoHangProps & Props;

/** One guest disk: a backend, a format, a device model. */
export interface DiskSpec {
  /** Short name: node names are `<id>-proto` / `<id>-fmt`, the device id is `<id>`. */
  id: string;
  /** An image path (file driver), or blockdev options for the protocol node (nbd, ...). */
  backend: string | Record<string, unknown>;
  format?: 'raw' | 'qcow2';
  /**
   * Describe the disk with legacy `-drive` (these options added, e.g. werror, cache,
   * aio, iohang-timeout) instead of `-blockdev`.
   */
  drive?: Props;
  /** Options of the protocol node with -blockdev (e.g. aio, cache.direct). */
  protocolOptions?: Record<string, unknown>;
  /** Device model; default virtio-blk-pci. */
  device?: string;
  deviceProps?: DeviceProps;
  /**
   * Device properties that need QEMU's JSON -device syntax (lists, e.g.
   * iothread-vq-mapping), passed as they are; with them the whole -device is given as
   * JSON, deviceProps included (booleans there become "on"/"off").
   */
  deviceJson?: Record<string, unknown>;
}

export function nodeNames(id: string) {
  /** `backend` is the -drive id (the BlockBackend's name), as libvirt names it. */
  return { protocol: `${id}-proto`, format: `${id}-fmt`, backend: `drive-${id}` };
}

/**
 * A virtio-blk disk on -blockdev over an image file, opened with O_DIRECT and native AIO
 * on the host, so that the host page cache hides no failure: the disk of every scenario,
 * the demo, the soak and the benchmarks.
 */
export function imageDisk(id: string, image: string, deviceProps: DeviceProps = {}): DiskSpec {
  return { id, backend: image, protocolOptions: { aio: 'native', cache: { direct: true } }, deviceProps };
}

/** Where a blkdebug fault goes for this disk (@iohang/faults' BlkdebugTarget): its format node over its protocol node. */
export function blkdebugTarget(disk: Pick<DiskSpec, 'id' | 'format'>) {
  const names = nodeNames(disk.id);
  return { formatNode: names.format, formatDriver: disk.format ?? 'raw', protocolNode: names.protocol };
}

function kv(props: Props): string[] {
  return Object.entries(props).map(([k, v]) => {
    const s = typeof v === 'boolean' ? (v ? 'on' : 'off') : String(v);
    if (s.includes(',')) throw new Error(`option ${k}=${s}: QEMU option values cannot contain a comma here`);
    return `${k}=${s}`;
  });
}

/** deviceProps in JSON: booleans as "on"/"off", as keyval passes them (qdev's OnOffAuto needs strings). */
function keyvalAsJson(props: Props): Record<string, string | number> {
  return Object.fromEntries(Object.entries(props).map(([k, v]) => [k, typeof v === 'boolean' ? (v ? 'on' : 'off') : v]));
}

export function protocolNode(disk: DiskSpec): Record<string, unknown> {
  const base = typeof disk.backend === 'string' ? { driver: 'file', filename: disk.backend } : disk.backend;
  return { ...base, ...disk.protocolOptions, 'node-name': nodeNames(disk.id).protocol };
}

export function diskArgs(disk: DiskSpec): string[] {
  const names = nodeNames(disk.id);
  const format = disk.format ?? 'raw';
  const device = (drive: string) =>
    disk.deviceJson
      ? ['-device', JSON.stringify({ driver: disk.device ?? 'virtio-blk-pci', id: disk.id, drive, ...keyvalAsJson(disk.deviceProps ?? {}), ...disk.deviceJson })]
      : ['-device', [disk.device ?? 'virtio-blk-pci', `id=${disk.id}`, `drive=${drive}`, ...kv(disk.deviceProps ?? {})].join(',')];
  if (disk.drive) {
    if (typeof disk.backend !== 'string') throw new Error(`disk ${disk.id}: -drive takes an image path; use -blockdev (no "drive") for other backends`);
    const drive = [`file=${disk.backend}`, `format=${format}`, 'if=none', `id=${names.backend}`, `node-name=${names.format}`, `file.node-name=${names.protocol}`, ...kv(disk.drive)];
    return ['-drive', drive.join(','), ...device(names.backend)];
  }
  return [
    '-blockdev', JSON.stringify(protocolNode(disk)),
    '-blockdev', JSON.stringify({ driver: format, 'node-name': names.format, file: names.protocol }),
    ...device(names.format),
  ];
}
