/**
 * DaalLedger over JSON-RPC with viem: `checkpointOf`, `latestTreeSize` with `latestRoot`,
 * and `owner` through eth_call, the anchoring transaction through eth_getLogs on the one
 * block the DAAL recorded, the whole anchor history through eth_getLogs in pages of
 * blocks (halved when a provider refuses a range), receipts through verifyAnchorReceipt's fetch.
 */
import { Effect, Layer } from "effect";
import { getAddress, TransactionReceiptNotFoundError, type PublicClient } from "viem";
import type { ChainAnchor } from "../../core/anchoredHistory.ts";
import { AnchorError, isHex32, type Address, type Hex32 } from "../../ports/AnchorSubmitter.ts";
import { checkAnchorReceipt } from "../../core/checkAnchorReceipt.ts";
import { DAAL_ABI } from "../../generated/daalArtifact.ts";
import { DaalLedger, type DaalLedgerShape } from "../../ports/DaalLedger.ts";
import { fetchReceiptFacts } from "./verifyAnchorReceipt.ts";
import { rpcPublicClient } from "./rpcPublicClient.ts";
import { viemAnchorError } from "./viemAnchorError.ts";

export interface RpcDaalLedgerOptions {
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly contract: Address;
  readonly timeoutMs?: number;
}

const CHECKPOINT_ANCHORED_EVENT = DAAL_ABI.find((item) => item.type === "event" && item.name === "CheckpointAnchored") as Extract<
  (typeof DAAL_ABI)[number],
  { type: "event"; name: "CheckpointAnchored" }
>;

/** Blocks one eth_getLogs asks for at first (many providers cap a range at 10,000 blocks). */
export const LOG_PAGE_BLOCKS = 10_000;

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
    findAnchorTransaction: (root, blockNumber) =>
      call("eth_getLogs", () =>
        rpc.getLogs({
          address: contract,
          event: CHECKPOINT_ANCHORED_EVENT,
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
    latestAnchor: call("latestTreeSize/latestRoot", async () => {
      // Both views at one block, so the pair is one state of the contract.
      const blockNumber = await rpc.getBlockNumber({ cacheTime: 0 });
      const [treeSize, root] = await Promise.all([
        rpc.readContract({ address: contract, abi: DAAL_ABI, functionName: "latestTreeSize", blockNumber }),
        rpc.readContract({ address: contract, abi: DAAL_ABI, functionName: "latestRoot", blockNumber }),
      ]);
      return treeSize === 0n ? undefined : { treeSize: Number(treeSize), root: root.slice(2).toLowerCase() };
    }),
    anchorsBetween: (fromBlock, toBlock) => anchorsBetween(rpc, contract, fromBlock, toBlock),
    head: call("eth_getBlockByNumber", async () => {
      const block = await rpc.getBlock({ blockTag: "latest" });
      return { number: Number(block.number), timestamp: Number(block.timestamp) };
    }),
    blockTime: (blockNumber) => call("eth_getBlockByNumber", () => rpc.getBlock({ blockNumber: BigInt(blockNumber) })).pipe(Effect.map((block) => Number(block.timestamp))),
    owner: call("owner", () => rpc.readContract({ address: contract, abi: DAAL_ABI, functionName: "owner" })),
    hasCodeAt: (blockNumber) => call("eth_getCode", () => rpc.getCode({ address: contract, blockNumber: BigInt(blockNumber) })).pipe(Effect.map((code) => code !== undefined && code !== "0x")),
    deploymentOf: (txHash) =>
      Effect.tryPromise({ try: () => rpc.getTransactionReceipt({ hash: txHash }), catch: (error) => error }).pipe(
        Effect.map((receipt) =>
          receipt.contractAddress === null || receipt.contractAddress === undefined ? undefined : { contract: getAddress(receipt.contractAddress), blockNumber: Number(receipt.blockNumber) },
        ),
        Effect.catchIf((error) => error instanceof TransactionReceiptNotFoundError, () => Effect.succeed(undefined)),
        Effect.mapError((error) => viemAnchorError(error, "eth_getTransactionReceipt")),
      ),
  };
}

/** The CheckpointAnchored logs of `contract` in `fromBlock..toBlock`, page by page; a refused range is halved down to one block. */
function anchorsBetween(rpc: PublicClient, contract: Address, fromBlock: number, toBlock: number): Effect.Effect<ReadonlyArray<ChainAnchor>, AnchorError> {
  return Effect.gen(function* () {
    const anchors: ChainAnchor[] = [];
    let page = LOG_PAGE_BLOCKS;
    for (let from = fromBlock; from <= toBlock; ) {
      const to = Math.min(toBlock, from + page - 1);
      const logs = yield* Effect.either(
        call("eth_getLogs", () => rpc.getLogs({ address: contract, event: CHECKPOINT_ANCHORED_EVENT, fromBlock: BigInt(from), toBlock: BigInt(to), strict: true })),
      );
      if (logs._tag === "Left") {
        if (page === 1 || logs.left.reason === "misconfigured") return yield* Effect.fail(logs.left);
        page = Math.max(1, Math.floor(page / 2));
        continue;
      }
      for (const log of logs.right) {
        if (log.address.toLowerCase() !== contract.toLowerCase() || log.args.root === undefined || log.args.treeSize === undefined) continue;
        anchors.push({ root: log.args.root.slice(2).toLowerCase(), treeSize: Number(log.args.treeSize), blockNumber: Number(log.blockNumber), txHash: log.transactionHash.toLowerCase() });
      }
      from = to + 1;
    }
    return anchors;
  });
}

export const RpcDaalLedger = {
  layer: (options: RpcDaalLedgerOptions): Layer.Layer<DaalLedger> => Layer.sync(DaalLedger, () => makeRpcDaalLedger(options)),
};
