import { Command } from 'commander';
import { buildGuest } from '@iohang/guest';

export function guestCommand(): Command {
  const guest = new Command('guest').description('the test guest: Debian kernel + busybox initramfs with the command agent and iotool');
  guest
    .command('build')
    .description('build (or reuse, by input hash) the guest kernel and initramfs; prints their paths')
    .action(async () => {
      const g = await buildGuest();
      console.log(`kernel ${g.kernel.release} (${g.kernel.pkg} ${g.kernel.version})\n  ${g.kernel.vmlinuz}\ninitrd ${g.initrd}\n  modules: ${g.modules.join(' ')}`);
    });
  return guest;
}
