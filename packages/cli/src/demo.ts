import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { $ } from 'zx';
import { build, type Manifest } from '@iohang/builder';

/**
 * The README's main job. Today: build the patched QEMU (cached) and show what was built.
 * The hang-and-recover demo grows here once the VM harness lands.
 */
export function demoCommand(): Command {
  return new Command('demo')
    .description('build the patched QEMU (cached) and show the binaries it produced')
    .action(async () => {
      const { out } = await build();
      const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as Manifest;
      console.log(`base: ${manifest.base.package} ${manifest.base.version}; ${manifest.patches.length} patches`);
      for (const p of manifest.patches) console.log(`  ${p.subject}`);
      for (const b of manifest.binaries) {
        const v = await $({ quiet: true })`${join(out, 'bin', b)} --version`;
        console.log(`${b.padEnd(20)} ${v.stdout.split('\n')[0]}`);
      }
      console.log(`firmware: ${join(out, 'firmware')} (${manifest.firmware.length} files; pass it with -L)`);
    });
}
