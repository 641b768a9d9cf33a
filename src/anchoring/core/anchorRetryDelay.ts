/**
 * How long the anchoring sidecar waits before attempt `n + 1` after `n` failed attempts:
 * exponential from `baseMs`, capped at `maxMs`. Every failure is retried (a fixed
 * configuration or a funded wallet makes a "non-retryable" one succeed later); failures
 * that are not retryable by nature wait the cap at once rather than hammering.
 */
export interface RetryPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export function anchorRetryDelayMs(failures: number, retryable: boolean, policy: RetryPolicy): number {
  if (!retryable) return policy.maxMs;
  const exponent = Math.max(0, Math.min(failures - 1, 30));
  return Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
}
