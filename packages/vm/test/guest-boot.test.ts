/**
 * The real thing: the test guest built from Debian packages, booted by our QEMU under TCG
 * in a Vm; its agent, its disks and iotool as every scenario uses them.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { qemuPaths } from '@iohang/core';
import { buildGuest, createDisk, type Guest } from '@iohang/guest';
import { Vm } from '../src/index.ts';

let guest: Guest;
let dir: string;

beforeAll(async () => {
  const started = Date.now();
  guest = await buildGuest({ log: (line) => console.log(`[guest] ${line}`) });
  console.log(`guest ${guest.hash} (${guest.kernel.release}) in ${Date.now() - started} ms`);
  dir = mkdtempSync(join(tmpdir(), 'guest-boot-test-'));
}, 600_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Boot, run `fn`, always close the VM, whose QEMU must end well; on failure print the console tail. */
async function withVm(extraArgs: string[], fn: (vm: Vm) => Promise<void>): Promise<void> {
  const vm = await Vm.start({ guest, extraArgs });
  console.log(`boot: QEMU start -> agent ready in ${(vm.bootMs / 1000).toFixed(1)} s (${/IOHANG-GUEST-READY uptime=\S+/.exec(vm.console())?.[0]})`);
  try {
    await fn(vm);
  } catch (e) {
    console.error(`--- guest console (tail) ---\n${vm.consoleTail(40)}\n--- logs in ${vm.logDir} ---`);
    throw e;
  } finally {
    await vm.close();
  }
  expect(vm.endProblems(), 'QEMU did not end well').toEqual([]);
}

/** Run iotool in the guest and parse the JSON it printed. */
async function iotool(vm: Vm, args: string): Promise<{ exitCode: number; json: Record<string, any> }> {
  const r = await vm.exec(`iotool ${args}`);
  const line = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).at(-1);
  if (!line) throw new Error(`iotool ${args} printed no JSON (exit ${r.exitCode}):\n${r.stdout}`);
  return { exitCode: r.exitCode, json: JSON.parse(line) as Record<string, any> };
}

/** The first `bytes` of `seq from 99999`. */
function seq(from: number, bytes: number): string {
  let text = '';
  for (let n = from; text.length < bytes; n++) text += `${n}\n`;
  return text.slice(0, bytes);
}

describe('the guest in a Vm', () => {
  it('boots; the agent answers and runs commands concurrently', async () => {
    await withVm([], async (vm) => {
      expect((await vm.run('uname -r')).trim()).toBe(guest.kernel.release);

      const loaded = (await vm.run('cut -d" " -f1 /proc/modules')).split('\n');
      expect(loaded.sort()).toEqual(expect.arrayContaining(guest.modules));
      expect(vm.console()).not.toMatch(/insmod .* failed/);

      const arrived: string[] = [];
      const slow = vm.run('sleep 5; echo slept').then((out) => arrived.push(out.trim()));
      const fast = vm.run('echo hi').then((out) => arrived.push(out.trim()));
      await Promise.all([slow, fast]);
      expect(arrived).toEqual(['hi', 'slept']);

      // Results of commands that finish together arrive whole, never interleaved.
      const many = await Promise.all(Array.from({ length: 10 }, (_, i) => vm.run(`seq ${i} 99999 | head -c 20000`)));
      many.forEach((out, i) => expect(out).toBe(seq(i, 20000)));

      expect(await vm.exec('echo oops >&2; exit 3')).toMatchObject({ exitCode: 3, stdout: 'oops\n' });
      expect(await vm.exec("printf '\\000\\001\\377'")).toMatchObject({ exitCode: 0, bytes: Buffer.from([0, 1, 255]) });
    });
  });

  it('runs iotool on ext4 over virtio-blk and on the raw device', async () => {
    const disk = await createDisk({ path: join(dir, 'disk.img'), sizeMiB: 64, format: 'raw', ext4: { files: { 'hello.txt': 'hello\n' } } }, qemuPaths().img);
    await withVm(['-drive', `file=${disk},format=raw,if=none,id=d0,cache=none,aio=native`, '-device', 'virtio-blk-pci,drive=d0'], async (vm) => {
      expect(await vm.exec('mount -t ext4 /dev/vda /mnt && cat /mnt/hello.txt')).toMatchObject({ exitCode: 0, stdout: 'hello\n' });

      const file = '/mnt/f --bs 4096 --count 256';
      const write = await iotool(vm, `write ${file} --gen 7 --direct --fsync-every 16`);
      expect(write.exitCode).toBe(0);
      expect(write.json).toMatchObject({ op: 'write', done: 256, ok: true, errors: [] });
      const timeline = write.json.timeline as { op: string; lat_us: number }[];
      expect(timeline.filter((e) => e.op === 'write')).toHaveLength(256);
      expect(timeline.filter((e) => e.op === 'fsync')).toHaveLength(16);
      console.log(`guest iotool write: 256 x 4 KiB O_DIRECT + 16 fsync in ${write.json.elapsed_ms} ms`);

      // Its wall clock (from the RTC QEMU sets to the host's time) lines up guest timelines with host events.
      const before = Date.now();
      const now = JSON.parse(await vm.run('iotool now')) as { unix_ms: number };
      expect(Math.abs(now.unix_ms - before)).toBeLessThan(3000);
      expect(write.json.start_unix_ms).toBeGreaterThan(before - 120_000);

      expect((await iotool(vm, `verify ${file} --gen 7 --direct`)).json).toMatchObject({ ok: true, blocks_ok: 256 });
      const wrong = await iotool(vm, `verify ${file} --gen 8 --direct`);
      expect(wrong.exitCode).toBe(1);
      expect(wrong.json).toMatchObject({ ok: false, blocks_ok: 0, wrong_gen: 256, bad_checksum: 0, bad_block: 0, bad_magic: 0, read_errors: 0 });

      // Punching a hole leaves zeros: those blocks lose their header, the rest stay intact.
      expect((await iotool(vm, 'discard /mnt/f --offset 0 --length 65536')).json).toMatchObject({ ok: true, method: 'punch_hole' });
      expect((await iotool(vm, `verify ${file} --gen 7`)).json).toMatchObject({ blocks_ok: 240, bad_magic: 16 });

      expect((await vm.exec('umount /mnt')).exitCode).toBe(0);
      const device = '/dev/vda --bs 4096 --count 256 --offset 1048576';
      expect((await iotool(vm, `write ${device} --gen 3 --direct --fsync-every 1`)).json).toMatchObject({ done: 256, ok: true });
      expect((await iotool(vm, `verify ${device} --gen 3 --direct`)).json).toMatchObject({ ok: true, blocks_ok: 256 });
    });
  });

  it('disposes what it owns after QEMU has gone, the last first, and reports what failed there', async () => {
    const order: string[] = [];
    let vm: Vm | undefined;
    const resource = (name: string, fails = false): AsyncDisposable => ({
      [Symbol.asyncDispose]: async () => {
        order.push(`${name}${vm?.running ? ' (QEMU still running)' : ''}`);
        if (fails) throw new Error(`${name} had died before the test stopped it (code 1)`);
      },
    });
    vm = await Vm.start({ guest, owns: [resource('storage'), resource('daemon', true)] });
    await vm.run('true');
    await expect(vm[Symbol.asyncDispose]()).rejects.toThrow('QEMU did not end well:\ndaemon had died before the test stopped it (code 1)');
    expect(order).toEqual(['daemon', 'storage']);
    expect(vm.end).toEqual({ code: 0, signal: null });
    await vm.close();
    expect(order).toHaveLength(2);
  });
});
