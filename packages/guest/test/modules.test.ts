import { describe, expect, it } from 'vitest';
import { IohangError } from '@iohang/core';
import { loadOrder, moduleName, parseModulesDep } from '../src/index.ts';

// The shape depmod writes: each module, then the full closure of what it needs.
const dep = parseModulesDep(`kernel/fs/ext4/ext4.ko.xz: kernel/lib/crc16.ko.xz kernel/fs/mbcache.ko.xz kernel/fs/jbd2/jbd2.ko.xz
kernel/fs/jbd2/jbd2.ko.xz:
kernel/fs/mbcache.ko.xz:
kernel/lib/crc16.ko.xz:
kernel/crypto/crc32c_generic.ko.xz:
kernel/drivers/nvme/host/nvme.ko.xz: kernel/drivers/nvme/host/nvme-core.ko.xz kernel/block/t10-pi.ko.xz kernel/lib/crc-t10dif.ko.xz
kernel/drivers/nvme/host/nvme-core.ko.xz: kernel/block/t10-pi.ko.xz kernel/lib/crc-t10dif.ko.xz
kernel/block/t10-pi.ko.xz: kernel/lib/crc-t10dif.ko.xz
kernel/lib/crc-t10dif.ko.xz:
`);

describe('loadOrder', () => {
  it('puts every module after everything it needs', () => {
    const order = loadOrder(dep, ['nvme', 'crc32c_generic', 'ext4']);
    expect(new Set(order).size).toBe(order.length);
    const at = (name: string) => order.findIndex((p) => moduleName(p) === name);
    for (const [path, needs] of dep) {
      if (!order.includes(path)) continue;
      for (const n of needs) expect(order.indexOf(n), `${n} before ${path}`).toBeLessThan(order.indexOf(path));
    }
    expect(at('crc_t10dif')).toBe(0);
    expect(at('crc32c_generic')).toBeLessThan(at('ext4')); // the request order decides where deps do not
  });

  it('matches names with - and _ alike, and names the missing module', () => {
    expect(loadOrder(dep, ['nvme_core']).map(moduleName)).toEqual(['crc_t10dif', 't10_pi', 'nvme_core']);
    expect(() => loadOrder(dep, ['btrfs'])).toThrow(IohangError);
    expect(() => loadOrder(dep, ['btrfs'])).toThrow(/btrfs/);
  });
});
