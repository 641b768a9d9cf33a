/**
 * Idempotency keys for anchor submissions: one per (chain, contract, root, attempt), so
 * that repeating the same attempt (a crash between the provider's answer and recording
 * AnchorSubmitted, then a restart) returns the original transaction instead of sending
 * another, while a new attempt after a recorded failure gets a new key.
 *
 * Shaped as a UUID v4 (RFC 9562 section 5.4) because the CDP API accepts nothing else
 * ("The X-Idempotency-Key header must be a valid UUID v4 string",
 * docs.cdp.coinbase.com/api-reference/v2/idempotency); thirdweb Engine takes any string
 * in `x-idempotency-key` (portal.thirdweb.com/engine/features/preventing-duplicate-transactions).
 * Deterministic: the 122 "random" bits are the first bytes of a SHA-256 of the inputs.
 */
import { sha256 } from "../../kernel/hashing.ts";
import { UUID_RANDOM_LENGTH, uuidV4 } from "../../kernel/ids.ts";

export function anchorIdempotencyKey(input: { readonly chainId: number; readonly contract: string; readonly root: string; readonly attempt: number }): string {
  const text = `zt-infra/anchor/v1\n${input.chainId}\n${input.contract.toLowerCase()}\n${input.root.toLowerCase()}\n${input.attempt}`;
  return uuidV4(sha256(new TextEncoder().encode(text)).slice(0, UUID_RANDOM_LENGTH));
}
