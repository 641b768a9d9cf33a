/**
 * Load at a fixed rate, open loop, shared by the benchmark sections that need one
 * (bench/http.ts for latency at 1,000 requests/s, bench/console.ts for the console under a
 * stream of 1,000 decisions/s).
 */
import { Agent, request as httpRequest } from "node:http";

export interface Load {
  readonly rps: number;
  readonly p50: number;
  readonly p99: number;
  readonly p99_9: number;
  readonly non2xx: number;
  readonly errors: number;
}

/** The p-th percentile (0-100) of sorted values, nearest rank. */
export function percentile(sorted: ReadonlyArray<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/**
 * A fixed rate, open loop: request i is due at start + i/rate and sent then on a
 * keep-alive pool whatever the earlier ones are doing (nothing waits for a response, so
 * a slow server is not hidden by sending less); its latency runs from when it was sent to
 * its response's end. A timer late by a millisecond sends the due requests at once.
 * autocannon's own rate is a per-second budget each connection spends at once, which
 * makes bursts, hence this client for the fixed rate.
 */
export async function paced(url: string, headers: Record<string, string>, nextBody: () => string, rate: number, seconds: number): Promise<Load> {
  const { hostname, port } = new URL(url);
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const total = rate * seconds;
  const interval = 1000 / rate;
  const latencies = new Float64Array(total);
  let sent = 0;
  let done = 0;
  let non2xx = 0;
  let errors = 0;
  let lastAt = 0;
  const start = performance.now() + 20;
  await new Promise<void>((resolve) => {
    const finish = (index: number, sentAt: number, failed: boolean) => {
      lastAt = performance.now();
      latencies[index] = lastAt - sentAt;
      if (failed) errors += 1;
      if (++done === total) resolve();
    };
    const send = (index: number) => {
      const body = nextBody();
      const sentAt = performance.now();
      const request = httpRequest(
        { hostname, port, path: "/actions", method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } },
        (response) => {
          if ((response.statusCode ?? 500) >= 300) non2xx += 1;
          response.resume();
          response.once("end", () => finish(index, sentAt, false));
        },
      );
      request.once("error", () => finish(index, sentAt, true));
      request.end(body);
    };
    const tick = () => {
      while (sent < total && start + sent * interval <= performance.now()) send(sent++);
      if (sent < total) setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    setTimeout(tick, Math.max(0, start - performance.now()));
  });
  agent.destroy();
  const sorted = [...latencies].sort((a, b) => a - b);
  return { rps: total / ((lastAt - start) / 1000), p50: percentile(sorted, 50), p99: percentile(sorted, 99), p99_9: percentile(sorted, 99.9), non2xx, errors };
}
