/**
 * AnchorSubmitter through thirdweb Engine Cloud (Engine v3, engine.thirdweb.com) and a
 * server wallet's EOA, with thirdweb's own Engine client, `@thirdweb-dev/engine` (the
 * generated API client that `thirdweb`'s `Engine.serverWallet` and
 * `Engine.getTransactionStatus` call). The shapes, from its types.gen.ts and from
 * thirdweb-dev/engine-core (server/src/http/routes/transaction_write.rs, error.rs):
 *
 *   POST {engineUrl}/v1/write/transaction
 *     x-secret-key: <project secret key>   [x-vault-access-token: <vault token>]
 *     { "executionOptions": { "type": "EOA", "from": <EOA>, "chainId": n, "idempotencyKey": <uuid> },
 *       "params": [{ "to": <DAAL>, "data": anchorCheckpoint(root, treeSize), "value": "0" }] }
 *   -> 202 { "result": { "transactions": [{ "id": <the idempotency key>, "batchIndex": 0,
 *                                            "executionParams": { "type": "EOA", "from", ... } }] } }
 *
 *   POST {engineUrl}/v1/transactions/search  { "filters": [{ "field": "id", "values": [id], "operation": "OR" }] }
 *   -> 200 { "result": { "transactions": [{ "id", "status": "QUEUED"|"SUBMITTED"|"CONFIRMED"|"FAILED",
 *            "transactionHash", "confirmedAtBlockNumber", "errorMessage", "executionResult", ... }] } }
 *          (no row: Engine does not know the id, or no longer)
 *
 *   errors -> { "error": { "message", "details": { "type": "VALIDATION_ERROR" | "VAULT_ERROR" | ... } } }
 *
 * Why these calls rather than `Engine.serverWallet`: for an `EOA` execution it sends no
 * idempotency key (server-wallet.js builds `{ chainId, from, type }`), so a repeated
 * attempt would queue a second job; `Engine.getTransactionStatus` throws a plain Error
 * without the HTTP status for every failure, including an unknown id; the SDK sends the
 * secret key only to `*.thirdweb.com` hosts (utils/fetch.js) and Engine's address is a
 * process-wide setting (setThirdwebDomains). The request is the one `serverWallet`
 * builds (`/v1/write/transaction` with encoded calldata), plus the key.
 *
 * Engine Cloud's default execution (`auto`) sends through EIP-7702 or an ERC-4337 smart
 * account: the receipt's `to` would not be the DAAL, and the DAAL would see the smart
 * account as its caller. So the execution is `EOA`, Engine's answer must confirm it, and
 * the configured sender must hold no contract code (a smart account address, the other
 * address Engine shows for a server wallet): both are configuration errors, named as
 * such before anything is sent.
 *
 * The idempotency key is the job's id in Engine ("The idempotency key this transaction
 * was queued with"), so a repeat with the same key finds the same job. The secret key and
 * vault token go in headers only; errors carry HTTP statuses and Engine error types,
 * never the keys or response bodies.
 */
import { searchTransactions, sendTransaction } from "@thirdweb-dev/engine";
import { Duration, Effect, Layer, Schema } from "effect";
import { encodeFunctionData, getAddress, type PublicClient } from "viem";
import { AnchorError, AnchorSubmitter, isHex32, type Address, type AnchorSubmitterShape, type Hex32, type TransactionStatus } from "../../ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../../generated/daalArtifact.ts";
import { rpcPublicClient } from "../rpc/rpcPublicClient.ts";
import { rpcTransactionStatus } from "../rpc/rpcTransactionStatus.ts";
import { viemAnchorError } from "../rpc/viemAnchorError.ts";

const ENGINE_CLOUD_URL = "https://engine.thirdweb.com";

