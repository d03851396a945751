/** The soak section of the benchmarks page, from docs/data/soak.json (`iohang soak --json`). */
import { existsSync, readFileSync } from 'node:fs';
import { figureSvg, fmt, stats } from './bench.ts';
import type { SoakResult } from '@iohang/soak';
import { GenerateError } from './patches.ts';

/** `iohang soak --json`; files written before soak measured QEMU's own memory and its end lack ownKiB and qemuEnd. */
export type SoakData = Omit<SoakResult, 'ownKiB' | 'qemuEnd'> & Partial<Pick<SoakResult, 'ownKiB' | 'qemuEnd'>>;

export function readSoak(path: string): SoakData | null {
  if (!existsSync(path)) return null;
  const data = JSON.parse(readFileSync(path, 'utf8')) as SoakData;
  for (const key of ['cycles', 'durationMs', 'rounds', 'blocksVerified'] as const) {
    if (typeof data[key] !== 'number') throw new GenerateError(`${path}: "${key}" must be a number`);
  }
  if (!Array.isArray(data.recoveryMs) || !Array.isArray(data.badRounds) || !data.events || !data.rssKiB) {
    throw new GenerateError(`${path}: not the JSON of \`iohang soak --json\` (recoveryMs, badRounds, events, rssKiB)`);
  }
  return data;
}

export function soakSection(soak: SoakData, source: string): string {
  const mib = (k: number) => `${(k / 1024).toFixed(1)} MiB`;
  const rec = stats(soak.recoveryMs);
  const rows: [string, string][] = [
    ['hang/recover cycles', `${soak.cycles} in ${(soak.durationMs / 60_000).toFixed(1)} min`],
    ['guest rounds (write 256 x 4 KiB, then verify)', String(soak.rounds)],
    ['blocks verified', String(soak.blocksVerified)],
    ['lost or corrupt blocks', soak.badRounds.length === 0 ? '0' : `${soak.badRounds.length} bad rounds`],
    ['BLOCK_IO_HANG set / cleared', `${soak.events.hangSet} / ${soak.events.hangCleared}; ${soak.eventProblems.length} cycles out of order`],
    ['BLOCK_IO_HANG_TIMEOUT, BLOCK_IO_ERROR', `${soak.events.timeouts}, ${soak.events.ioErrors}`],
    ['QEMU RSS after cycle 1 / at the end / at most', `${mib(soak.rssKiB.first)} / ${mib(soak.rssKiB.last)} / ${mib(soak.rssKiB.max)}`],
    ...(soak.ownKiB ? [['QEMU own memory after cycle 1 / at the end', `${mib(soak.ownKiB.first)} / ${mib(soak.ownKiB.last)}`] as [string, string]] : []),
    ['recovery after an outage: p10 / median / p90', `${fmt(rec.p10)} / ${fmt(rec.median)} / ${fmt(rec.p90)} ms`],
  ];
  const figure = {
    id: 'soak',
    title: 'recovery after each outage',
    description: '',
    unit: 'ms',
    series: [{ label: 'restore -> BLOCK_IO_HANG(false)', values: soak.recoveryMs }],
    summary: '',
  };
  return [
    '## Soak {#soak}',
    '',
    `From \`${source}\`, written by \`npx iohang soak --json ${source}\` (defaults: 400 ms outages 200 ms apart, retry interval 100 ms, the disk in an iothread; outages alternate between failing writes and failing reads while the guest writes and verifies without pause).`,
    '',
    '| | |',
    '| --- | --: |',
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    '',
    `<figure class="bench-figure">${figureSvg(figure)}</figure>`,
    '',
  ].join('\n');
}
