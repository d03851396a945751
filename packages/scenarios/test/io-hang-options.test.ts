/** I/O hang options: bad values are refused at startup with a message that says what is wrong. */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { $ } from 'zx';
import type { BlockIOHangInfo } from '@iohang/qmp';
import { qemuPaths, textTable } from '@iohang/core';

const q = qemuPaths();
const image = join(mkdtempSync(join(tmpdir(), 'opts-')), 'disk.img');
writeFileSync(image, Buffer.alloc(1 << 20));

/** Start QEMU stopped, ask query-block and quit: exit code, stderr and d0's io-hang. */
async function start(args: string[]) {
  const input = ['qmp_capabilities', 'query-block', 'quit'].map((c) => `{"execute":"${c}"}\n`).join('');
  const r = await $({ input, nothrow: true, quiet: true, timeout: '30s' })`${q.system} -M pc -accel tcg -L ${q.firmware} -nodefaults -display none -S -qmp stdio ${args}`;
  const blocks = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"return": ['))
    .flatMap((l) => (JSON.parse(l) as { return: { device: string; 'io-hang'?: BlockIOHangInfo }[] }).return);
  const d0 = blocks.find((b) => b.device === 'd0' || b.device === '');
  return { code: r.exitCode, signal: r.signal, stderr: r.stderr.trim(), d0, ioHang: d0?.['io-hang'] };
}

// cache=none: through the host page cache QEMU warns that failed flushes cannot hang.
const drive = (opts: string, cache = 'none') => ['-drive', `if=none,id=d0,file=${image},format=raw,cache=${cache},${opts}`, '-device', 'virtio-blk-pci,drive=d0'];
const device = (props: string, direct = true) => ['-blockdev', `driver=file,node-name=f0,filename=${image},cache.direct=${direct ? 'on' : 'off'}`, '-blockdev', 'driver=raw,node-name=d0,file=f0', '-device', `virtio-blk-pci,drive=d0,${props}`];
const pageCacheWarning = (on: string) => `warning: I/O hang${on}: the image uses the host page cache (cache.direct=off), so a flush that fails reaches the guest at once; use cache.direct=on (cache=none) for failed flushes to hang too`;

describe('I/O hang options', () => {
  const refused: string[][] = [];
  afterAll(() => {
    console.log(['Startup options refused (QEMU exits 1):', ...textTable([], refused)].join('\n'));
  });

  it.each([
    ['-drive negative timeout', drive('iohang-timeout=-1'), 'iohang-timeout must not be negative'],
    ['-drive negative read timeout', drive('iohang=on,iohang-read-timeout=-1'), 'iohang-read-timeout must not be negative'],
    ['-drive zero write interval', drive('iohang=on,iohang-write-retry-interval=0'), 'iohang-write-retry-interval must be between 1 and 600000 milliseconds, not 0'],
    ['-drive off with a read timeout', drive('iohang=off,iohang-read-timeout=5'), 'iohang=off conflicts with iohang-read-timeout=5'],
    ['-drive unknown error', drive('iohang=on,iohang-errors=eio:eperm'), "iohang-errors: unknown error 'eperm'"],
    ['-drive no error', drive('iohang=on,iohang-errors='), 'iohang-errors must name at least one error'],
    ['-drive errors without I/O hang', drive('iohang-errors=etimedout'), 'iohang-errors needs I/O hang'],
    ['-drive huge timeout', drive('iohang-timeout=99999999999'), 'iohang-timeout must be at most 31536000 seconds (0 for no timeout), not 99999999999'],
    ['-drive off with a timeout', drive('iohang=off,iohang-timeout=5'), 'iohang=off conflicts with iohang-timeout=5'],
    ['-drive zero interval', drive('iohang=on,iohang-retry-interval=0'), 'iohang-retry-interval must be between 1 and 600000 milliseconds, not 0'],
    ['-drive interval without I/O hang', drive('iohang-retry-interval=50'), 'iohang-retry-interval needs I/O hang: add iohang=on, or iohang-timeout=SECONDS for a timeout'],
    ['-drive not a boolean', drive('iohang=maybe'), "Parameter 'iohang' expects 'on' or 'off'"],
    ['-drive typo in the name', drive('iohang-timout=5'), "Block format 'raw' does not support the option 'iohang-timout'"],
    ['-device off with a timeout', device('iohang=off,iohang-timeout=5'), 'iohang=off conflicts with iohang-timeout=5'],
    ['-device huge interval', device('iohang=on,iohang-retry-interval=700000'), 'iohang-retry-interval must be between 1 and 600000 milliseconds, not 700000'],
    ['-device interval without I/O hang', device('iohang-retry-interval=50'), 'iohang-retry-interval needs I/O hang'],
    ['-device not a number', device('iohang-timeout=soon'), "Parameter 'iohang-timeout' expects integer"],
    ['unsupported device', ['-drive', `if=none,id=d0,file=${image},format=raw,iohang-timeout=5`, '-device', 'ide-cd,drive=d0'], 'this device does not support I/O hang'],
  ])('%s is refused', async (name, args, message) => {
    const r = await start(args);
    refused.push([name, r.stderr.split('\n').at(-1)!]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message);
  });

  const both = (timeout: number, interval: number) => ({ timeout, 'retry-interval': interval, 'timed-out': false });
  it.each([
    ['the seed shorthand', drive('iohang-timeout=60'), { read: both(60, 1000), write: both(60, 1000), errors: ['eio'] }],
    ['hang without timeout', drive('iohang=on'), { read: both(0, 1000), write: both(0, 1000), errors: ['eio'] }],
    ['device properties', device('iohang=on,iohang-timeout=30,iohang-retry-interval=250'), { read: both(30, 250), write: both(30, 250) }],
    ['timeout 0 means off', drive('iohang-timeout=0'), undefined],
    ['a read timeout alone turns it on', drive('iohang-read-timeout=5'), { read: both(5, 1000), write: both(0, 1000) }],
    [
      'one direction over the shorthand, and chosen errors',
      drive('iohang-timeout=60,iohang-retry-interval=500,iohang-read-timeout=10,iohang-write-retry-interval=2000,iohang-errors=etimedout:eio'),
      { read: both(10, 500), write: both(60, 2000), errors: ['eio', 'etimedout'] },
    ],
    ['the seed shorthand through the host page cache, with a warning', drive('iohang-timeout=60', 'writeback'), { read: both(60, 1000), write: both(60, 1000) }, pageCacheWarning('')],
    ['device properties through the host page cache, with a warning', device('iohang=on', false), { read: both(0, 1000), write: both(0, 1000) }, pageCacheWarning(" on 'd0'")],
  ])('%s is accepted and in effect', async (_name, args, ioHang, warning?: string) => {
    const r = await start(args);
    // The warning follows the option it is about ("qemu-system-x86_64: -drive ...: warning: ...").
    if (warning) expect(r.stderr).toMatch(new RegExp(`^qemu-system-x86_64: -(drive|device) [^\\n]*: ${warning.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    else expect(r.stderr).toBe('');
    expect([r.code, r.signal]).toEqual([0, null]);
    // query-block answered and listed the disk: an absent io-hang member means off, not unread.
    expect(r.d0, 'query-block did not list d0').toBeDefined();
    if (ioHang) expect(r.ioHang).toMatchObject(ioHang);
    else expect(r.ioHang).toBeUndefined();
  });
});
