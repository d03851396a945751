import { readFileSync } from 'node:fs';

/** Mappings at least this big are guest RAM or TCG's translation buffer, not QEMU's own. */
const BIG_MAPPING_KIB = 256 * 1024;

/**
 * A QEMU process's memory, KiB. `rss` is what top shows; `own` leaves out guest RAM and
 * TCG's translation buffer, which grow as the guest touches pages and runs new code (a
 * reboot does both), so a leak in QEMU itself shows in `own` and nowhere else as clearly.
 */
export function qemuMemoryKiB(pid: number): { rss: number; own: number } {
  let rss = 0;
  let own = 0;
  let size = 0;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^(Size|Rss):\s+(\d+) kB/.exec(line);
    if (!m) continue;
    const kib = Number(m[2]);
    if (m[1] === 'Size') {
      size = kib;
    } else {
      rss += kib;
      if (size < BIG_MAPPING_KIB) own += kib;
    }
  }
  return { rss, own };
}
