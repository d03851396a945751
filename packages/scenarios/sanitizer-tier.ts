/**
 * The sanitizer tier: the guest scenarios that also run on the ASan/UBSan build (nx target
 * test-asan, scripts/test-asan.ts). An entry is a test's full name as vitest lists it
 * ("describe > test"), or a describe block for all its tests; an entry that names no test
 * fails the tier, so a renamed test cannot silently drop out of it.
 *
 * It holds every path where a parked request ends other than by succeeding -- cancel, abort
 * and reset on each device model, a reset beside a hung disk, stop/cont, quit, migration
 * with and without a timeout, hot-unplug -- and the parking, retry and timeout paths; one
 * variant of each where two run the same code (the whole suite on ASan would take an hour).
 */
export const SANITIZER_TIER: string[] = [
  // park, retry, recover; the main loop and an iothread
  'I/O hang on virtio-blk (main loop) > write: EIO for ~5 s stalls the guest instead of failing it, then everything completes',
  'I/O hang on virtio-blk (iothread) > write: EIO for ~5 s stalls the guest instead of failing it, then everything completes',
  'I/O hang limits and neighbours > timeout 3 s with a 10 s outage: the guest gets EIO after ~3 s, then the disk works again',
  // stop/cont hands parked requests over, quit does too
  'stop, cont and quit during a hang (iothread) > stop and cont return at once; after cont the requests complete once the fault ends, with no guest error',
  'stop, cont and quit during a hang (main loop) > quit returns at once and QEMU exits',
  'stop, cont and quit during a hang (iothread) > quit returns at once and QEMU exits',
  // resets and device models
  "the original interface and device resets > the 2020 proposal's command line (-drive ...,iohang-timeout=60 on pc: IDE) hangs and recovers",
  'the original interface and device resets > a guest-triggered reset while requests are parked: no crash, nothing left parked, the disk works after reboot',
  'hostile guest',
  "I/O hang on 'scsi-hd on virtio-scsi' > aborts and resets from the guest while writes are parked: QEMU is fine, and the disk works once the storage is back",
  "I/O hang on 'ide-hd on AHCI' > aborts and resets from the guest while writes are parked: QEMU is fine, and the disk works once the storage is back",
  "I/O hang on 'nvme-ns on nvme' > EIO for ~5 s stalls the guest instead of failing it, then everything completes",
  "I/O hang on 'nvme-ns on nvme' > aborts and resets from the guest while writes are parked: QEMU is fine, and the disk works once the storage is back",
  // the seams
  'a sibling device reset (iothread)',
  'NVMe aborts of parked flushes',
  'flushes through the host page cache',
  // drained sections, AioContexts, unplug
  'drain on a hung disk does not wait for the storage > external snapshot: blockdev-snapshot answers at once; the parked writes land in the overlay',
  'drain on a hung disk does not wait for the storage > block job: blockdev-backup starts and is cancelled while the fault is on',
  'drain on a hung disk does not wait for the storage > iothread-vq-mapping: requests of two virtqueues in two iothreads park, a stop hands them back, all recover',
  'drain on a hung disk does not wait for the storage > hot-unplug: device_del of a hung disk waits for the guest, which waits for its I/O; it completes when the storage is back',
  // migration, without and with a timeout
  'live migration while hung, destination storage still failing',
  'live migration while hung, destination storage still failing, with a 10 s timeout > virtio-blk: the timeout counts from the start of the hang on the source, not from the migration',
  // run-time control, per-direction settings, bad input
  'I/O hang at run time',
  'I/O hang policy',
  'bad QMP input on a running VM',
];

/** A scenario as `vitest list --json` names it: "describe > test", and its file. */
export interface ListedTest {
  name: string;
  file: string;
}

/** The tests an entry names: the test itself, or every test of a describe block. */
export function matchEntry(entry: string, tests: ListedTest[]): ListedTest[] {
  return tests.filter((t) => t.name === entry || t.name.startsWith(`${entry} > `));
}

/** The entries that name no test: a renamed or removed scenario. */
export function missingEntries(entries: string[], tests: ListedTest[]): string[] {
  return entries.filter((e) => matchEntry(e, tests).length === 0);
}

/** Every test the entries name, once each. */
export function selectTests(entries: string[], tests: ListedTest[]): ListedTest[] {
  return [...new Map(entries.flatMap((e) => matchEntry(e, tests)).map((t) => [t.name, t])).values()];
}

/** The name vitest's -t pattern and its JSON report use: the parts joined by spaces. */
export const fullName = (t: ListedTest) => t.name.split(' > ').join(' ');

/** vitest's -t pattern for exactly these tests. */
export function namePattern(tests: ListedTest[]): string {
  const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return `^(?:${tests.map((t) => escape(fullName(t))).join('|')})$`;
}
