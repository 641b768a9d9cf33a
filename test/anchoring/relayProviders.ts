/**
 * Fake thirdweb Engine and CDP APIs that do what the real ones do with a write: sign it
 * with the server-held key (here anvil's dev account 1, the DAAL's authorised
 * submitter) and broadcast it to a real anvil. They speak the documented shapes (see
 * ThirdwebEngineSubmitter.ts and CdpSubmitter.ts), so the adapters run end to end
 * against a real chain without a real provider.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createWalletClient, http, parseTransaction, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { DAAL_ABI } from "../../src/anchoring/daalArtifact.ts";
import { ANVIL_SUBMITTER_KEY } from "../../src/anchoring/localChain.ts";
import { rpcChain } from "../../src/anchoring/rpc/rpcPublicClient.ts";
import { ANCHOR_FUNCTION_SIGNATURE } from "../../src/anchoring/thirdweb-engine/ThirdwebEngineSubmitter.ts";
import { SUBMITTER_ADDRESS, type ChainWithDaal } from "./anchoringFixtures.ts";
import { startFakeProvider, type FakeProvider } from "./fakeProvider.ts";

function serverWallet(chain: ChainWithDaal, chainId: number) {
  return createWalletClient({ account: privateKeyToAccount(ANVIL_SUBMITTER_KEY), chain: rpcChain(chainId), transport: http(chain.rpcUrl) });
}

const engineError = (status: number, code: string, message: string) => ({ status, json: { error: { code, message, statusCode: status } } });

export interface RelayingEngine extends FakeProvider {
  /** queueId -> transaction hash (or the error Engine reports). */
  readonly jobs: Map<string, { hash?: Hex; error?: string }>;
}

/**
 * Engine v2: POST /contract/{chain}/{address}/write queues a job and sends it (a failed
 * simulation makes the job `errored`, as Engine does); GET /transaction/status/{id}
 * answers `sent`, or `mined` once anvil has the receipt.
 */
export async function startRelayingEngine(chain: ChainWithDaal, accessToken: string, chainId = 31337): Promise<RelayingEngine> {
  const wallet = serverWallet(chain, chainId);
  const jobs = new Map<string, { hash?: Hex; error?: string }>();
  const engine = await startFakeProvider(async (request) => {
    if (request.headers["authorization"] !== `Bearer ${accessToken}`) return engineError(401, "UNAUTHORIZED", "Unauthorized");
    if (request.method === "POST" && request.path === `/contract/${chainId}/${chain.daal}/write`) {
      if (request.headers["x-backend-wallet-address"]?.toString().toLowerCase() !== SUBMITTER_ADDRESS.toLowerCase()) return engineError(400, "BAD_REQUEST", "unknown backend wallet");
      if (request.json?.functionName !== ANCHOR_FUNCTION_SIGNATURE) return engineError(400, "BAD_REQUEST", "unknown function");
      const [root, size] = request.json.args as [Hex, string];
      const queueId = crypto.randomUUID();
      try {
        jobs.set(queueId, { hash: await wallet.writeContract({ address: chain.daal, abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, BigInt(size)] }) });
      } catch (error) {
        jobs.set(queueId, { error: `Simulation failed: ${(error as { shortMessage?: string }).shortMessage ?? "reverted"}` });
      }
      return { status: 200, json: { result: { queueId } } };
    }
    const status = /^\/transaction\/status\/([^/]+)$/.exec(request.path);
    const job = status?.[1] === undefined ? undefined : jobs.get(status[1]);
    if (job === undefined || status?.[1] === undefined) return engineError(400, "TRANSACTION_NOT_FOUND", "Transaction not found.");
    const base = { queueId: status[1], chainId: String(chainId), transactionHash: null, blockNumber: null, onchainStatus: null, errorMessage: null };
    if (job.error !== undefined) return { status: 200, json: { result: { ...base, status: "errored", errorMessage: job.error } } };
    const receipt = await chain.client.getTransactionReceipt({ hash: job.hash! }).catch(() => undefined);
    return {
      status: 200,
      json: {
        result:
          receipt === undefined
            ? { ...base, status: "sent", transactionHash: job.hash }
            : { ...base, status: "mined", transactionHash: job.hash, blockNumber: Number(receipt.blockNumber), onchainStatus: receipt.status },
      },
    };
  });
  return Object.assign(engine, { jobs });
}

/** CDP-format credentials: API key secret (base64 Ed25519 seed || public key), wallet secret (base64 PKCS#8 DER, P-256). */
export function cdpCredentials(): { apiKeySecret: string; walletSecret: string; apiPublic: KeyObject; walletPublic: KeyObject } {
  const ed = generateKeyPairSync("ed25519");
  const jwk = ed.privateKey.export({ format: "jwk" });
  const apiKeySecret = Buffer.concat([Buffer.from(jwk.d!, "base64url"), Buffer.from(jwk.x!, "base64url")]).toString("base64");
  const ec = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const walletSecret = ec.privateKey.export({ format: "der", type: "pkcs8" }).toString("base64");
  return { apiKeySecret, walletSecret, apiPublic: ed.publicKey, walletPublic: ec.publicKey };
}

export interface RelayingCdp extends FakeProvider {
  readonly sent: Hex[];
}

/**
 * CDP v2 under `/platform`: the named account is the anvil submitter; send/transaction
 * signs the RLP transaction and broadcasts it (estimation failures answer 400
 * invalid_request, as CDP refuses a transaction it cannot estimate).
 */
export async function startRelayingCdp(chain: ChainWithDaal, chainId: number): Promise<RelayingCdp> {
  const wallet = serverWallet(chain, chainId);
  const sent: Hex[] = [];
  const cdp = await startFakeProvider(async (request) => {
    if (!String(request.headers["authorization"] ?? "").startsWith("Bearer ")) return { status: 401, json: { errorType: "unauthorized", errorMessage: "Unauthorized." } };
    if (request.method === "GET" && request.path.startsWith("/platform/v2/evm/accounts/by-name/")) {
      return { status: 200, json: { address: SUBMITTER_ADDRESS, name: decodeURIComponent(request.path.split("/").at(-1) ?? "") } };
    }
    if (request.method === "POST" && request.path === `/platform/v2/evm/accounts/${SUBMITTER_ADDRESS}/send/transaction`) {
      if (request.headers["x-wallet-auth"] === undefined) return { status: 401, json: { errorType: "unauthorized", errorMessage: "Wallet auth required." } };
      const tx = parseTransaction(request.json.transaction as Hex);
      try {
        const hash = await wallet.sendTransaction({ to: tx.to!, data: tx.data! });
        sent.push(hash);
        return { status: 200, json: { transactionHash: hash } };
      } catch {
        return { status: 400, json: { errorType: "invalid_request", errorMessage: "Transaction would revert.", correlationId: "relay-1" } };
      }
    }
    return { status: 404, json: { errorType: "not_found", errorMessage: "no route" } };
  });
  return Object.assign(cdp, { sent });
}
