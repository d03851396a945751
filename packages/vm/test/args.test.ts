import { describe, expect, it } from 'vitest';
import { blkdebugTarget, diskArgs, imageDisk, nodeNames } from '../src/index.ts';

describe('diskArgs', () => {
  it('describes a file image with -blockdev and a virtio-blk device by default', () => {
    const args = diskArgs({ id: 'd0', backend: '/img/a.raw', protocolOptions: { aio: 'native' }, deviceProps: { iohang: true, 'iohang-timeout': 30 } });
    expect(args).toEqual([
      '-blockdev', JSON.stringify({ driver: 'file', filename: '/img/a.raw', aio: 'native', 'node-name': 'd0-proto' }),
      '-blockdev', JSON.stringify({ driver: 'raw', 'node-name': 'd0-fmt', file: 'd0-proto' }),
      '-device', 'virtio-blk-pci,id=d0,drive=d0-fmt,iohang=on,iohang-timeout=30',
    ]);
  });

  it('takes any protocol node (NBD) and another format', () => {
    const args = diskArgs({ id: 'n', backend: { driver: 'nbd', server: { type: 'unix', path: '/s' } }, format: 'qcow2', device: 'scsi-hd' });
    expect(JSON.parse(args[1]!)).toEqual({ driver: 'nbd', server: { type: 'unix', path: '/s' }, 'node-name': 'n-proto' });
    expect(JSON.parse(args[3]!)).toMatchObject({ driver: 'qcow2', file: 'n-proto' });
    expect(args[5]).toBe('scsi-hd,id=n,drive=n-fmt');
  });

  it('uses -drive when asked, with predictable node names and the libvirt-style drive id', () => {
    const args = diskArgs({ id: 'd1', backend: '/img/b.raw', drive: { cache: 'none', 'iohang-timeout': 60 } });
    expect(args).toEqual([
      '-drive', 'file=/img/b.raw,format=raw,if=none,id=drive-d1,node-name=d1-fmt,file.node-name=d1-proto,cache=none,iohang-timeout=60',
      '-device', 'virtio-blk-pci,id=d1,drive=drive-d1',
    ]);
    expect(nodeNames('d1')).toEqual({ protocol: 'd1-proto', format: 'd1-fmt', backend: 'drive-d1' });
  });

  it('imageDisk is O_DIRECT with native AIO on -blockdev; blkdebugTarget names the nodes diskArgs made', () => {
    const disk = imageDisk('d2', '/img/c.raw', { iohang: true, 'iohang-retry-interval': 100 });
    const args = diskArgs(disk);
    expect(JSON.parse(args[1]!)).toEqual({ driver: 'file', filename: '/img/c.raw', aio: 'native', cache: { direct: true }, 'node-name': 'd2-proto' });
    expect(args[5]).toBe('virtio-blk-pci,id=d2,drive=d2-fmt,iohang=on,iohang-retry-interval=100');
    expect(blkdebugTarget(disk)).toEqual({ formatNode: JSON.parse(args[3]!)['node-name'], formatDriver: 'raw', protocolNode: JSON.parse(args[1]!)['node-name'] });
    expect(blkdebugTarget({ id: 'q', format: 'qcow2' })).toEqual({ formatNode: 'q-fmt', formatDriver: 'qcow2', protocolNode: 'q-proto' });
  });

  it('refuses what QEMU would misread', () => {
    expect(() => diskArgs({ id: 'x', backend: '/a', deviceProps: { serial: 'a,b' } })).toThrow(/cannot contain a comma/);
    expect(() => diskArgs({ id: 'x', backend: { driver: 'nbd' }, drive: {} })).toThrow(/-drive takes an image path/);
  });
  it('deviceJson switches -device to JSON for list properties, deviceProps keep their keyval meaning', () => {
    const args = diskArgs({ id: 'd2', backend: '/img/c.raw', deviceProps: { iohang: true, 'iohang-timeout': 5 }, deviceJson: { 'num-queues': 2, 'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }] } });
    expect(JSON.parse(args.at(-1)!)).toEqual({
      driver: 'virtio-blk-pci', id: 'd2', drive: 'd2-fmt', iohang: 'on', 'iohang-timeout': 5,
      'num-queues': 2, 'iothread-vq-mapping': [{ iothread: 'io0' }, { iothread: 'io1' }],
    });
  });
});
