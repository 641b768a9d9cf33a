/**
 * Fake thirdweb Engine Cloud and CDP APIs that do what the real ones do with a write: sign
 * it with the server-held key (here anvil's dev account 1, the DAAL's authorised
 * submitter) and broadcast it to a real anvil. They speak the services' shapes (see
 * ThirdwebEngineSubmitter.ts and CdpSubmitter.ts) and play the behaviours the adapters
 * must meet, each as the service's source or documentation has it, so the adapters run
 * end to end against a real chain without a real provider.
 */
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { createWalletClient, decodeFunctionData, http, keccak256, parseTransaction, type Hex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { ANVIL_SUBMITTER_KEY } from "../../src/anchoring/local/localChain.ts";
import { rpcChain } from "../../src/anchoring/adapters/rpc/rpcPublicClient.ts";
import { SUBMITTER_ADDRESS, type ChainWithDaal } from "./anchoringFixtures.ts";
import { startFakeProvider, type FakeProvider, type Reply } from "./fakeProvider.ts";

function serverWallet(chain: ChainWithDaal, chainId: number) {
  return createWalletClient({ account: privateKeyToAccount(ANVIL_SUBMITTER_KEY), chain: rpcChain(chainId), transport: http(chain.rpcUrl) });
}

/**
 * Engine Cloud's error body (thirdweb-dev/engine-core server/src/http/error.rs, ApiEngineError):
 * `{ error: { message, details: <EngineError, tagged by type> } }`.
 */
const engineError = (status: number, type: string, message: string): Reply => ({ status, json: { error: { message, details: { type, message } } } });

/**
 * What Engine does with a new job: `send` it at once; `hold` it queued until released;
 * `replace` it: report a first signed transaction that is never mined, then re-send the
 * job under a new hash with a higher fee (the EOA executor's gas bump); `drop` it: report
 * a hash that is never mined, then forget the job (a pruned job: the search finds nothing).
 */
export type EnginePlan = "send" | "hold" | "replace" | "drop";

export interface EngineJob {
  readonly id: string;
  status: "QUEUED" | "SUBMITTED" | "CONFIRMED" | "FAILED";
  /** Every hash Engine reported for the job, oldest first. */
  readonly hashes: Hex[];
  error?: string;
  release?: () => Promise<void>;
}

export interface RelayingEngine extends FakeProvider {
  /** Jobs by id (the idempotency key), as Engine stores them. */
  readonly jobs: Map<string, EngineJob>;
  /** Plans for the next new jobs, taken in order; `send` when empty. */
  readonly plans: EnginePlan[];
}

/**
 * Engine Cloud (v3): `POST /v1/write/transaction` queues a job under its idempotency key
 * (a repeat of the key finds the same job, engine-core `transaction_id()`), `POST
 * /v1/transactions/search` reports it. An `EOA` execution from the server wallet's EOA is
 * signed and sent as is; Engine's default `auto` resolves to a smart-account execution
 * (EIP-7702 on a chain that has it), which this relay only reports. A `from` the vault
 * holds no key for is a VAULT_ERROR (HTTP 502). A failed simulation makes the job FAILED.
 * Without the project's `x-secret-key` the gateway answers 401; its body is not
 * documented, so the adapter reads the status only.
 */
export async function startRelayingEngine(chain: ChainWithDaal, secretKey: string, chainId = 31337): Promise<RelayingEngine> {
  const wallet = serverWallet(chain, chainId);
  const account = privateKeyToAccount(ANVIL_SUBMITTER_KEY);
  const jobs = new Map<string, EngineJob>();
  const plans: EnginePlan[] = [];

  const run = async (job: EngineJob, to: Hex, data: Hex, plan: EnginePlan) => {
    const { args } = decodeFunctionData({ abi: DAAL_ABI, data }) as { args: readonly [Hex, bigint] };
    try {
      // Engine simulates before sending: a call the DAAL refuses never becomes a transaction.
      await chain.client.simulateContract({ account: SUBMITTER_ADDRESS, address: to, abi: DAAL_ABI, functionName: "anchorCheckpoint", args });
    } catch (error) {
      job.status = "FAILED";
      job.error = `Simulation failed: ${(error as { shortMessage?: string }).shortMessage ?? "reverted"}`;
      return;
    }
    if (plan === "replace" || plan === "drop") {
      // A transaction signed for the next nonce but never broadcast: what a stuck one looks like from outside.
      const request = await wallet.prepareTransactionRequest({ to, data, maxFeePerGas: 1n, maxPriorityFeePerGas: 1n });
      job.hashes.push(keccak256(await account.signTransaction(request)));
      job.status = "SUBMITTED";
      if (plan === "drop") return;
      job.release = async () => {
        job.hashes.push(await wallet.sendTransaction({ to, data }));
      };
      return;
    }
    job.hashes.push(await wallet.sendTransaction({ to, data }));
    job.status = "SUBMITTED";
  };

  const engine = await startFakeProvider(async (request) => {
    // engine.thirdweb.com checks the key at its gateway, whose 401 body is not documented:
    // the adapter goes by the status alone.
    if (request.headers["x-secret-key"] !== secretKey) return { status: 401, json: { error: { message: "Unauthorized" } } };
    if (request.method === "POST" && request.path === "/v1/write/transaction") {
      const options = request.json?.executionOptions ?? {};
      const [call] = (request.json?.params ?? []) as Array<{ to: Hex; data: Hex }>;
      if (call === undefined || Number(options.chainId) !== chainId) return engineError(400, "VALIDATION_ERROR", "Invalid JSON data");
      const type = options.type ?? "auto";
      const from = String(options.from ?? "");
      if (type !== "auto" && from.toLowerCase() !== SUBMITTER_ADDRESS.toLowerCase()) return engineError(502, "VAULT_ERROR", "Vault error: no key for this address");
      const id = String(options.idempotencyKey ?? crypto.randomUUID());
      const executionParams = type === "EOA" ? { type: "EOA", from, chainId, idempotencyKey: id } : { type: "EIP7702", from, chainId, idempotencyKey: id };
      const queued = { status: 202, json: { result: { transactions: [{ id, batchIndex: 0, executionParams, transactionParams: [call] }] } } };
      if (jobs.has(id) || type !== "EOA") return queued;
      const job: EngineJob = { id, status: "QUEUED", hashes: [] };
      jobs.set(id, job);
      const plan = plans.shift() ?? "send";
      if (plan === "hold") {
        job.release = () => {
          delete job.release;
          return run(job, call.to, call.data, "send");
        };
      }
      else await run(job, call.to, call.data, plan);
      if (plan === "drop") setTimeout(() => jobs.delete(id), 50);
      return queued;
    }
    if (request.method === "POST" && request.path === "/v1/transactions/search") {
      const ids: ReadonlyArray<string> = request.json?.filters?.[0]?.values ?? [];
      const rows = [];
      for (const id of ids) {
        const job = jobs.get(id);
        if (job === undefined) continue;
        const hash = job.hashes.at(-1) ?? null;
        const receipt = hash === null ? undefined : await chain.client.getTransactionReceipt({ hash }).catch(() => undefined);
        if (receipt !== undefined) job.status = "CONFIRMED";
        rows.push({
          id,
          batchIndex: 0,
          clientId: "zt",
          chainId: String(chainId),
          from: SUBMITTER_ADDRESS,
          transactionHash: hash,
          status: job.status,
          confirmedAt: receipt === undefined ? null : new Date().toISOString(),
          confirmedAtBlockNumber: receipt === undefined ? null : String(receipt.blockNumber),
          executionParams: { type: "EOA", from: SUBMITTER_ADDRESS, chainId },
          executionResult: receipt === undefined ? null : { status: "CONFIRMED", transactionHash: hash, onchainStatus: receipt.status === "success" ? "SUCCESS" : "REVERTED" },
          errorMessage: job.error ?? null,
          createdAt: new Date().toISOString(),
          cancelledAt: null,
          transactionParams: [],
          enrichedData: [],
        });
        // A replaced job moves to its new hash once it has been seen under the first.
        if (job.release !== undefined && job.status === "SUBMITTED") {
          const release = job.release;
          delete job.release;
          await release();
        }
      }
      return { status: 200, json: { result: { transactions: rows, pagination: { totalCount: rows.length, page: 0, limit: 100 } } } };
    }
    return engineError(404, "VALIDATION_ERROR", "no route");
  });
  return Object.assign(engine, { jobs, plans });
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
  /** How long CDP takes to process a send before it broadcasts and answers. */
  processingMs: number;
}

/**
 * CDP v2 under `/platform`: the named account is the anvil submitter; send/transaction
 * signs the RLP transaction and broadcasts it (estimation failures answer 400
 * invalid_request, as CDP refuses a transaction it cannot estimate). Idempotency as
 * docs.cdp.coinbase.com/api-reference/v2/idempotency has it: a repeat of a key returns
 * the first answer, a repeat while the first is still processing is `409 already_exists`,
 * the key with other parameters is `422 idempotency_error`, and a request goes on being
 * processed when its client hangs up.
 */
export async function startRelayingCdp(chain: ChainWithDaal, chainId: number): Promise<RelayingCdp> {
  const wallet = serverWallet(chain, chainId);
  const sent: Hex[] = [];
  const answered = new Map<string, Reply>();
  const processing = new Set<string>();
  const bodies = new Map<string, string>();

  const send = async (transaction: Hex): Promise<Reply> => {
    const tx = parseTransaction(transaction);
    try {
      const hash = await wallet.sendTransaction({ to: tx.to!, data: tx.data! });
      sent.push(hash);
      return { status: 200, json: { transactionHash: hash } };
    } catch {
      return { status: 400, json: { errorType: "invalid_request", errorMessage: "Transaction would revert.", correlationId: "relay-1" } };
    }
  };

  const cdp = await startFakeProvider(async (request) => {
    if (!String(request.headers["authorization"] ?? "").startsWith("Bearer ")) return { status: 401, json: { errorType: "unauthorized", errorMessage: "Unauthorized." } };
    if (request.method === "GET" && request.path.startsWith("/platform/v2/evm/accounts/by-name/")) {
      return { status: 200, json: { address: SUBMITTER_ADDRESS, name: decodeURIComponent(request.path.split("/").at(-1) ?? "") } };
    }
    if (request.method === "POST" && request.path === `/platform/v2/evm/accounts/${SUBMITTER_ADDRESS}/send/transaction`) {
      if (request.headers["x-wallet-auth"] === undefined) return { status: 401, json: { errorType: "unauthorized", errorMessage: "Wallet auth required." } };
      const key = request.headers["x-idempotency-key"]?.toString();
      if (key === undefined) return send(request.json.transaction as Hex);
      if ((bodies.get(key) ?? request.body) !== request.body) {
        return { status: 422, json: { errorType: "idempotency_error", errorMessage: "Idempotency key reused with different parameters.", correlationId: "relay-422" } };
      }
      bodies.set(key, request.body);
      const first = answered.get(key);
      if (first !== undefined) return first;
      if (processing.has(key)) return { status: 409, json: { errorType: "already_exists", errorMessage: "Request with this idempotency key is being processed.", correlationId: "relay-409" } };
      processing.add(key);
      await new Promise((resolve) => setTimeout(resolve, relay.processingMs));
      const reply = await send(request.json.transaction as Hex);
      answered.set(key, reply);
      processing.delete(key);
      return reply;
    }
    return { status: 404, json: { errorType: "not_found", errorMessage: "no route" } };
  });
  const relay: RelayingCdp = Object.assign(cdp, { sent, processingMs: 0 });
  return relay;
}
