/**
 * Receipt verification, the pure part (life of a request, step 10: "receipt
 * verification confirms the transaction targets the DAAL contract"). Given what an RPC
 * returned for a transaction, decides whether it anchored `root` at `treeSize` on the
 * expected chain and contract, with enough confirmations. Everything here came from a
 * third-party RPC and is treated as hostile: malformed values fail a check, never throw.
 *
 * Checks, in order (the first failure is reported):
 * 1. `chain_id`: the RPC serves the expected chain (eth_chainId).
 * 2. `receipt_found`: the transaction is mined (a receipt exists).
 * 3. `status`: the receipt status is success (not reverted).
 * 4. `to`: the transaction was sent to the DAAL address.
 * 5. `log`: a CheckpointAnchored event exists at all, then `log_emitter` (emitted BY the
 *    DAAL address, not by a look-alike contract), `log_root` (topic 1 is the root) and
 *    `log_tree_size` (topic 2 is the tree size).
 * 6. `confirmations`: latest block - receipt block + 1 >= the minimum (the same count
 *    viem's getTransactionConfirmations reports).
 */
import { keccak_256 } from "@noble/hashes/sha3.js";
import { bytesToHex } from "../../kernel/hashing.ts";
import type { Address, Hex32 } from "../ports/AnchorSubmitter.ts";

/** Solidity event topic 0: keccak256 of the canonical signature (Solidity ABI spec, "Events"). */
export const CHECKPOINT_ANCHORED_SIGNATURE = "CheckpointAnchored(bytes32,uint64,address)";
export const CHECKPOINT_ANCHORED_TOPIC: Hex32 = `0x${bytesToHex(keccak_256(new TextEncoder().encode(CHECKPOINT_ANCHORED_SIGNATURE)))}`;

/** An indexed uint64 topic: the value left-padded to 32 bytes (ABI encoding of a static type). */
export function uint64Topic(value: number | bigint): Hex32 {
  return `0x${BigInt(value).toString(16).padStart(64, "0")}`;
}

export interface ReceiptLog {
  readonly address: string;
  readonly topics: ReadonlyArray<string | null>;
}

export interface FetchedReceipt {
  readonly transactionHash: string;
  readonly status: string;
  readonly to: string | null;
  readonly blockNumber: bigint | number;
  readonly logs: ReadonlyArray<ReceiptLog>;
}

/** What one RPC said about one transaction. */
export interface ReceiptFacts {
  readonly chainId: number;
  readonly latestBlock: bigint | number;
  /** Undefined while the transaction is not mined (or unknown to this RPC). */
  readonly receipt: FetchedReceipt | undefined;
}

export interface AnchorExpectation {
  readonly chainId: number;
  readonly contract: Address;
  readonly root: Hex32;
  readonly treeSize: number;
  readonly minConfirmations: number;
}

export type ReceiptCheck = "chain_id" | "receipt_found" | "status" | "to" | "log" | "log_emitter" | "log_root" | "log_tree_size" | "confirmations";

export type ReceiptVerdict =
  | { readonly ok: true; readonly txHash: string; readonly blockNumber: number; readonly confirmations: number }
  | {
      readonly ok: false;
      readonly failed: ReceiptCheck;
      readonly message: string;
      readonly blockNumber?: number;
      readonly confirmations?: number;
    };

const sameHex = (a: string | null | undefined, b: string) => typeof a === "string" && a.toLowerCase() === b.toLowerCase();

function toSafeNumber(value: bigint | number): number | undefined {
  const n = typeof value === "bigint" ? Number(value) : value;
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function fail(failed: ReceiptCheck, message: string, extra: { blockNumber?: number; confirmations?: number } = {}): ReceiptVerdict {
  return { ok: false, failed, message, ...extra };
}

/** Whether `facts` prove the anchor `expected`, naming the first check that fails. */
export function checkAnchorReceipt(facts: ReceiptFacts, expected: AnchorExpectation): ReceiptVerdict {
  if (facts.chainId !== expected.chainId) return fail("chain_id", `the RPC serves chain ${facts.chainId}, not ${expected.chainId}`);
  const receipt = facts.receipt;
  if (receipt === undefined) return fail("receipt_found", "no receipt: the transaction is not mined (or unknown to this RPC)");
  const blockNumber = toSafeNumber(receipt.blockNumber);
  const latest = toSafeNumber(facts.latestBlock);
  if (blockNumber === undefined || latest === undefined) return fail("receipt_found", "the receipt or the latest block number is malformed");
  if (receipt.status !== "success") return fail("status", `the transaction ${receipt.status === "reverted" ? "reverted" : `has status ${String(receipt.status)}`}`, { blockNumber });
  if (!sameHex(receipt.to, expected.contract)) return fail("to", `the transaction was sent to ${receipt.to ?? "no address (a deployment)"}, not the DAAL ${expected.contract}`, { blockNumber });

  const anchored = receipt.logs.filter((log) => sameHex(log.topics[0], CHECKPOINT_ANCHORED_TOPIC));
  if (anchored.length === 0) return fail("log", "the receipt has no CheckpointAnchored event", { blockNumber });
  const fromDaal = anchored.filter((log) => sameHex(log.address, expected.contract));
  if (fromDaal.length === 0) return fail("log_emitter", "CheckpointAnchored was emitted by another address, not the DAAL", { blockNumber });
  const withRoot = fromDaal.filter((log) => sameHex(log.topics[1], expected.root));
  if (withRoot.length === 0) return fail("log_root", `no CheckpointAnchored event from the DAAL carries root ${expected.root}`, { blockNumber });
  if (!withRoot.some((log) => sameHex(log.topics[2], uint64Topic(expected.treeSize)))) {
    return fail("log_tree_size", `CheckpointAnchored for this root does not carry tree size ${expected.treeSize}`, { blockNumber });
  }

  const confirmations = latest >= blockNumber ? latest - blockNumber + 1 : 0;
  if (confirmations < expected.minConfirmations) {
    return fail("confirmations", `${confirmations} confirmation(s), ${expected.minConfirmations} needed`, { blockNumber, confirmations });
  }
  return { ok: true, txHash: receipt.transactionHash.toLowerCase(), blockNumber, confirmations };
}
