import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline/promises';
import { Command } from 'commander';
import { IohangError } from '@iohang/core';
import { buildGuest } from '@iohang/guest';
import { Vm, type DiskSpec } from '@iohang/vm';

const HELP = `type shell commands; they run in the guest (busybox sh, one command per line).
  :qmp <command> [json-args]   run a QMP command, e.g. :qmp query-block
  :events                      QMP events so far
  :console                     the last lines of the guest console
  :quit (or Ctrl-D)            shut the VM down`;

/** "path[,format=qcow2][,drive-option=value...]" -> a DiskSpec using -drive. */
export function parseDiskOption(value: string, index: number): DiskSpec {
  const [path, ...opts] = value.split(',');
  if (!path || !existsSync(path)) throw new IohangError(`--disk ${value}: no image at "${path}"`, 'Give an existing image path, e.g. --disk disk.img or --disk disk.qcow2,format=qcow2');
  const drive: Record<string, string> = {};
  let format: 'raw' | 'qcow2' = path.endsWith('.qcow2') ? 'qcow2' : 'raw';
  for (const o of opts) {
    const [k, v] = o.split('=');
    if (!k || v === undefined) throw new IohangError(`--disk ${value}: "${o}" is not key=value`, 'Options look like cache=none or werror=stop');
    if (k === 'format') {
      if (v !== 'raw' && v !== 'qcow2') throw new IohangError(`--disk ${value}: format must be raw or qcow2`, 'Use format=raw or format=qcow2');
      format = v;
    } else drive[k] = v;
  }
  return { id: `d${index}`, backend: path, format, drive };
}

export function vmCommand(): Command {
  const vm = new Command('vm').description('run the test guest on our QEMU');
  vm.command('shell')
    .description('boot the guest and give you a shell in it (through the command agent); disks appear as /dev/vda, /dev/vdb, ...')
    .option('--disk <image[,options]>', 'attach an image on virtio-blk with -drive options, e.g. disk.img,cache=none,aio=native (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--mem <MiB>', 'guest memory', '512')
    .addHelpText('after', '\nExtra QEMU arguments go after --, e.g.: iohang vm shell --disk a.img -- -smp 2')
    .allowExcessArguments(true)
    .action(async (opts: { disk: string[]; mem: string }, cmd: Command) => {
      const mem = Number(opts.mem);
      if (!Number.isInteger(mem) || mem < 128) throw new IohangError(`--mem ${opts.mem}: need a whole number of MiB >= 128`, 'e.g. --mem 512');
      const disks = opts.disk.map(parseDiskOption);
      console.error('building/reusing the guest, booting (about 10 s under TCG)...');
      await using machine = await Vm.start({ guest: await buildGuest(), disks, memMiB: mem, extraArgs: cmd.args });
      console.error(`booted in ${(machine.bootMs / 1000).toFixed(1)} s; logs in ${machine.logDir}\n${HELP}`);
      const rl = createInterface({ input: process.stdin, output: process.stdout, prompt: 'guest# ' });
      rl.prompt();
      for await (const line of rl) {
        const text = line.trim();
        if (text === ':quit') break;
        try {
          if (text.startsWith(':qmp ')) {
            const [, name, ...rest] = text.split(/\s+/);
            const args = rest.length ? (JSON.parse(rest.join(' ')) as Record<string, unknown>) : undefined;
            console.log(JSON.stringify(await machine.qmp.execute(name!, args), null, 2));
          } else if (text === ':events') {
            for (const e of machine.qmp.events()) console.log(JSON.stringify(e));
          } else if (text === ':console') {
            console.log(machine.consoleTail(30));
          } else if (text) {
            const r = await machine.exec(text, { timeoutMs: 24 * 3600 * 1000 });
            process.stdout.write(r.stdout);
            if (r.exitCode !== 0) console.log(`[exit ${r.exitCode}]`);
          }
        } catch (e) {
          console.error(`error: ${(e as Error).message}`);
        }
        rl.prompt();
      }
      rl.close();
    });
  return vm;
}
