import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, InvalidArgumentError, Option } from 'commander';
import { workspaceRoot } from '@iohang/core';
import { build } from '@iohang/builder';
import { DEMO_BACKENDS, demoPassed, formatVerdict, renderTimelineHtml, renderTimelineSvg, runDemo, type DemoBackend } from '@iohang/demo';

function seconds(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`need a whole number of seconds from ${min} to ${max}`);
    return n;
  };
}

/** The README's main job: build what is missing, then show a guest riding out a storage outage. */
export function demoCommand(): Command {
  return new Command('demo')
    .description('build the patched QEMU (cached), boot a guest with two disks -- one with I/O hang, one without -- cut their storage, restore it, and print what the guest saw')
    .option('--outage <seconds>', 'how long the storage is out', seconds(1, 300), 10)
    .addOption(new Option('--backend <kind>', 'blkdebug: QEMU injects EIO on writes; nbd: NBD storage in another network namespace whose link goes down').choices(DEMO_BACKENDS).default('blkdebug'))
    .option('--timeout <seconds>', 'I/O hang timeout of the hang disk (0: none)', seconds(0, 3600), 0)
    .option('--dir <path>', 'where images, logs and the timeline (timeline.svg, .html, .json) go', join(workspaceRoot(), 'demo-out'))
    .action(async (opts: { outage: number; timeout: number; backend: DemoBackend; dir: string }) => {
      const variant = 'default';
      const { manifest } = await build({ variant });
      console.log(`${manifest.qemuVersion} with ${manifest.patches.length} patches (${manifest.base.version})`);
      const { verdicts, timeline } = await runDemo({ outageSeconds: opts.outage, timeoutSeconds: opts.timeout, backend: opts.backend, variant, dir: opts.dir, log: console.log });
      const table = formatVerdict(verdicts);
      console.log(`\n${table}\n`);
      writeFileSync(join(opts.dir, 'timeline.json'), `${JSON.stringify(timeline, null, 1)}\n`);
      writeFileSync(join(opts.dir, 'timeline.svg'), renderTimelineSvg(timeline));
      writeFileSync(join(opts.dir, 'timeline.html'), renderTimelineHtml(timeline, table));
      console.log(`timeline: ${join(opts.dir, 'timeline.svg')} (and timeline.html with this table)`);
      if (demoPassed(verdicts)) {
        console.log('verdict: the disk with I/O hang rode out the outage (no guest error, ext4 read-write, data verified); the plain disk did not');
      } else {
        console.log(`verdict: FAILED -- the disk with I/O hang did not ride out the outage; logs in ${join(opts.dir, 'vm')}`);
        process.exitCode = 1;
      }
    });
}
