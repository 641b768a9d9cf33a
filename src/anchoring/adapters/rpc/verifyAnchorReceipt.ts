/**
 * Receipt verification through any RPC URL (life of a request, step 10): fetches
 * eth_chainId, eth_getTransactionReceipt and eth_blockNumber for one transaction and
 * runs the pure checks of checkAnchorReceipt over them. Alchemy being down only delays
 * verification: call it again later, or with another provider's URL, to reconcile the
 * same transaction hash (failure table: "reconciled later with another RPC provider").
 */
import { Effect } from "effect";
import { TransactionReceiptNotFoundError, type PublicClient } from "viem";
import { AnchorError, type Hex32 } from "../../ports/AnchorSubmitter.ts";
import { checkAnchorReceipt, type AnchorExpectation, type ReceiptFacts, type ReceiptVerdict } from "../../core/checkAnchorReceipt.ts";
import { rpcPublicClient } from "./rpcPublicClient.ts";
import { viemAnchorError } from "./viemAnchorError.ts";

/** What `client` says about `txHash`; a transaction not mined yet has no receipt (not an error). */
export function fetchReceiptFacts(client: PublicClient, txHash: Hex32): Effect.Effect<ReceiptFacts, AnchorError> {
  const call = <A>(action: string, run: () => Promise<A>) =>
    Effect.tryPromise({ try: run, catch: (error) => error }).pipe(Effect.mapError((error) => viemAnchorError(error, action)));
  return Effect.all(
    {
      chainId: call("eth_chainId", () => client.getChainId()),
      latestBlock: call("eth_blockNumber", () => client.getBlockNumber({ cacheTime: 0 })),
      receipt: Effect.tryPromise({ try: () => client.getTransactionReceipt({ hash: txHash }), catch: (error) => error }).pipe(
        Effect.map((receipt) => ({
          transactionHash: receipt.transactionHash,
          status: receipt.status,
          to: receipt.to,
          blockNumber: receipt.blockNumber,
          logs: receipt.logs.map((log) => ({ address: log.address, topics: log.topics })),
        })),
        Effect.catchIf(
          (error) => error instanceof TransactionReceiptNotFoundError,
          () => Effect.succeed(undefined),
        ),
        Effect.mapError((error) => viemAnchorError(error, "eth_getTransactionReceipt")),
      ),
    },
    { concurrency: "unbounded" },
  );
}

export interface VerifyAnchorReceiptInput {
  readonly rpcUrl: string;
  readonly txHash: Hex32;
  readonly expected: AnchorExpectation;
  readonly timeoutMs?: number;
}

/**
 * Verifies that `txHash` anchored `expected.root` at `expected.treeSize` on the DAAL at
 * `expected.contract`, on chain `expected.chainId`, with at least
 * `expected.minConfirmations` confirmations. A verdict names the first failed check; the
 * Effect fails only when the RPC cannot answer.
 */
export function verifyAnchorReceipt(input: VerifyAnchorReceiptInput): Effect.Effect<ReceiptVerdict, AnchorError> {
  return Effect.suspend(() => {
    const client = rpcPublicClient({ rpcUrl: input.rpcUrl, chainId: input.expected.chainId, ...(input.timeoutMs === undefined ? {} : { timeoutMs: input.timeoutMs }) });
    return fetchReceiptFacts(client, input.txHash).pipe(Effect.map((facts) => checkAnchorReceipt(facts, input.expected)));
  });
}
