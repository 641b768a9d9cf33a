/**
 * The DaalLedger port: what the anchoring sidecar reads from the chain. It asks the DAAL
 * whether a root is already anchored (so a restart never resubmits), how far anchoring
 * has grown, which transaction anchored a root, and whether a transaction's receipt
 * proves an anchor. Reads fail with AnchorError (`unavailable`, `timeout`), never with
 * an RPC URL in the message. The adapter is `rpc/RpcDaalLedger.ts` (viem).
 */
import { Context, type Effect } from "effect";
import type { Address, AnchorError, Hex32 } from "./AnchorSubmitter.ts";
import type { AnchorExpectation, ReceiptVerdict } from "./checkAnchorReceipt.ts";

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
  /** `latestTreeSize()`: the largest tree size anchored so far (0 before the first). */
  readonly latestTreeSize: Effect.Effect<number, AnchorError>;
  /** The transaction that emitted `CheckpointAnchored(root)` from the DAAL in block `blockNumber`. */
  readonly findAnchorTransaction: (root: Hex32, blockNumber: number) => Effect.Effect<Hex32 | undefined, AnchorError>;
  /** Fetches the receipt, the chain id and the latest block, and checks them (checkAnchorReceipt). */
  readonly verifyReceipt: (txHash: Hex32, expected: Omit<AnchorExpectation, "chainId" | "contract">) => Effect.Effect<ReceiptVerdict, AnchorError>;
}

export class DaalLedger extends Context.Tag("zt/DaalLedger")<DaalLedger, DaalLedgerShape>() {}
