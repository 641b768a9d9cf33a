/**
 * Deploys the DAAL contract through thirdweb (`deployContract` from "thirdweb/deploys")
 * with the committed ABI and bytecode, then allows one submitter. The one DAAL deployer:
 * `zt anchor deploy` and `scripts/deploy.ts` (through deployCommand.ts),
 * `npx hardhat run scripts/deploy-daal.ts` (the same), and the service when `ZT_CHAIN=local`.
 *
 * thirdweb and the network: with a local chain thirdweb talks only to the given RPC.
 * That needs three things, all done here: the chain is registered with
 * `defineChain({ id, rpc })` (thirdweb's private-key account sends raw transactions to
 * the RPC registered for the transaction's chain id, and falls back to
 * `https://<id>.rpc.thirdweb.com`); the RPC is not a thirdweb URL (so no client id or
 * secret key is sent, and a placeholder client id is enough); and the chain id is
 * 31337 or 1337 (anvil's and Hardhat's defaults), for which thirdweb skips its zkSync
 * lookup at api.thirdweb.com. Base and Base Sepolia do look their chain up there.
 * Registration is process-wide per chain id: do not deploy to two RPCs with the same
 * chain id concurrently in one process.
 *
 * The private key never appears in a result or an error: messages from thirdweb and
 * the RPC are scrubbed of it before they leave this module.
 */
import { Data } from "effect";
import { createThirdwebClient, defineChain, getContract, prepareContractCall, readContract, sendAndConfirmTransaction, type ThirdwebClient } from "thirdweb";
import { base, baseSepolia } from "thirdweb/chains";
import { deployContract } from "thirdweb/deploys";
import { eth_getBlockByNumber, eth_getCode, eth_getTransactionReceipt, getRpcClient } from "thirdweb/rpc";
import { type Account, privateKeyToAccount } from "thirdweb/wallets";
import { getAddress, isAddress } from "viem";
import { DAAL_ABI, DAAL_BYTECODE } from "../generated/daalArtifact.ts";

export type DaalChain = "local" | "base" | "base-sepolia";
export const DAAL_CHAINS: ReadonlyArray<DaalChain> = ["local", "base", "base-sepolia"];

/** Client id used when none is given: enough for an RPC that is not thirdweb's. */
export const PLACEHOLDER_CLIENT_ID = "zt-infra-local";

const RPC_TIMEOUT_MS = 10_000;

export type DaalDeployErrorReason =
  /** A setting is missing or malformed; nothing was sent. */
  | "invalid_config"
  /** The RPC did not answer; nothing is known to be sent. */
  | "rpc_unreachable"
  /** The RPC serves another chain than the one asked for; nothing was sent. */
  | "chain_mismatch"
  /** The deployment transaction failed or could not be confirmed. */
  | "deploy_failed"
  /** DAAL is deployed but allowing the submitter failed; `address` names it. */
  | "set_submitter_failed";

export class DaalDeployError extends Data.TaggedError("DaalDeployError")<{
  readonly reason: DaalDeployErrorReason;
  readonly message: string;
  readonly address?: string;
}> {
  get isRetryable(): boolean {
    return this.reason === "rpc_unreachable";
  }
}

export type DeployDaalOptions = {
  /** JSON-RPC URL. Required for `local`; for Base it replaces thirdweb's RPC and must serve that chain. */
  readonly rpcUrl?: string | undefined;
  /** 0x-prefixed 32-byte hex secp256k1 key of the deployer, who becomes the owner. */
  readonly privateKey: string;
  readonly chain: DaalChain;
  /** Address allowed to anchor; defaults to the deployer. */
  readonly submitter?: string | undefined;
  /** thirdweb client; defaults to one with a placeholder client id (fine for a non-thirdweb RPC). */
  readonly client?: ThirdwebClient | undefined;
};

export type DaalDeployment = {
  readonly chainId: number;
  readonly address: `0x${string}`;
  readonly deploymentBlock: number;
  readonly txHash: `0x${string}`;
  readonly owner: `0x${string}`;
  readonly submitters: ReadonlyArray<`0x${string}`>;
  /** ISO 8601 timestamp of the deployment block. */
  readonly deployedAt: string;
};

