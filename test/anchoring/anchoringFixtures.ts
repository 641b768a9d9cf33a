/**
 * Shared fixtures of the anchoring tests: real anvil processes (the devDependency's
 * binary, via src/anchoring/localChain.ts) tracked so an `after` hook stops every one,
 * a DAAL deployed on them with anvil's development keys, and plain viem reads of what is
 * on chain (CheckpointAnchored logs, transactions to the DAAL) that do not go through
 * the code under test.
 */
import { createPublicClient, http, parseAbiItem, type Hex, type PublicClient } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import type { Address } from "../../src/anchoring/ports/AnchorSubmitter.ts";
import { deployDaal } from "../../src/anchoring/deploy/deployDaal.ts";
import { ANVIL_CHAIN_ID, ANVIL_DEPLOYER_KEY, ANVIL_SUBMITTER_KEY, startAnvil, type AnvilProcess, type StartAnvilOptions } from "../../src/anchoring/local/localChain.ts";
import { rpcChain } from "../../src/anchoring/adapters/rpc/rpcPublicClient.ts";
import { setAnvilChainId } from "../support/anvil.ts";

export { waitFor, sleep } from "../support/waitFor.ts";

const anvils = new Set<AnvilProcess>();

/** An anvil stopped by stopAllAnvils (call it from `after`). */
export async function trackedAnvil(options: StartAnvilOptions = {}): Promise<AnvilProcess> {
  const anvil = await startAnvil(options);
  anvils.add(anvil);
  return anvil;
}

export async function stopAllAnvils(): Promise<void> {
  await Promise.all([...anvils].map((anvil) => anvil.stop(1000)));
  anvils.clear();
}

export const SUBMITTER_ADDRESS: Address = privateKeyToAccount(ANVIL_SUBMITTER_KEY).address;

export interface ChainWithDaal {
  readonly anvil: AnvilProcess;
  readonly rpcUrl: string;
  readonly daal: Address;
  readonly deploymentBlock: number;
  readonly client: PublicClient;
}

/**
 * A fresh anvil (chain id 31337 unless given) with a DAAL deployed by the service's
 * deployer (deployDaal, thirdweb), owned by dev account 0, with dev account 1 as submitter.
 * The deployment always happens under chain id 31337 and anvil then switches to the one
 * asked for (anvil_setChainId): thirdweb looks every other chain id up on its own API,
 * and these tests reach nothing but loopback.
 */
export async function anvilWithDaal(options: StartAnvilOptions = {}): Promise<ChainWithDaal> {
  const anvil = await trackedAnvil({ ...options, chainId: ANVIL_CHAIN_ID });
  const deployed = await deployDaal({ chain: "local", rpcUrl: anvil.rpcUrl, privateKey: ANVIL_DEPLOYER_KEY, submitter: SUBMITTER_ADDRESS });
  if (options.chainId !== undefined && options.chainId !== ANVIL_CHAIN_ID) {
    await setAnvilChainId(anvil.rpcUrl, options.chainId);
  }
  return { anvil, rpcUrl: anvil.rpcUrl, daal: deployed.address, deploymentBlock: deployed.deploymentBlock, client: readerFor(anvil.rpcUrl) };
}

export function readerFor(rpcUrl: string): PublicClient {
  return createPublicClient({ chain: rpcChain(ANVIL_CHAIN_ID), transport: http(rpcUrl, { timeout: 5000, retryCount: 0 }) }) as PublicClient;
}

const CHECKPOINT_ANCHORED = parseAbiItem("event CheckpointAnchored(bytes32 indexed root, uint64 indexed treeSize, address indexed submitter)");

/** Every CheckpointAnchored log the DAAL emitted, oldest first. */
export async function anchoredLogs(client: PublicClient, daal: Address): Promise<ReadonlyArray<{ root: Hex; treeSize: bigint; txHash: Hex; blockNumber: bigint }>> {
  const logs = await client.getLogs({ address: daal, event: CHECKPOINT_ANCHORED, fromBlock: 0n, toBlock: "latest" });
  return logs.map((log) => ({ root: log.args.root!, treeSize: log.args.treeSize!, txHash: log.transactionHash, blockNumber: log.blockNumber }));
}

/** Every transaction sent to `to` (mined or reverted), scanning all blocks: what an observer of the chain sees. */
export async function transactionsTo(client: PublicClient, to: Address): Promise<ReadonlyArray<{ hash: Hex; input: Hex; from: Address }>> {
  const latest = await client.getBlockNumber({ cacheTime: 0 });
  const found: Array<{ hash: Hex; input: Hex; from: Address }> = [];
  for (let n = 0n; n <= latest; n++) {
    const block = await client.getBlock({ blockNumber: n, includeTransactions: true });
    for (const tx of block.transactions) {
      if (tx.to?.toLowerCase() === to.toLowerCase()) found.push({ hash: tx.hash, input: tx.input, from: tx.from });
    }
  }
  return found;
}