export interface ThirdwebEngineSubmitterOptions {
  /** Engine Cloud's base URL (ZT_ENGINE_URL); https://engine.thirdweb.com by default. */
  readonly engineUrl?: string;
  /** The thirdweb project's secret key (ZT_ENGINE_SECRET_KEY), sent as `x-secret-key`. */
  readonly secretKey: string;
  /** The vault access token of the server wallet (ZT_ENGINE_VAULT_ACCESS_TOKEN), when the vault needs one. */
  readonly vaultAccessToken?: string;
  /** The server wallet's EOA (ZT_ENGINE_SERVER_WALLET), authorised as submitter on the DAAL. */
  readonly serverWallet: Address;
  readonly chainId: number;
  readonly contract: Address;
  /** RPC of the same chain: the sender's code, and transactions known only by hash. */
  readonly rpcUrl: string;
  /** How often `submit` asks Engine whether the job has a transaction hash yet. */
  readonly pollMs?: number;
  /** How long `submit` waits for Engine to send the queued job. */
  readonly sendTimeoutMs?: number;
  /** Per HTTP request. */
  readonly requestTimeoutMs?: number;
}

/**
 * EIP-7702 delegation designator (0xef0100 || address): the code an EOA carries while it
 * delegates. It is still an EOA: a plain transaction from it calls the DAAL as itself.
 */
const DELEGATION_DESIGNATOR = /^0xef0100[0-9a-f]{40}$/i;

const QueuedAnswer = Schema.Struct({
  result: Schema.Struct({
    transactions: Schema.NonEmptyArray(
      Schema.Struct({
        id: Schema.String.pipe(Schema.minLength(1)),
        executionParams: Schema.optional(Schema.Struct({ type: Schema.optional(Schema.String), from: Schema.optional(Schema.String) })),
      }),
    ),
  }),
});

const SearchAnswer = Schema.Struct({
  result: Schema.Struct({
    transactions: Schema.Array(
      Schema.Struct({
        id: Schema.String,
        status: Schema.NullOr(Schema.String),
        transactionHash: Schema.optional(Schema.NullOr(Schema.String)),
        confirmedAtBlockNumber: Schema.optional(Schema.NullOr(Schema.Union(Schema.String, Schema.Number))),
        errorMessage: Schema.optional(Schema.NullOr(Schema.String)),
        executionResult: Schema.optional(Schema.Unknown),
      }),
    ),
  }),
});
type SearchRow = (typeof SearchAnswer.Type)["result"]["transactions"][number];

const ErrorAnswer = Schema.Struct({ error: Schema.Struct({ details: Schema.optional(Schema.Struct({ type: Schema.optional(Schema.String) })) }) });

/** Engine's error type (an identifier such as VALIDATION_ERROR), when the body has one; nothing else of it is kept. */
function engineErrorType(body: unknown): string | undefined {
  const decoded = Schema.decodeUnknownOption(ErrorAnswer)(body);
  const type = decoded._tag === "Some" ? decoded.value.error.details?.type : undefined;
  return type !== undefined && /^[A-Z0-9_]{1,64}$/.test(type) ? type : undefined;
}

function httpFailure(action: string, status: number, body: unknown, providerId?: string): AnchorError {
  const type = engineErrorType(body);
  const what = `${action}: Engine answered HTTP ${status}${type === undefined ? "" : ` ${type}`}`;
  const extra = providerId === undefined ? {} : { providerId };
  if (status === 401 || status === 403) return new AnchorError({ reason: "misconfigured", message: `${what} (check ZT_ENGINE_SECRET_KEY and the key's access to Engine)`, ...extra });
  // Engine answers 502 when its vault cannot sign for the sender (engine-core error.rs): the
  // wallet is not this project's, or the vault needs ZT_ENGINE_VAULT_ACCESS_TOKEN.
  if (type === "VAULT_ERROR") return new AnchorError({ reason: "misconfigured", message: `${what} (check ZT_ENGINE_SERVER_WALLET and ZT_ENGINE_VAULT_ACCESS_TOKEN)`, ...extra });
  if (status === 404) return new AnchorError({ reason: "misconfigured", message: `${what} (check ZT_ENGINE_URL)`, ...extra });
  if (status === 408) return new AnchorError({ reason: "timeout", message: what, ...extra });
  if (status === 429 || status >= 500) return new AnchorError({ reason: "unavailable", message: what, ...extra });
  return new AnchorError({ reason: "rejected", message: what, ...extra });
}