/**
 * Deploys DAAL owned by the deployer, allows `submitter` (default: the deployer) to
 * anchor, and answers where it lives. Fails with a DaalDeployError whose message never
 * holds the private key.
 */
export async function deployDaal(options: DeployDaalOptions): Promise<DaalDeployment> {
  try {
    return await deploy(options);
  } catch (error) {
    throw scrubbed(error, options.privateKey);
  }
}

async function deploy(options: DeployDaalOptions): Promise<DaalDeployment> {
  const privateKey = normalizedPrivateKey(options.privateKey);
  const submitterOption = options.submitter;
  if (submitterOption !== undefined && !isAddress(submitterOption, { strict: false })) {
    throw new DaalDeployError({ reason: "invalid_config", message: `submitter "${submitterOption}" is not an address` });
  }
  const client = options.client ?? createThirdwebClient({ clientId: PLACEHOLDER_CLIENT_ID });
  const chain = await resolveChain(options.chain, options.rpcUrl, options.client !== undefined);

  const account = privateKeyToAccount({ client, privateKey });
  const owner = getAddress(account.address);
  const submitter = submitterOption === undefined ? owner : getAddress(submitterOption);

  // deployContract answers only the address; the account records the transaction hash.
  const sent: Array<`0x${string}`> = [];
  const recording: Account = {
    ...account,
    sendTransaction: async (tx) => {
      const result = await account.sendTransaction(tx);
      sent.push(result.transactionHash);
      return result;
    },
  };

  let deployedAddress: string;
  try {
    deployedAddress = await deployContract({
      client,
      chain,
      account: recording,
      abi: DAAL_ABI,
      bytecode: DAAL_BYTECODE,
      constructorParams: { initialOwner: owner },
    });
  } catch (error) {
    throw new DaalDeployError({ reason: "deploy_failed", message: `DAAL deployment failed: ${messageOf(error)}` });
  }
  const txHash = sent[0];
  if (sent.length !== 1 || txHash === undefined) {
    throw new DaalDeployError({ reason: "deploy_failed", message: `expected one deployment transaction, sent ${sent.length}` });
  }
  const address = getAddress(deployedAddress);

  const rpc = getRpcClient({ client, chain });
  const receipt = await eth_getTransactionReceipt(rpc, { hash: txHash });
  if (receipt.status !== "success" || receipt.contractAddress == null || getAddress(receipt.contractAddress) !== address) {
    throw new DaalDeployError({ reason: "deploy_failed", message: `deployment transaction ${txHash} did not create DAAL at ${address}` });
  }
  const code = await eth_getCode(rpc, { address });
  if (code === "0x") {
    throw new DaalDeployError({ reason: "deploy_failed", message: `no code at ${address} after deployment transaction ${txHash}` });
  }
  const block = await eth_getBlockByNumber(rpc, { blockNumber: receipt.blockNumber });

  const contract = getContract({ client, chain, address, abi: DAAL_ABI });
  try {
    const allowed = await sendAndConfirmTransaction({
      account,
      transaction: prepareContractCall({ contract, method: "setSubmitter", params: [submitter, true] }),
    });
    if (allowed.status !== "success") throw new Error(`transaction ${allowed.transactionHash} reverted`);
    if (!(await readContract({ contract, method: "isSubmitter", params: [submitter] }))) {
      throw new Error(`isSubmitter(${submitter}) is still false`);
    }
  } catch (error) {
    throw new DaalDeployError({
      reason: "set_submitter_failed",
      message: `DAAL deployed at ${address} but setSubmitter(${submitter}, true) failed: ${messageOf(error)}`,
      address,
    });
  }

  return {
    chainId: chain.id,
    address,
    deploymentBlock: Number(receipt.blockNumber),
    txHash,
    owner,
    submitters: [submitter],
    deployedAt: new Date(Number(block.timestamp) * 1000).toISOString(),
  };
}

