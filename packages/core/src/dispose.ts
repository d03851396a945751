/** Dispose of each, the last first, whatever the others do; the messages of those that failed. */
export async function disposeAll(resources: readonly AsyncDisposable[]): Promise<string[]> {
  const failed: string[] = [];
  for (const resource of [...resources].reverse()) {
    try {
      await resource[Symbol.asyncDispose]();
    } catch (e) {
      failed.push((e as Error).message);
    }
  }
  return failed;
}