/** Engine's text about a job (e.g. a revert reason), shortened and stripped of anything that is not plain text. */
function engineErrorText(text: string | null | undefined): string {
  if (text === null || text === undefined || text === "") return "no error message";
  return text.replace(/[^\x20-\x7e]/g, " ").slice(0, 200);
}

/** A field of Engine's `executionResult` (its shape differs by executor), when it is a string. */
function resultField(row: SearchRow, key: string): string | undefined {
  const result = row.executionResult;
  if (typeof result !== "object" || result === null || !(key in result)) return undefined;
  const value = (result as Record<string, unknown>)[key];
  return typeof value === "string" ? value : undefined;
}

/** A job's state as the port names it. Engine re-sends a stuck job under a new hash, so the hash is whatever it reports now. */
function engineJobStatus(row: SearchRow): TransactionStatus | AnchorError {
  const hash = (row.transactionHash ?? resultField(row, "transactionHash"))?.toLowerCase();
  switch (row.status) {
    case "SUBMITTED":
      return isHex32(hash) ? { state: "pending", txHash: hash } : { state: "queued" };
    case "CONFIRMED": {
      if (!isHex32(hash)) return new AnchorError({ reason: "unavailable", message: "transaction status: Engine reports a confirmed job without a transaction hash", providerId: row.id });
      const block = Number(row.confirmedAtBlockNumber ?? 0);
      return { state: "mined", txHash: hash, blockNumber: Number.isSafeInteger(block) ? block : 0, success: resultField(row, "onchainStatus") !== "REVERTED" };
    }
    case "FAILED":
      return { state: "errored", message: `Engine failed the job: ${engineErrorText(row.errorMessage ?? resultField(row, "error"))}` };
    default:
      // QUEUED, or a row not yet picked up.
      return isHex32(hash) ? { state: "pending", txHash: hash } : { state: "queued" };
  }
}

