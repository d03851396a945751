import { writeFileSync } from 'node:fs';
import { Command, InvalidArgumentError } from 'commander';
import { build } from '@iohang/builder';
import { formatSoak, runSoak, soakPassed } from '@iohang/soak';

function whole(min: number, max: number) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new InvalidArgumentError(`need a whole number from ${min} to ${max}`);
    return n;
  };
}

/** Many hang/recover cycles under continuous verified guest I/O. */
export function soakCommand(): Command {
  return new Command('soak')
    .description('hang and recover a disk many times while the guest writes and verifies without pause; report lost blocks, events and QEMU RSS')
    .option('--cycles <n>', 'hang/recover cycles', whole(1, 1_000_000), 1000)
    .option('--outage-ms <ms>', 'length of each outage', whole(1, 600_000), 400)
    .option('--gap-ms <ms>', 'healthy time between outages', whole(0, 600_000), 200)
    .option('--retry-interval-ms <ms>', 'the disk\'s iohang-retry-interval', whole(1, 60_000), 100)
    .option('--main-loop', 'run the disk in the main loop instead of an iothread')
    .option('--asan', 'on the AddressSanitizer + UBSan build (built first if needed)')
    .option('--json <file>', 'also write the result as JSON')
    .action(async (opts: { cycles: number; outageMs: number; gapMs: number; retryIntervalMs: number; mainLoop?: boolean; asan?: boolean; json?: string }) => {
      const variant = opts.asan ? 'asan' : 'default';
      await build({ variant });
      const { asan: _, mainLoop, ...rest } = opts;
      const r = await runSoak({ ...rest, iothread: !mainLoop, variant, log: console.log });
      console.log(`\n${formatSoak(r)}\n`);
      if (opts.json) writeFileSync(opts.json, `${JSON.stringify(r, null, 1)}\n`);
      for (const b of r.badRounds) console.log(`bad round ${b.gen}: write rc ${b.write}, verify rc ${b.verify}\n${b.detail}`);
      for (const p of r.eventProblems.slice(0, 20)) console.log(p);
      const ok = soakPassed(r);
      console.log(ok ? 'soak: passed' : 'soak: FAILED');
      if (!ok) process.exitCode = 1;
    });
}