/** The thirdweb chain to deploy to, registered so raw transactions go to `rpcUrl`. */
async function resolveChain(kind: DaalChain, rpcUrl: string | undefined, hasClient: boolean) {
  if (!DAAL_CHAINS.includes(kind)) {
    throw new DaalDeployError({ reason: "invalid_config", message: `chain must be one of ${DAAL_CHAINS.join(", ")}` });
  }
  if (rpcUrl !== undefined && !/^https?:\/\/\S+$/.test(rpcUrl)) {
    throw new DaalDeployError({ reason: "invalid_config", message: "the RPC URL must be an http(s) URL" });
  }
  if (kind === "local") {
    if (rpcUrl === undefined) throw new DaalDeployError({ reason: "invalid_config", message: "a local chain needs an RPC URL" });
    return defineChain({ id: await rpcChainId(rpcUrl), rpc: rpcUrl });
  }
  const known = kind === "base" ? base : baseSepolia;
  if (rpcUrl === undefined) {
    if (!hasClient) {
      throw new DaalDeployError({
        reason: "invalid_config",
        message: `${kind} without an RPC URL uses thirdweb's RPC, which needs a thirdweb client id or secret key`,
      });
    }
    return known;
  }
  const id = await rpcChainId(rpcUrl);
  if (id !== known.id) {
    throw new DaalDeployError({ reason: "chain_mismatch", message: `the RPC serves chain ${id}, not ${kind} (${known.id})` });
  }
  return defineChain({ ...known, rpc: rpcUrl });
}

/** eth_chainId over plain JSON-RPC, before any thirdweb chain exists. */
async function rpcChainId(rpcUrl: string): Promise<number> {
  let body: { result?: unknown };
  try {
    const response = await fetch(rpcUrl, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }),
      signal: AbortSignal.timeout(RPC_TIMEOUT_MS),
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    body = (await response.json()) as { result?: unknown };
  } catch (error) {
    throw new DaalDeployError({ reason: "rpc_unreachable", message: `eth_chainId at ${rpcUrl} failed: ${messageOf(error)}` });
  }
  if (typeof body.result !== "string" || !/^0x[0-9a-f]+$/i.test(body.result)) {
    throw new DaalDeployError({ reason: "rpc_unreachable", message: `eth_chainId at ${rpcUrl} gave no chain id` });
  }
  return Number.parseInt(body.result, 16);
}

function normalizedPrivateKey(key: string): `0x${string}` {
  const hex = typeof key === "string" && /^(0x)?[0-9a-fA-F]{64}$/.test(key) ? key.replace(/^0x/, "") : undefined;
  // Never echo the value: even a malformed key may be most of a real one.
  if (hex === undefined) throw new DaalDeployError({ reason: "invalid_config", message: "the private key must be 32 bytes of hex" });
  return `0x${hex}`;
}

/** The first line of an error's message; thirdweb rethrows JSON-RPC errors as plain objects. */
function messageOf(error: unknown): string {
  let text: string;
  if (error instanceof Error) text = error.message;
  else if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") {
    text = (error as { message: string }).message;
  } else {
    try {
      text = JSON.stringify(error) ?? String(error);
    } catch {
      text = String(error);
    }
  }
  return text.split("\n")[0] || "unknown error";
}

/** Removes every occurrence of the key (with or without 0x, any case) from an error. */
export function redactSecret(text: string, privateKey: string): string {
  const hex = typeof privateKey === "string" ? privateKey.replace(/^0x/i, "") : "";
  if (hex.length < 8) return text;
  return text.replace(new RegExp(`(0x)?${hex.replace(/[^0-9a-zA-Z]/g, "")}`, "gi"), "[redacted]");
}

function scrubbed(error: unknown, privateKey: string): DaalDeployError {
  if (error instanceof DaalDeployError) {
    const message = redactSecret(error.message, privateKey);
    return message === error.message
      ? error
      : new DaalDeployError({ reason: error.reason, message, ...(error.address === undefined ? {} : { address: error.address }) });
  }
  return new DaalDeployError({ reason: "deploy_failed", message: redactSecret(messageOf(error), privateKey) });
}
