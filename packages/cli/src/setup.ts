import { Command } from 'commander';
import { checkSystem, describeProblems, setupSystem } from '@iohang/builder';

export function setupCommand(): Command {
  return new Command('setup')
    .description('add the apt sources iohang needs (deb-src trixie, bookworm-backports) and install the build and guest packages; idempotent, needs root')
    .option('--check', 'only report what is missing, change nothing')
    .action(async (opts: { check?: boolean }) => {
      if (opts.check) {
        const problems = describeProblems(await checkSystem());
        console.log(problems.length ? problems.join('\n') : 'system ready');
        process.exitCode = problems.length ? 1 : 0;
        return;
      }
      await setupSystem();
    });
}
