import { Command } from 'commander';
import { IohangError } from '@iohang/core';
import { qemuCommand } from './qemu.ts';
import { setupCommand } from './setup.ts';
import { demoCommand } from './demo.ts';
import { guestCommand } from './guest.ts';
import { vmCommand } from './vm.ts';
import { soakCommand } from './soak.ts';
import { benchCommand } from './bench.ts';

// `iohang ... | head` closes stdout early: stop quietly, as other command-line tools do.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

const program = new Command('iohang')
  .description('I/O hang for QEMU: build the patched QEMU, boot guests, break their storage, show what the guest sees')
  .showHelpAfterError('(add --help for usage)')
  .addCommand(demoCommand())
  .addCommand(setupCommand())
  .addCommand(qemuCommand())
  .addCommand(guestCommand())
  .addCommand(vmCommand())
  .addCommand(soakCommand())
  .addCommand(benchCommand());

try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (e instanceof IohangError) {
    console.error(`iohang: ${e.message}`);
    if (e.fix) console.error(`fix: ${e.fix}`);
    process.exit(1);
  }
  throw e;
}
