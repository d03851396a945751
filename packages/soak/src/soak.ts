import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlkdebugFault, type IoOp } from '@iohang/faults';
import { buildGuest, createDisk, parseIotoolResult } from '@iohang/guest';
import { qemuPaths, sleep, type QemuVariant } from '@iohang/core';
import { blkdebugTarget, imageDisk, qemuMemoryKiB, Vm } from '@iohang/vm';

export interface SoakOptions {
  cycles: number;
  /** How long each outage lasts. */
  outageMs: number;
  /** Healthy time between two outages. */
  gapMs: number;
  retryIntervalMs: number;
  /** Run the disk in an iothread (default) or in the main loop. */
  iothread: boolean;
  /** The QEMU build to boot: the one the command built. */
  variant: QemuVariant;
  /** Where the image and the VM's logs go (default: a new temporary directory). */
  dir?: string;
  log: (line: string) => void;
}

export interface SoakResult {
  cycles: number;
  durationMs: number;
  /** Guest rounds of "write the whole region with a new generation, then verify it". */
  rounds: number;
  blocksVerified: number;
  /** Rounds whose write or verify failed, with what iotool said. */
  badRounds: { gen: number; write: number; verify: number; detail: string }[];
  events: { hangSet: number; hangCleared: number; timeouts: number; ioErrors: number };
  /** Event sequence broken: a cycle without exactly one set and one clear, in order. */
  eventProblems: string[];
  /** QEMU's resident set, KiB: after the first cycle, at the end, the largest seen. */
  rssKiB: { first: number; last: number; max: number };
  /** The same for QEMU's own memory: without guest RAM and TCG's code buffer. */
  ownKiB: { first: number; last: number; max: number };
  /** From the end of an outage to BLOCK_IO_HANG(false), ms. */
  recoveryMs: number[];
  /** What was wrong with how QEMU ended (Vm.endProblems()): empty when it ended well. */
  qemuEnd: string[];
}

const BS = 4096;
const BLOCKS = 256;
const STOP_FILE = '/tmp/soak.stop';

/**
 * The guest's side: write the whole region with generation g, verify it, g + 1, until told
 * to stop. One line per round ("gen write-rc verify-rc"); a failed round keeps iotool's JSON.
 */
const GUEST_LOOP = [
  'g=0',
  `while [ ! -e ${STOP_FILE} ]; do`,
  '  g=$((g+1))',
  `  iotool write /dev/vda --bs ${BS} --count ${BLOCKS} --gen $g --direct --fsync-every 64 > /tmp/w.json; w=$?`,
  `  iotool verify /dev/vda --bs ${BS} --count ${BLOCKS} --gen $g --direct > /tmp/v.json; v=$?`,
  '  echo "round $g $w $v"',
  '  if [ $w != 0 ] || [ $v != 0 ]; then cp /tmp/w.json /tmp/w-$g.json; cp /tmp/v.json /tmp/v-$g.json; fi',
  'done',
].join('\n');

/**
 * Many hang/recover cycles on one virtio-blk disk with I/O hang while the guest writes and
 * verifies without pause. Outages alternate between failing writes and failing reads.
 */
export async function runSoak(opts: SoakOptions): Promise<SoakResult> {
  const { log } = opts;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'soak-'));
  const image = join(dir, 'soak.img');
  await createDisk({ path: image, sizeMiB: 16, format: 'raw' }, qemuPaths(opts.variant).img);
  const props = { iohang: true, 'iohang-retry-interval': opts.retryIntervalMs, ...(opts.iothread ? { iothread: 'io0' } : {}) };
  const vm = await Vm.start({
    variant: opts.variant,
    guest: await buildGuest({ log }),
    disks: [imageDisk('d0', image, props)],
    iothreads: opts.iothread ? ['io0'] : [],
    logDir: join(dir, 'vm'),
  });
  let result: Omit<SoakResult, 'qemuEnd'>;
  try {
    result = await soakOn(vm, opts);
  } finally {
    await vm.close();
  }
  // Also a result whose cycles all went well fails if QEMU did not end well (a sanitizer
  // report on the way out, under --asan).
  return { ...result, qemuEnd: vm.endProblems() };
}

