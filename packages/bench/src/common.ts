/** What the benchmarks share: the unpatched QEMU, query-block per disk, clocks, CPU time, QEMU's identity. */
import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { IohangError, qemuPaths, sleep, type QemuVariant } from '@iohang/core';
import type { BlockIOHangInfo } from '@iohang/qmp';
import type { Vm } from '@iohang/vm';

export type Log = (line: string) => void;

/** The unpatched build of the same base, or an error that says how to make it. */
export function baseQemu(): ReturnType<typeof qemuPaths> {
  try {
    return qemuPaths('base');
  } catch (e) {
    const where = e instanceof IohangError ? e.message : String(e);
    throw new IohangError(
      `P1 compares against an unpatched QEMU of the same base, and there is none (${where})`,
      'Build it with: npx iohang qemu build --base   (or leave P1 out: --only P2,P3,P4)',
    );
  }
}

/** query-block's io-hang member per device id (qdev path ends in the id). */
export async function ioHangInfo(vm: Vm): Promise<Map<string, BlockIOHangInfo | undefined>> {
  const blocks = await vm.qmp.execute('query-block');
  const out = new Map<string, BlockIOHangInfo | undefined>();
  for (const b of blocks) {
    const id = /\/peripheral\/([^/]+)\//.exec(b.qdev ?? '')?.[1] ?? b.qdev;
    if (id) out.set(id, b['io-hang']);
  }
  return out;
}

/** The device an event is about: its qom-path (-blockdev disks have an empty `device`). */
export function eventDevice(e: { data: Record<string, unknown> }): string {
  return String(e.data['qom-path'] ?? e.data.device ?? '');
}

export interface ClockSample {
  /** guest wall clock minus host wall clock, ms */
  offsetMs: number;
  /** round trip of the agent command that measured it, ms: the offset's uncertainty is half of it */
  rttMs: number;
}

/** One reading of the guest's wall clock against the host's (as the demo does). */
export async function clockSample(vm: Vm): Promise<ClockSample> {
  const sent = Date.now();
  const guest = JSON.parse(await vm.run('iotool now')) as { unix_ms: number };
  const back = Date.now();
  return { offsetMs: guest.unix_ms - (sent + back) / 2, rttMs: back - sent };
}

/** The best of several readings: the one with the shortest round trip. */
export function bestClock(samples: ClockSample[]): ClockSample {
  if (samples.length === 0) throw new Error('no clock samples');
  return samples.reduce((a, b) => (b.rttMs < a.rttMs ? b : a));
}

export async function clockSamples(vm: Vm, n: number): Promise<ClockSample[]> {
  const out: ClockSample[] = [];
  for (let i = 0; i < n; i++) out.push(await clockSample(vm));
  return out;
}

let clkTck: number | undefined;
function ticksPerSecond(): number {
  if (clkTck === undefined) {
    try {
      clkTck = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clkTck = 100;
    }
  }
  return clkTck;
}

/** A process's CPU time so far (utime + stime of all its threads, also those that ended), ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / ticksPerSecond();
}

/** "QEMU emulator version ... with N patches" for a build variant. */
export function qemuDescription(variant: QemuVariant = 'default'): string {
  const q = qemuPaths(variant);
  const version = execFileSync(q.system, ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  let patches = '';
  const manifest = join(q.out, 'manifest.json');
  if (existsSync(manifest)) {
    const m = JSON.parse(readFileSync(manifest, 'utf8')) as { patches?: unknown[] };
    patches = ` with ${m.patches?.length ?? 0} patches`;
  }
  return `${version}${patches}`;
}

/** The machine, for the report: name, CPU, cores and how busy it was when the run started. */
export function hostDescription(): string {
  const c = cpus();
  const model = (c[0]?.model ?? 'unknown CPU').replace(/\s+/g, ' ').trim();
  return `${hostname()} (${model}, ${c.length} cores, load average ${loadavg()[0]!.toFixed(1)} at start; guests under TCG)`;
}

/** What QEMU wrote to its log (stderr) from byte `from` on. */
function logSince(path: string, from: number): string {
  const size = statSync(path).size;
  if (size <= from) return '';
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(size - from);
    readSync(fd, buf, 0, buf.length, from);
    return buf.toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/**
 * Count the write requests QEMU sends down the block graph for `ms`: QEMU's trace event
 * bdrv_co_pwritev_part (log backend, so each becomes a line on QEMU's stderr, which Vm keeps
 * in qemu.log) is switched on over QMP and off again. A request passes every node on its way
 * down (raw, then blkdebug), so the count per node is the count of requests. While a disk
 * hangs, each is a retry. Tracing costs CPU itself: never count in a window that measures CPU.
 */
export async function countWrites(vm: Vm, ms: number): Promise<{ perSecond: number; requests: number; windowMs: number }> {
  const log = join(vm.logDir, 'qemu.log');
  await sleep(200);
  const from = statSync(log).size;
  const t0 = performance.now();
  await vm.qmp.execute('trace-event-set-state', { name: 'bdrv_co_pwritev_part', enable: true });
  await sleep(ms);
  await vm.qmp.execute('trace-event-set-state', { name: 'bdrv_co_pwritev_part', enable: false });
  const windowMs = performance.now() - t0;
  await sleep(500); // let Vm's log stream catch up
  const perNode = new Map<string, number>();
  for (const m of logSince(log, from).matchAll(/bdrv_co_pwritev_part bs (0x[0-9a-f]+) /g)) perNode.set(m[1]!, (perNode.get(m[1]!) ?? 0) + 1);
  const requests = Math.max(0, ...perNode.values());
  return { perSecond: (requests * 1000) / windowMs, requests, windowMs };
}
