/**
 * DaalLedger over JSON-RPC with viem: `checkpointOf` and `latestTreeSize` through
 * eth_call, the anchoring transaction through eth_getLogs on the one block the DAAL
 * recorded, receipts through verifyAnchorReceipt's fetch.
 */
import { Effect, Layer } from "effect";
import { getAddress, type PublicClient } from "viem";
import { AnchorError, isHex32, type Address, type Hex32 } from "../AnchorSubmitter.ts";
import { checkAnchorReceipt } from "../checkAnchorReceipt.ts";
import { DAAL_ABI } from "../daalArtifact.ts";
import { DaalLedger, type DaalLedgerShape } from "../DaalLedger.ts";
import { fetchReceiptFacts } from "../verifyAnchorReceipt.ts";
import { rpcPublicClient } from "./rpcPublicClient.ts";
import { viemAnchorError } from "./viemAnchorError.ts";

export interface RpcDaalLedgerOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contract: Address;
  readonly timeoutMs?: number;
}

const CHECKPOINT_ANCHORED_EVENT = DAAL_ABI.find((item) => item.type === "event" && item.name === "CheckpointAnchored");

function call<A>(action: string, run: () => Promise<A>): Effect.Effect<A, AnchorError> {
  return Effect.tryPromise({ try: run, catch: (error) => error }).pipe(Effect.mapError((error) => viemAnchorError(error, action)));
}

export function makeRpcDaalLedger(options: RpcDaalLedgerOptions, client?: PublicClient): DaalLedgerShape {
  const contract = getAddress(options.contract);
  const rpc = client ?? rpcPublicClient(options);

  return {
    chainId: options.chainId,
    contract,
    anchoredCheckpoint: (root) =>
      call("checkpointOf", () => rpc.readContract({ address: contract, abi: DAAL_ABI, functionName: "checkpointOf", args: [root] })).pipe(
        Effect.map((checkpoint) =>
          checkpoint.treeSize === 0n
            ? undefined
            : { treeSize: Number(checkpoint.treeSize), blockNumber: Number(checkpoint.blockNumber), submitter: checkpoint.submitter },
        ),
      ),
    latestTreeSize: call("latestTreeSize", () => rpc.readContract({ address: contract, abi: DAAL_ABI, functionName: "latestTreeSize" })).pipe(Effect.map(Number)),
    findAnchorTransaction: (root, blockNumber) =>
      call("eth_getLogs", () =>
        rpc.getLogs({
          address: contract,
          event: CHECKPOINT_ANCHORED_EVENT as Extract<(typeof DAAL_ABI)[number], { type: "event"; name: "CheckpointAnchored" }>,
          args: { root },
          fromBlock: BigInt(blockNumber),
          toBlock: BigInt(blockNumber),
        }),
      ).pipe(
        Effect.map((logs) => {
          const hash = logs.find((log) => log.address.toLowerCase() === contract.toLowerCase())?.transactionHash?.toLowerCase();
          return isHex32(hash) ? (hash as Hex32) : undefined;
        }),
      ),
    verifyReceipt: (txHash, expected) =>
      fetchReceiptFacts(rpc, txHash).pipe(Effect.map((facts) => checkAnchorReceipt(facts, { ...expected, chainId: options.chainId, contract }))),
  };
}

export const RpcDaalLedger = {
  layer: (options: RpcDaalLedgerOptions): Layer.Layer<DaalLedger> => Layer.sync(DaalLedger, () => makeRpcDaalLedger(options)),
};
