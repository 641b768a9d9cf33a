/** Bounded polling for tests that wait on another process, a projection or an engine. */

/** Polls `probe` until it answers something other than undefined; throws after `timeoutMs`. */
export async function waitFor<A>(what: string, probe: () => A | undefined | Promise<A | undefined>, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<A> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(options.intervalMs ?? 25);
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