export function makeThirdwebEngineSubmitter(options: ThirdwebEngineSubmitterOptions, publicClient?: PublicClient): AnchorSubmitterShape {
  const baseUrl = (options.engineUrl ?? ENGINE_CLOUD_URL).replace(/\/+$/, "");
  const pollMs = options.pollMs ?? 1000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
  const sender = getAddress(options.serverWallet);
  const contract = getAddress(options.contract);
  const reader = publicClient ?? rpcPublicClient({ rpcUrl: options.rpcUrl, chainId: options.chainId, timeoutMs: requestTimeoutMs });
  const vault = options.vaultAccessToken === undefined ? {} : { "x-vault-access-token": options.vaultAccessToken };
  // The secret key is added here, for every Engine request, and nowhere else.
  const withSecretKey = (request: Request) => {
    request.headers.set("x-secret-key", options.secretKey);
    return fetch(request);
  };

  const request = <A>(action: string, call: (signal: AbortSignal) => Promise<{ data?: A; error?: unknown; response: Response }>, providerId?: string) =>
    Effect.tryPromise({
      try: (signal) => call(AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMs)])),
      catch: (error) =>
        new AnchorError({
          reason: error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError") ? "timeout" : "unavailable",
          message: `${action}: Engine cannot be reached (${error instanceof Error ? error.name : "error"})`,
          ...(providerId === undefined ? {} : { providerId }),
        }),
    }).pipe(
      Effect.flatMap(({ data, error, response }) =>
        response.ok ? Effect.succeed(data as unknown) : Effect.fail(httpFailure(action, response.status, error, providerId)),
      ),
    );

  // The sender is checked once per process, before the first job: a smart account's address
  // has code (a counterfactual one gets refused by Engine's EOA execution instead).
  let senderIsEoa = false;
  const requireEoaSender = Effect.suspend(() =>
    senderIsEoa
      ? Effect.void
      : Effect.tryPromise({ try: () => reader.getCode({ address: sender }), catch: (error) => viemAnchorError(error, "eth_getCode") }).pipe(
          Effect.flatMap((code) =>
            code === undefined || code === "0x" || DELEGATION_DESIGNATOR.test(code)
              ? Effect.sync(() => void (senderIsEoa = true))
              : Effect.fail(
                  new AnchorError({
                    reason: "misconfigured",
                    message: `ZT_ENGINE_SERVER_WALLET ${sender} holds contract code: it is a smart account, not the server wallet's EOA (the DAAL must see the EOA as its caller)`,
                  }),
                ),
          ),
        ),
  );

  const jobStatus = (id: string): Effect.Effect<TransactionStatus, AnchorError> =>
    request("transaction status", (signal) =>
      searchTransactions({ baseUrl, fetch: withSecretKey, signal, body: { filters: [{ field: "id", values: [id], operation: "OR" }] } }),
    id).pipe(
      Effect.flatMap((json) => {
        const decoded = Schema.decodeUnknownOption(SearchAnswer)(json);
        if (decoded._tag === "None") return Effect.fail(new AnchorError({ reason: "unavailable", message: "transaction status: Engine's answer is not a transaction search result", providerId: id }));
        const row = decoded.value.result.transactions.find((candidate) => candidate.id === id);
        if (row === undefined) return Effect.succeed<TransactionStatus>({ state: "unknown" });
        const status = engineJobStatus(row);
        return status instanceof AnchorError ? Effect.fail(status) : Effect.succeed(status);
      }),
    );

  /** Polls the job until Engine has sent it (a hash exists), it failed, or the wait is over. */
  const awaitHash = (id: string): Effect.Effect<Hex32, AnchorError> => {
    const poll: Effect.Effect<Hex32, AnchorError> = jobStatus(id).pipe(
      Effect.flatMap((status) => {
        switch (status.state) {
          case "pending":
          case "mined":
            return Effect.succeed(status.txHash);
          case "errored":
            return Effect.fail(new AnchorError({ reason: "rejected", message: status.message, providerId: id }));
          default:
            // Queued, or not searchable yet right after the 202.
            return Effect.sleep(Duration.millis(pollMs)).pipe(Effect.zipRight(Effect.suspend(() => poll)));
        }
      }),
    );
    return poll.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(sendTimeoutMs),
        onTimeout: () => new AnchorError({ reason: "timeout", message: `Engine has not sent job ${id} within ${sendTimeoutMs} ms`, providerId: id }),
      }),
    );
  };

  return {
    kind: "thirdweb-engine",
    submit: ({ root, treeSize, idempotencyKey }) =>
      Effect.gen(function* () {
        yield* requireEoaSender;
        const data = encodeFunctionData({ abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, BigInt(treeSize)] });
        const json = yield* request("send transaction", (signal) =>
          sendTransaction({
            baseUrl,
            fetch: withSecretKey,
            signal,
            headers: vault,
            body: {
              executionOptions: { type: "EOA", from: sender, chainId: options.chainId, ...(idempotencyKey === undefined ? {} : { idempotencyKey }) },
              params: [{ to: contract, data, value: "0" }],
            },
          }),
        );
        const decoded = Schema.decodeUnknownOption(QueuedAnswer)(json);
        if (decoded._tag === "None") return yield* Effect.fail(new AnchorError({ reason: "unavailable", message: "send transaction: Engine's answer has no queued transaction id" }));
        const [job] = decoded.value.result.transactions;
        const execution = job.executionParams;
        if (execution?.type !== "EOA" || execution.from?.toLowerCase() !== sender.toLowerCase()) {
          return yield* Effect.fail(
            new AnchorError({
              reason: "misconfigured",
              message: `send transaction: Engine queued job ${job.id} as a ${execution?.type ?? "unknown"} execution, not from the EOA ${sender}; check ZT_ENGINE_SERVER_WALLET`,
              providerId: job.id,
            }),
          );
        }
        const txHash = yield* awaitHash(job.id);
        return { txHash, providerId: job.id };
      }),
    // A job id (a UUID) asks Engine; a transaction hash, from an older record, asks the chain.
    transactionStatus: (ref) => (isHex32(ref) ? rpcTransactionStatus(reader, ref) : jobStatus(ref)),
  };
}

export const ThirdwebEngineSubmitter = {
  layer: (options: ThirdwebEngineSubmitterOptions): Layer.Layer<AnchorSubmitter> => Layer.sync(AnchorSubmitter, () => makeThirdwebEngineSubmitter(options)),
};
