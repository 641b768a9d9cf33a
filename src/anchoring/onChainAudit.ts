/**
 * The auditor's on-chain checks (`zt audit verify --rpc --contract`, `zt audit
 * check-proof --rpc`): a checkpoint root is anchored in the DAAL with its tree size, and
 * every anchor the store says is confirmed has a receipt that proves it (status, `to`,
 * the CheckpointAnchored log from the DAAL, the chain). Reads go through any RPC URL.
 */
import { Effect, Option, Schema } from "effect";
import { createPublicClient, getAddress, http } from "viem";
import { EventStore, type EventStoreError } from "../events/EventStore.ts";
import type { AnchorError, Hex32 } from "./AnchorSubmitter.ts";
import { ANCHOR_CONFIRMED, AnchorConfirmed, anchorStream } from "./events.ts";
import { makeRpcDaalLedger } from "./rpc/RpcDaalLedger.ts";

export interface AnchorCheck {
  readonly batch_id: string | null;
  readonly root: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** The DAAL at `contract` as seen through `rpcUrl`, on whatever chain the RPC serves. */
export function ledgerAt(rpcUrl: string, contract: string) {
  return Effect.tryPromise({
    try: () => createPublicClient({ transport: http(rpcUrl, { timeout: 10_000, retryCount: 1 }) }).getChainId(),
    catch: () => "the RPC did not answer eth_chainId" as const,
  }).pipe(Effect.map((chainId) => makeRpcDaalLedger({ rpcUrl, chainId, contract: getAddress(contract) })));
}

/** One checkpoint against the chain: anchored with this tree size, and, given its transaction, a receipt that proves it. */
export function checkAnchoredCheckpoint(
  ledger: ReturnType<typeof makeRpcDaalLedger>,
  checkpoint: { readonly batch_id: string | null; readonly root: string; readonly tree_size: number },
  txHash: string | undefined,
): Effect.Effect<AnchorCheck, AnchorError> {
  return Effect.gen(function* () {
    const root = `0x${checkpoint.root}` as Hex32;
    const base = { batch_id: checkpoint.batch_id, root: checkpoint.root };
    const anchored = yield* ledger.anchoredCheckpoint(root);
    if (anchored === undefined) return { ...base, ok: false, detail: `root is not anchored in the DAAL at ${ledger.contract}` };
    if (anchored.treeSize !== checkpoint.tree_size) {
      return { ...base, ok: false, detail: `the DAAL anchored this root with tree size ${anchored.treeSize}, not ${checkpoint.tree_size}` };
    }
    const hash = txHash ?? (yield* ledger.findAnchorTransaction(root, anchored.blockNumber));
    if (hash === undefined) return { ...base, ok: false, detail: "no CheckpointAnchored log for this root in the block the DAAL recorded" };
    const verdict = yield* ledger.verifyReceipt(hash as Hex32, { root, treeSize: checkpoint.tree_size, minConfirmations: 1 });
    return verdict.ok
      ? { ...base, ok: true, detail: `anchored by ${verdict.txHash} in block ${verdict.blockNumber} (${verdict.confirmations} confirmations)` }
      : { ...base, ok: false, detail: `transaction ${hash}: ${verdict.failed}: ${verdict.message}` };
  });
}

/** The transaction the store recorded as confirming a batch's anchor, if any. */
export function confirmedAnchorTx(batchId: string): Effect.Effect<string | undefined, EventStoreError, EventStore> {
  return Effect.flatMap(EventStore, (store) => store.readStream(anchorStream(batchId), { limit: 10_000 })).pipe(
    Effect.map((events) => {
      const confirmed = events.filter((event) => event.type === ANCHOR_CONFIRMED).at(-1);
      return confirmed === undefined ? undefined : Option.getOrUndefined(Schema.decodeUnknownOption(AnchorConfirmed)(confirmed.data))?.tx_hash;
    }),
  );
}
