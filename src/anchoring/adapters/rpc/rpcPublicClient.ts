/**
 * viem clients over any JSON-RPC URL (anvil, Alchemy, another provider). viem's own
 * retries are off (`retryCount: 0`): the anchoring sidecar retries whole attempts with
 * its own backoff and records each failure, and a hung RPC (a stopped node accepts the
 * connection and never answers) must fail within `timeoutMs` rather than three times that.
 */
import { createPublicClient, defineChain, http, type Chain, type PublicClient, type Transport } from "viem";

export const DEFAULT_RPC_TIMEOUT_MS = 10_000;

/**
 * A chain known only by its id. The RPC URL is deliberately not in `rpcUrls` (viem puts a
 * chain's URLs in some messages); the transport carries it.
 */
export function rpcChain(chainId: number): Chain {
  return defineChain({
    id: chainId,
    name: `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [] } },
  });
}

export function rpcTransport(rpcUrl: string, timeoutMs = DEFAULT_RPC_TIMEOUT_MS): Transport {
  return http(rpcUrl, { timeout: timeoutMs, retryCount: 0 });
}

export function rpcPublicClient(options: { readonly rpcUrl: string; readonly chainId: number; readonly timeoutMs?: number }): PublicClient {
  return createPublicClient({ chain: rpcChain(options.chainId), transport: rpcTransport(options.rpcUrl, options.timeoutMs) }) as PublicClient;
}
