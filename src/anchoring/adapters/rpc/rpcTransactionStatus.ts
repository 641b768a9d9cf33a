/**
 * The state of a transaction by its hash, as one RPC sees it: mined (with the receipt
 * status), pending (known, not mined) or unknown (never seen, or dropped). Used by the
 * submitters whose reference is the transaction hash itself (direct, CDP).
 */
import { Effect } from "effect";
import { TransactionNotFoundError, TransactionReceiptNotFoundError, type PublicClient } from "viem";
import { AnchorError, isHex32, type TransactionStatus } from "../../ports/AnchorSubmitter.ts";
import { viemAnchorError } from "./viemAnchorError.ts";

export function rpcTransactionStatus(client: PublicClient, ref: string): Effect.Effect<TransactionStatus, AnchorError> {
  if (!isHex32(ref)) return Effect.fail(new AnchorError({ reason: "rejected", message: "transactionStatus needs a 0x-prefixed 32-byte transaction hash" }));
  return Effect.gen(function* () {
    const receipt = yield* Effect.tryPromise({
      try: () => client.getTransactionReceipt({ hash: ref }),
      catch: (error) => error,
    }).pipe(
      Effect.catchIf(
        (error) => error instanceof TransactionReceiptNotFoundError,
        () => Effect.succeed(undefined),
      ),
      Effect.mapError((error) => viemAnchorError(error, "eth_getTransactionReceipt")),
    );
    if (receipt !== undefined) {
      return { state: "mined", txHash: ref, blockNumber: Number(receipt.blockNumber), success: receipt.status === "success" } as const;
    }
    const pending = yield* Effect.tryPromise({
      try: () => client.getTransaction({ hash: ref }),
      catch: (error) => error,
    }).pipe(
      Effect.map(() => true),
      Effect.catchIf(
        (error) => error instanceof TransactionNotFoundError,
        () => Effect.succeed(false),
      ),
      Effect.mapError((error) => viemAnchorError(error, "eth_getTransactionByHash")),
    );
    return pending ? ({ state: "pending", txHash: ref } as const) : ({ state: "unknown" } as const);
  });
}
