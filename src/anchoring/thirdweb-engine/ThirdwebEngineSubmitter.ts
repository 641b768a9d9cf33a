/**
 * AnchorSubmitter through a thirdweb Engine (v2 transactions API) backend wallet, over
 * plain HTTP. Documented shapes (portal.thirdweb.com/engine/features/contracts,
 * portal.thirdweb.com/engine/v2/features/transactions, and the Engine source,
 * thirdweb-dev/engine src/server/routes/contract/write/write.ts and
 * src/server/routes/transaction/status.ts):
 *
 *   POST {engineUrl}/contract/{chain}/{contractAddress}/write
 *     Authorization: Bearer <access token>
 *     x-backend-wallet-address: <backend wallet>
 *     x-idempotency-key: <key>   (same key within 24 h returns the original queueId)
 *     { "functionName": "function anchorCheckpoint(bytes32 root, uint64 treeSize)", "args": [root, "treeSize"] }
 *   -> 200 { "result": { "queueId": "..." } }
 *
 *   GET {engineUrl}/transaction/status/{queueId}
 *   -> 200 { "result": { "queueId", "status": "queued"|"sent"|"mined"|"errored"|"cancelled",
 *                        "transactionHash": "0x.." | null, "blockNumber": n | null,
 *                        "onchainStatus": "success"|"reverted"|null, "errorMessage": ".." | null, ... } }
 *
 *   errors -> { "error": { "code", "message", "statusCode" } }
 *
 * Writes are asynchronous: Engine queues the job and sends it later, so `submit` polls
 * the status until a transaction hash exists ("sent" or "mined"). The full function
 * signature is sent so Engine skips ABI resolution (the DAAL need not be verified on an
 * explorer). The access token goes in the Authorization header only; errors carry
 * status codes and Engine error codes, never the token or response bodies.
 */
import { Duration, Effect, Layer, Schema } from "effect";
import { AnchorError, AnchorSubmitter, isHex32, type Address, type AnchorSubmitterShape, type Hex32, type TransactionStatus } from "../AnchorSubmitter.ts";

export interface ThirdwebEngineSubmitterOptions {
  /** Base URL of the Engine instance (ZT_ENGINE_URL), e.g. https://engine.example.com */
  readonly engineUrl: string;
  /** Engine access token (ZT_ENGINE_ACCESS_TOKEN). */
  readonly accessToken: string;
  /** Backend wallet that sends, authorised as a submitter on the DAAL (ZT_ENGINE_BACKEND_WALLET). */
  readonly backendWallet: Address;
  readonly chainId: number;
  readonly contract: Address;
  /** How often `submit` polls the queue for a transaction hash. */
  readonly pollMs?: number;
  /** How long `submit` waits for Engine to send the queued transaction. */
  readonly sendTimeoutMs?: number;
  /** Per HTTP request. */
  readonly requestTimeoutMs?: number;
}

export const ANCHOR_FUNCTION_SIGNATURE = "function anchorCheckpoint(bytes32 root, uint64 treeSize)";

const WriteResponse = Schema.Struct({ result: Schema.Struct({ queueId: Schema.String.pipe(Schema.minLength(1)) }) });

const StatusResponse = Schema.Struct({
  result: Schema.Struct({
    queueId: Schema.NullOr(Schema.String),
    status: Schema.Literal("queued", "sent", "mined", "errored", "cancelled"),
    transactionHash: Schema.optional(Schema.NullOr(Schema.String)),
    blockNumber: Schema.optional(Schema.NullOr(Schema.Number)),
    onchainStatus: Schema.optional(Schema.NullOr(Schema.Literal("success", "reverted"))),
    errorMessage: Schema.optional(Schema.NullOr(Schema.String)),
  }),
});

const ErrorResponse = Schema.Struct({ error: Schema.Struct({ code: Schema.optional(Schema.String) }) });

/** An Engine error code is an identifier like TRANSACTION_NOT_FOUND; anything else is not repeated. */
function engineErrorCode(body: unknown): string | undefined {
  const decoded = Schema.decodeUnknownOption(ErrorResponse)(body);
  const code = decoded._tag === "Some" ? decoded.value.error.code : undefined;
  return code !== undefined && /^[A-Z0-9_]{1,64}$/.test(code) ? code : undefined;
}

function httpFailure(action: string, status: number, body: unknown, providerId?: string): AnchorError {
  const code = engineErrorCode(body);
  const what = `${action}: Engine answered HTTP ${status}${code === undefined ? "" : ` ${code}`}`;
  const extra = providerId === undefined ? {} : { providerId };
  if (status === 401 || status === 403) return new AnchorError({ reason: "misconfigured", message: `${what} (check the access token and backend wallet)`, ...extra });
  if (status === 408) return new AnchorError({ reason: "timeout", message: what, ...extra });
  if (status === 429 || status >= 500) return new AnchorError({ reason: "unavailable", message: what, ...extra });
  return new AnchorError({ reason: "rejected", message: what, ...extra });
}

/** Engine error text about a transaction (e.g. a revert reason), shortened and stripped of anything that is not plain text. */
function engineErrorText(text: string | null | undefined): string {
  if (text === null || text === undefined || text === "") return "no error message";
  return text.replace(/[^\x20-\x7e]/g, " ").slice(0, 200);
}

