/**
 * The owner's operations on DAAL, as the actions of the `daal` Hardhat tasks
 * (tasks/daal/index.ts). Each sends one transaction from the network's configured
 * account (its key stays inside Hardhat: keystore or environment), after a simulation
 * that turns a refusal into the contract's error name; it prints the transaction hash,
 * waits for the receipt and prints the block and status. A refusal, a reverted
 * transaction or a bad option ends the task with exit code 1 and one line on stderr.
 */
import type { HardhatRuntimeEnvironment } from "hardhat/types/hre";
import { BaseError, ContractFunctionRevertedError, getAddress, type Hex, isAddress, zeroAddress } from "viem";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { deploymentRecordPath, readDeploymentRecord } from "../../src/anchoring/deploy/deploymentRecord.ts";
import { deploymentsDirFromEnv } from "../../src/anchoring/deploy/deploySettings.ts";

type ContractArgs = { readonly contract: string };

/** A failure the task reports in one line, without a stack. */
export class DaalTaskError extends Error {
  override readonly name = "DaalTaskError";
}

/** Runs a task body; a DaalTaskError (or a contract refusal) becomes one line on stderr and exit code 1. */
export async function reportingFailures(body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (error) {
    if (!(error instanceof DaalTaskError)) throw error;
    console.error(`daal: ${error.message}`);
    process.exitCode = 1;
  }
}

/** The DAAL address: `--contract`, else the deployment record of this chain. */
export function daalAddress(contractOption: string, chainId: number): Hex {
  if (contractOption !== "") {
    if (!isAddress(contractOption, { strict: false })) throw new DaalTaskError(`--contract "${contractOption}" is not an address`);
    return getAddress(contractOption);
  }
  const path = deploymentRecordPath(deploymentsDirFromEnv(process.env), chainId);
  try {
    return getAddress(readDeploymentRecord(path).daal_address);
  } catch (error) {
    throw new DaalTaskError(`${(error as Error).message} (deploy first, or give --contract)`);
  }
}

function addressOption(name: string, value: string): Hex {
  if (!isAddress(value, { strict: false })) throw new DaalTaskError(`--${name} must be an address, got "${value}"`);
  return getAddress(value);
}

/** The contract's own words for a refusal (`NotSubmitter(0x…)`), else viem's short message. */
function refusal(error: unknown): string {
  if (!(error instanceof BaseError)) return (error as Error).message;
  const reverted = error.walk((cause) => cause instanceof ContractFunctionRevertedError);
  if (reverted instanceof ContractFunctionRevertedError && reverted.data !== undefined) {
    return `${reverted.data.errorName}(${(reverted.data.args ?? []).map(String).join(", ")})`;
  }
  return error.shortMessage;
}

type OwnerCall =
  | { readonly functionName: "setSubmitter"; readonly args: readonly [Hex, boolean] }
  | { readonly functionName: "transferOwnership"; readonly args: readonly [Hex] }
  | { readonly functionName: "acceptOwnership"; readonly args: readonly [] };

/** Simulates, sends, prints the hash, waits for the receipt and prints where it landed. */
async function sendOwnerCall(hre: HardhatRuntimeEnvironment, contractOption: string, call: OwnerCall): Promise<void> {
  const { viem } = await hre.network.create();
  const publicClient = await viem.getPublicClient();
  const [wallet] = await viem.getWalletClients();
  if (wallet === undefined) throw new DaalTaskError("the network has no account: set DAAL_OWNER_PRIVATE_KEY (keystore or environment)");
  const chainId = await publicClient.getChainId();
  const address = daalAddress(contractOption, chainId);
  const described = `${call.functionName}(${call.args.join(", ")})`;
  console.log(`daal: ${described} on DAAL ${address} (chain ${chainId}) from ${getAddress(wallet.account.address)}`);
  let request;
  try {
    ({ request } = await publicClient.simulateContract({ account: wallet.account, address, abi: DAAL_ABI, ...call } as Parameters<typeof publicClient.simulateContract>[0]));
  } catch (error) {
    throw new DaalTaskError(`refused, nothing sent: ${refusal(error)}`);
  }
  const hash = await wallet.writeContract(request as Parameters<typeof wallet.writeContract>[0]);
  console.log(`daal: transaction ${hash}`);
  const receipt = await publicClient.waitForTransactionReceipt({ hash });
  console.log(`daal: ${receipt.status === "success" ? "confirmed" : "reverted"} in block ${receipt.blockNumber} (gas used ${receipt.gasUsed})`);
  if (receipt.status !== "success") throw new DaalTaskError(`transaction ${hash} reverted`);
}

export async function addSubmitter(args: ContractArgs & { readonly address: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(() => sendOwnerCall(hre, args.contract, { functionName: "setSubmitter", args: [addressOption("address", args.address), true] }));
}

export async function removeSubmitter(args: ContractArgs & { readonly address: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(() => sendOwnerCall(hre, args.contract, { functionName: "setSubmitter", args: [addressOption("address", args.address), false] }));
}

export async function transferOwnership(args: ContractArgs & { readonly to: string }, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(() => sendOwnerCall(hre, args.contract, { functionName: "transferOwnership", args: [addressOption("to", args.to)] }));
}

export async function acceptOwnership(args: ContractArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(() => sendOwnerCall(hre, args.contract, { functionName: "acceptOwnership", args: [] }));
}

/** Reads only: connects without the owner's account, so no key is asked for. */
export async function latestCheckpoint(args: ContractArgs, hre: HardhatRuntimeEnvironment): Promise<void> {
  await reportingFailures(async () => {
    const { viem } = await hre.network.create({ override: { accounts: "remote" } });
    const publicClient = await viem.getPublicClient();
    const chainId = await publicClient.getChainId();
    const address = daalAddress(args.contract, chainId);
    const read = <const F extends "latestRoot" | "latestTreeSize" | "checkpointCount" | "owner" | "pendingOwner">(functionName: F) =>
      publicClient.readContract({ address, abi: DAAL_ABI, functionName });
    const [root, treeSize, count, owner, pendingOwner] = await Promise.all([
      read("latestRoot"),
      read("latestTreeSize"),
      read("checkpointCount"),
      read("owner"),
      read("pendingOwner"),
    ]);
    const anchored = await publicClient.readContract({ address, abi: DAAL_ABI, functionName: "checkpointOf", args: [root] });
    const latest =
      anchored.treeSize === 0n
        ? null
        : {
            root,
            tree_size: Number(anchored.treeSize),
            block_number: Number(anchored.blockNumber),
            anchored_at: new Date(Number(anchored.anchoredAt) * 1000).toISOString(),
            submitter: anchored.submitter,
          };
    if (latest !== null && Number(treeSize) !== latest.tree_size) throw new DaalTaskError(`latestTreeSize ${treeSize} disagrees with checkpointOf(latestRoot)`);
    const status = {
      chain_id: chainId,
      daal_address: address,
      latest_checkpoint: latest,
      checkpoint_count: Number(count),
      owner,
      pending_owner: pendingOwner === zeroAddress ? null : pendingOwner,
    };
    console.log(JSON.stringify(status, null, 2));
  });
}
