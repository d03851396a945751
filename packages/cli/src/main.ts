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

/**
 * The errors behind one thrown value: `await using` reports a failure of the body and one
 * of the disposal (a VM whose QEMU did not end well) together, as a SuppressedError.
 */
function errorsOf(e: unknown): unknown[] {
  if (e instanceof Error && e.name === 'SuppressedError') {
    const { error, suppressed } = e as Error & { error: unknown; suppressed: unknown };
    return [...errorsOf(suppressed), ...errorsOf(error)];
  }
  return [e];
}

try {
  await program.parseAsync(process.argv);
} catch (e) {
  const errors = errorsOf(e);
  for (const x of errors) {
    if (!(x instanceof IohangError)) continue;
    console.error(`iohang: ${x.message}`);
    if (x.fix) console.error(`fix: ${x.fix}`);
  }
  const other = errors.find((x) => !(x instanceof IohangError));
  if (other) throw other;
  process.exit(1);
}