export function makeThirdwebEngineSubmitter(options: ThirdwebEngineSubmitterOptions): AnchorSubmitterShape {
  const base = options.engineUrl.replace(/\/+$/, "");
  const pollMs = options.pollMs ?? 1000;
  const sendTimeoutMs = options.sendTimeoutMs ?? 60_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 10_000;

  const request = (action: string, path: string, init: { method: "GET" | "POST"; headers?: Record<string, string>; body?: string }, providerId?: string) =>
    Effect.tryPromise({
      try: async (signal) => {
        const response = await fetch(`${base}${path}`, {
          method: init.method,
          headers: { authorization: `Bearer ${options.accessToken}`, accept: "application/json", ...init.headers },
          signal: AbortSignal.any([signal, AbortSignal.timeout(requestTimeoutMs)]),
          ...(init.body === undefined ? {} : { body: init.body }),
        });
        const text = await response.text();
        let json: unknown = undefined;
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
        return { status: response.status, json };
      },
      catch: (error) =>
        new AnchorError({
          reason: error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError") ? "timeout" : "unavailable",
          message: `${action}: Engine cannot be reached (${error instanceof Error ? error.name : "error"})`,
          ...(providerId === undefined ? {} : { providerId }),
        }),
    }).pipe(Effect.flatMap((reply) => (reply.status >= 200 && reply.status < 300 ? Effect.succeed(reply.json) : Effect.fail(httpFailure(action, reply.status, reply.json, providerId)))));

  const transactionStatus = (queueId: string): Effect.Effect<TransactionStatus, AnchorError> =>
    request("transaction status", `/transaction/status/${encodeURIComponent(queueId)}`, { method: "GET" }, queueId).pipe(
      Effect.flatMap((json) => {
        const decoded = Schema.decodeUnknownOption(StatusResponse)(json);
        if (decoded._tag === "None") return Effect.fail(new AnchorError({ reason: "unavailable", message: "transaction status: Engine's answer is not a transaction status", providerId: queueId }));
        const result = decoded.value.result;
        const hash = result.transactionHash?.toLowerCase();
        switch (result.status) {
          case "queued":
            return Effect.succeed<TransactionStatus>({ state: "queued" });
          case "sent":
            return Effect.succeed<TransactionStatus>(isHex32(hash) ? { state: "pending", txHash: hash } : { state: "queued" });
          case "mined":
            if (!isHex32(hash)) return Effect.fail(new AnchorError({ reason: "unavailable", message: "transaction status: Engine reports mined without a transaction hash", providerId: queueId }));
            return Effect.succeed<TransactionStatus>({ state: "mined", txHash: hash, blockNumber: result.blockNumber ?? 0, success: result.onchainStatus !== "reverted" });
          case "errored":
          case "cancelled":
            return Effect.succeed<TransactionStatus>({ state: "errored", message: `Engine ${result.status} the transaction: ${engineErrorText(result.errorMessage)}` });
        }
      }),
    );

  /** Polls the queue until Engine has sent the transaction (a hash exists), it errored, or the wait is over. */
  const awaitHash = (queueId: string): Effect.Effect<Hex32, AnchorError> => {
    const poll: Effect.Effect<Hex32, AnchorError> = transactionStatus(queueId).pipe(
      Effect.flatMap((status) => {
        switch (status.state) {
          case "pending":
          case "mined":
            return Effect.succeed(status.txHash);
          case "errored":
            return Effect.fail(new AnchorError({ reason: "rejected", message: status.message, providerId: queueId }));
          default:
            return Effect.sleep(Duration.millis(pollMs)).pipe(Effect.zipRight(Effect.suspend(() => poll)));
        }
      }),
    );
    return poll.pipe(
      Effect.timeoutFail({
        duration: Duration.millis(sendTimeoutMs),
        onTimeout: () => new AnchorError({ reason: "timeout", message: `Engine has not sent queued transaction ${queueId} within ${sendTimeoutMs} ms`, providerId: queueId }),
      }),
    );
  };

  return {
    kind: "thirdweb-engine",
    submit: ({ root, treeSize, idempotencyKey }) =>
      request("contract write", `/contract/${options.chainId}/${options.contract}/write`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-backend-wallet-address": options.backendWallet,
          ...(idempotencyKey === undefined ? {} : { "x-idempotency-key": idempotencyKey }),
        },
        // uint64 as a decimal string: Engine's args take "numbers, strings", not bigint.
        body: JSON.stringify({ functionName: ANCHOR_FUNCTION_SIGNATURE, args: [root, String(treeSize)] }),
      }).pipe(
        Effect.flatMap((json) => {
          const decoded = Schema.decodeUnknownOption(WriteResponse)(json);
          return decoded._tag === "Some"
            ? Effect.succeed(decoded.value.result.queueId)
            : Effect.fail(new AnchorError({ reason: "unavailable", message: "contract write: Engine's answer has no result.queueId" }));
        }),
        Effect.flatMap((queueId) => Effect.map(awaitHash(queueId), (txHash) => ({ txHash, providerId: queueId }))),
      ),
    transactionStatus,
  };
}

export const ThirdwebEngineSubmitter = {
  layer: (options: ThirdwebEngineSubmitterOptions): Layer.Layer<AnchorSubmitter> => Layer.sync(AnchorSubmitter, () => makeThirdwebEngineSubmitter(options)),
};