async function soakOn(vm: Vm, opts: SoakOptions): Promise<Omit<SoakResult, 'qemuEnd'>> {
  const { log } = opts;
  const pid = vm.pid!;
  const started = Date.now();
  const since = vm.qmp.mark();
  const guestLoop = vm.exec(GUEST_LOOP, { timeoutMs: 24 * 3600_000 });
  const recoveryMs: number[] = [];
  const rss: number[] = [];
  const own: number[] = [];
  for (let i = 0; i < opts.cycles; i++) {
    const ops: IoOp[] = i % 2 ? ['read'] : ['write'];
    const mark = vm.qmp.mark();
    const f = await BlkdebugFault.start(vm.qmp, blkdebugTarget({ id: 'd0' }), { ops });
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: mark, predicate: (e) => e.data.set === true, timeoutMs: 60_000 });
    await sleep(opts.outageMs);
    await f.end();
    const ended = Date.now();
    await vm.qmp.waitEvent('BLOCK_IO_HANG', { since: mark, predicate: (e) => e.data.set === false, timeoutMs: 60_000 });
    recoveryMs.push(Date.now() - ended);
    const mem = qemuMemoryKiB(pid);
    rss.push(mem.rss);
    own.push(mem.own);
    if ((i + 1) % Math.max(1, Math.floor(opts.cycles / 20)) === 0 || i + 1 === opts.cycles) {
      log(`cycle ${i + 1}/${opts.cycles}: RSS ${(rss.at(-1)! / 1024).toFixed(1)} MiB, last recovery ${recoveryMs.at(-1)} ms`);
    }
    await sleep(opts.gapMs);
  }
  await vm.run(`touch ${STOP_FILE}`);
  const rounds = (await guestLoop).stdout
    .split('\n')
    .map((l) => /^round (\d+) (\d+) (\d+)$/.exec(l.trim()))
    .filter((m) => m !== null)
    .map((m) => ({ gen: Number(m[1]), write: Number(m[2]), verify: Number(m[3]) }));
  const badRounds: SoakResult['badRounds'] = [];
  for (const r of rounds.filter((r) => r.write !== 0 || r.verify !== 0)) {
    badRounds.push({ ...r, detail: (await vm.exec(`cat /tmp/w-${r.gen}.json /tmp/v-${r.gen}.json`)).stdout.slice(0, 4000) });
  }
  // The region as the guest left it: the last generation, every block intact.
  const last = rounds.at(-1)?.gen ?? 0;
  const final = parseIotoolResult((await vm.exec(`iotool verify /dev/vda --bs ${BS} --count ${BLOCKS} --gen ${last} --direct`)).stdout);
  if (!final.ok) badRounds.push({ gen: last, write: 0, verify: 1, detail: JSON.stringify(final).slice(0, 4000) });

  const events = vm.qmp.events().filter((e) => e.seq >= since);
  const hang = events.filter((e) => e.event === 'BLOCK_IO_HANG').map((e) => e.data.set === true);
  const eventProblems: string[] = [];
  for (let i = 0; i < Math.max(opts.cycles, Math.ceil(hang.length / 2)); i++) {
    if (hang[2 * i] !== true || hang[2 * i + 1] !== false) {
      eventProblems.push(`cycle ${i + 1}: BLOCK_IO_HANG set=${String(hang[2 * i])} then set=${String(hang[2 * i + 1])}`);
    }
  }
  return {
    cycles: opts.cycles,
    durationMs: Date.now() - started,
    rounds: rounds.length,
    blocksVerified: rounds.filter((r) => r.verify === 0).length * BLOCKS + (final.ok ? BLOCKS : 0),
    badRounds,
    events: {
      hangSet: hang.filter((s) => s).length,
      hangCleared: hang.filter((s) => !s).length,
      timeouts: events.filter((e) => e.event === 'BLOCK_IO_HANG_TIMEOUT').length,
      ioErrors: events.filter((e) => e.event === 'BLOCK_IO_ERROR').length,
    },
    eventProblems,
    rssKiB: { first: rss[0] ?? 0, last: rss.at(-1) ?? 0, max: Math.max(0, ...rss) },
    ownKiB: { first: own[0] ?? 0, last: own.at(-1) ?? 0, max: Math.max(0, ...own) },
    recoveryMs,
  };
}

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((xs.length * p) / 100))] ?? 0;

/** The figures a soak run is judged by, one per line. */
export function formatSoak(r: SoakResult): string {
  const mib = (k: number) => `${(k / 1024).toFixed(1)} MiB`;
  return [
    `cycles                 ${r.cycles} in ${(r.durationMs / 60_000).toFixed(1)} min`,
    `guest rounds           ${r.rounds} (write ${BLOCKS} blocks of ${BS / 1024} KiB, then verify)`,
    `blocks verified        ${r.blocksVerified}`,
    `lost or corrupt        ${r.badRounds.length === 0 ? 0 : `${r.badRounds.length} bad rounds: gens ${r.badRounds.map((b) => b.gen).join(', ')}`}`,
    `BLOCK_IO_HANG          ${r.events.hangSet} set, ${r.events.hangCleared} cleared; ${r.eventProblems.length} cycles out of order`,
    `other events           ${r.events.timeouts} BLOCK_IO_HANG_TIMEOUT, ${r.events.ioErrors} BLOCK_IO_ERROR`,
    `QEMU RSS               ${mib(r.rssKiB.first)} after cycle 1, ${mib(r.rssKiB.last)} at the end, ${mib(r.rssKiB.max)} at most`,
    `QEMU's own memory      ${mib(r.ownKiB.first)} after cycle 1, ${mib(r.ownKiB.last)} at the end (RSS without guest RAM and TCG's code buffer)`,
    `recovery after outage  median ${pct(r.recoveryMs, 50)} ms, p99 ${pct(r.recoveryMs, 99)} ms, max ${Math.max(0, ...r.recoveryMs)} ms`,
    `QEMU's end             ${r.qemuEnd.length === 0 ? 'exit 0, nothing reported' : r.qemuEnd.join('; ')}`,
  ].join('\n');
}

/** Whether the run shows no data problem, no event problem, flat memory and a QEMU that ended well. */
export function soakPassed(r: SoakResult, slackKiB = 8 * 1024): boolean {
  return (
    r.badRounds.length === 0 &&
    r.eventProblems.length === 0 &&
    r.qemuEnd.length === 0 &&
    r.events.timeouts === 0 &&
    r.events.ioErrors === 0 &&
    r.ownKiB.last - r.ownKiB.first <= slackKiB
  );
}
