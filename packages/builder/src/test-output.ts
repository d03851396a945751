/** Reading what QEMU's test programs print: glib's TAP, `-l` listings, qemu-iotests' `check`. */

export type TestStatus = 'pass' | 'fail' | 'skip';
/** Test id -> status. Ids: "test-bdrv-drain /bdrv-drain/..." (unit), the qos path (qtest), "040" (iotests). */
export type TestResults = Record<string, TestStatus>;

/**
 * A TAP stream (glib's --tap): "ok 3 /path", "ok 4 /path # SKIP why", "not ok 5 /path".
 * A TODO counts as skipped; "Bail out!" as a failure of the pseudo test "(bail out)".
 */
export function parseTap(tap: string, prefix = ''): TestResults {
  const results: TestResults = {};
  for (const raw of tap.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (/^Bail out!/.test(line)) {
      results[`${prefix}(bail out)`] = 'fail';
      continue;
    }
    const m = /^(ok|not ok)\b(?:\s+\d+)?(?:\s+-)?\s*(.*?)\s*(?:#\s*(SKIP|TODO)\b.*)?$/i.exec(line);
    if (!m) continue;
    const name = m[2] || `#${Object.keys(results).length + 1}`;
    const status: TestStatus = m[3] ? 'skip' : m[1] === 'ok' ? 'pass' : 'fail';
    set(results, `${prefix}${name}`, status);
  }
  return results;
}

/**
 * The output of qemu-iotests' `check` (not -tap): one line per test, "040   pass   [hh:mm:ss]
 * [hh:mm:ss] 12.3s", status pass, fail or "not run"; the line announcing a test ends in \r.
 */
export function parseIotestsCheck(output: string): TestResults {
  const results: TestResults = {};
  for (const line of output.split(/\r\n|\r|\n/)) {
    const m = /^(\S+)\s+(pass|fail|not run)\s+\[\d\d:\d\d:\d\d\]/.exec(line);
    if (m) set(results, m[1]!, m[2] === 'pass' ? 'pass' : m[2] === 'fail' ? 'fail' : 'skip');
  }
  return results;
}

/** Whether `check` got to its summary ("Passed all N iotests", "Failed k of N iotests"). */
export function iotestsCheckFinished(output: string): boolean {
  return /^(Passed all \d+ iotests|Failed \d+ of \d+ iotests)$/m.test(output);
}

/** The worst status wins when a test is reported twice. */
function set(results: TestResults, id: string, status: TestStatus): void {
  const rank = { pass: 0, skip: 1, fail: 2 } as const;
  const old = results[id];
  if (!old || rank[status] > rank[old]) results[id] = status;
}

/**
 * ok/not ok lines of a TAP stream: a test binary passed if it ran tests, none failed or was
 * skipped, and, given the number of cases its `-l` lists, it reported every one of them.
 */
export function tapPassed(tap: string, listed?: number): boolean {
  const statuses = Object.values(parseTap(tap));
  return statuses.length > 0 && (listed === undefined || statuses.length === listed) && statuses.every((s) => s === 'pass');
}

/** The test paths glib's `-l` prints, one per line. */
export function listedCases(listing: string): number {
  return listing.split('\n').filter((l) => l.startsWith('/')).length;
}
