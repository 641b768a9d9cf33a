/**
 * The AnchorSubmitter port: puts one checkpoint `{root, treeSize}` on the DAAL contract
 * through whichever wallet path is configured (a local key, thirdweb Engine, a CDP
 * server wallet) and reports on what it sent. Only the root and the tree size ever
 * leave the control plane (contract section 5). Adapters live in `direct/`,
 * `thirdweb-engine/` and `cdp/`; they alone hold keys and tokens, and their errors
 * never carry them (nor an RPC URL, which often embeds an API key).
 */
import { Context, Data, type Effect } from "effect";

export type Hex = `0x${string}`;
/** 32 bytes as 0x-prefixed lowercase hex: a checkpoint root or a transaction hash. */
export type Hex32 = `0x${string}`;
/** A 20-byte account or contract address, 0x-prefixed. */
export type Address = `0x${string}`;

const HEX32 = /^0x[0-9a-f]{64}$/;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;

export function isHex32(text: unknown): text is Hex32 {
  return typeof text === "string" && HEX32.test(text);
}

export function isAddress(text: unknown): text is Address {
  return typeof text === "string" && ADDRESS.test(text);
}

/** The on-chain form of a checkpoint root (`CheckpointSealed.root` is 64 lowercase hex without 0x). */
export function rootToHex32(rootHex: string): Hex32 | undefined {
  const candidate = `0x${rootHex.toLowerCase()}`;
  return isHex32(candidate) ? candidate : undefined;
}

export type SubmitterKind = "direct" | "thirdweb-engine" | "cdp";

export interface AnchorRequest {
  readonly root: Hex32;
  readonly treeSize: number;
  /**
   * Same key for the same request (see anchorIdempotencyKey; the sidecar repeats it while
   * a request's outcome is unknown): providers that support idempotency (Engine, CDP)
   * then answer a repeated request with the original transaction instead of sending a
   * second one.
   */
  readonly idempotencyKey?: string;
}

export interface Submission {
  /** The transaction that carries `anchorCheckpoint(root, treeSize)`. */
  readonly txHash: Hex32;
  /** The provider's own reference (the Engine job id), when there is one. */
  readonly providerId?: string;
}

/** What the submitter knows of a transaction it sent, by tx hash or provider id. */
export type TransactionStatus =
  /** Held by the provider, not broadcast yet (Engine `QUEUED`). */
  | { readonly state: "queued" }
  /** Broadcast, not mined yet; a provider that re-sends a stuck transaction reports its newest hash. */
  | { readonly state: "pending"; readonly txHash: Hex32 }
  | { readonly state: "mined"; readonly txHash: Hex32; readonly blockNumber: number; readonly success: boolean }
  /** The provider gave up on it (Engine `FAILED`); it will not be mined. */
  | { readonly state: "errored"; readonly message: string }
  /** Neither the provider nor the chain knows it (pruned by the provider, dropped, never sent): a new request is needed. */
  | { readonly state: "unknown" };

export type AnchorErrorReason =
  /** The provider or RPC cannot be reached, or answered 5xx/429; nothing is known to be sent. */
  | "unavailable"
  /** The provider refused the request (bad request, insufficient funds, nonce, policy). */
  | "rejected"
  /** The call reverts on the DAAL (e.g. NotSubmitter, TreeSizeNotGrowing). */
  | "reverted"
  /** No answer in time; the transaction may still be sent or mined. */
  | "timeout"
  /** Credentials, addresses, accounts or networks are wrong (401/403, a malformed key, a sender that is not an EOA, billing): fixed by the operator. */
  | "misconfigured";

export class AnchorError extends Data.TaggedError("AnchorError")<{
  readonly reason: AnchorErrorReason;
  /** Names what failed; never a key, token, secret or RPC URL. */
  readonly message: string;
  /** The custom error the DAAL reverted with, e.g. `RootAlreadyAnchored`. */
  readonly revert?: string;
  /** The provider's reference of a request that may still complete (Engine job id). */
  readonly providerId?: string;
}> {
  get isRetryable(): boolean {
    return this.reason === "unavailable" || this.reason === "timeout";
  }
}

export interface AnchorSubmitterShape {
  readonly kind: SubmitterKind;
  /**
   * Sends `anchorCheckpoint(root, treeSize)` to the DAAL and resolves once a transaction
   * hash exists (Engine: once it has sent the job). Fails with AnchorError; on `timeout`
   * the transaction may still land: a repeat with the same idempotency key then finds
   * it, and the DAAL's duplicate-root check makes any second one harmless.
   */
  readonly submit: (request: AnchorRequest) => Effect.Effect<Submission, AnchorError>;
  /** The state of a transaction this submitter sent, by provider id or tx hash. */
  readonly transactionStatus: (ref: string) => Effect.Effect<TransactionStatus, AnchorError>;
}

export class AnchorSubmitter extends Context.Tag("zt/AnchorSubmitter")<AnchorSubmitter, AnchorSubmitterShape>() {}
