/**
 * The DaalLedger port: what the anchoring sidecar and the auditor read from the chain.
 * It asks the DAAL whether a root is already anchored (so a restart never resubmits), how
 * far anchoring has grown and with which root, which transaction anchored a root, whether
 * a transaction's receipt proves an anchor, and, for the auditor, every
 * `CheckpointAnchored` it ever emitted, block times, its owner and its deployment. Reads
 * fail with AnchorError (`unavailable`, `timeout`), never with an RPC URL in the message.
 * The adapter is `rpc/RpcDaalLedger.ts` (viem).
 */
import { Context, type Effect } from "effect";
import type { ChainAnchor } from "../core/anchoredHistory.ts";
import type { Address, AnchorError, Hex32 } from "./AnchorSubmitter.ts";
import type { AnchorExpectation, ReceiptVerdict } from "../core/checkAnchorReceipt.ts";

/** `DAAL.checkpointOf(root)` for an anchored root. */
export interface AnchoredCheckpoint {
  readonly treeSize: number;
  readonly blockNumber: number;
  readonly submitter: Address;
}

export interface DaalLedgerShape {
  readonly chainId: number;
  readonly contract: Address;
  /** `checkpointOf(root)`: the anchored checkpoint with this root, or undefined (tree size 0). */
  readonly anchoredCheckpoint: (root: Hex32) => Effect.Effect<AnchoredCheckpoint | undefined, AnchorError>;
  /** `latestTreeSize()` and `latestRoot()` (64 lowercase hex, no 0x), read at one block; undefined before the first anchor. */
  readonly latestAnchor: Effect.Effect<{ readonly treeSize: number; readonly root: string } | undefined, AnchorError>;
  /** Every `CheckpointAnchored` the DAAL emitted in blocks `fromBlock`..`toBlock`, in chain order (eth_getLogs, paged). */
  readonly anchorsBetween: (fromBlock: number, toBlock: number) => Effect.Effect<ReadonlyArray<ChainAnchor>, AnchorError>;
  /** The latest block's number and timestamp (seconds). */
  readonly head: Effect.Effect<{ readonly number: number; readonly timestamp: number }, AnchorError>;
  /** A block's timestamp (seconds). */
  readonly blockTime: (blockNumber: number) => Effect.Effect<number, AnchorError>;
  /** `owner()` (OpenZeppelin Ownable). */
  readonly owner: Effect.Effect<Address, AnchorError>;
  /** Whether the DAAL's address holds code at `blockNumber` (an archive read for old blocks). */
  readonly hasCodeAt: (blockNumber: number) => Effect.Effect<boolean, AnchorError>;
  /** The contract a deployment transaction created and its block, from its receipt; undefined when it created none or is unknown. */
  readonly deploymentOf: (txHash: Hex32) => Effect.Effect<{ readonly contract: Address; readonly blockNumber: number } | undefined, AnchorError>;
  /** The transaction that emitted `CheckpointAnchored(root)` from the DAAL in block `blockNumber`. */
  readonly findAnchorTransaction: (root: Hex32, blockNumber: number) => Effect.Effect<Hex32 | undefined, AnchorError>;
  /** Fetches the receipt, the chain id and the latest block, and checks them (checkAnchorReceipt). */
  readonly verifyReceipt: (txHash: Hex32, expected: Omit<AnchorExpectation, "chainId" | "contract">) => Effect.Effect<ReceiptVerdict, AnchorError>;
}

export class DaalLedger extends Context.Tag("zt/DaalLedger")<DaalLedger, DaalLedgerShape>() {}
