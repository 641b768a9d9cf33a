/**
 * AnchorSubmitter through a Coinbase Developer Platform server wallet with
 * `@coinbase/cdp-sdk` (documented in the SDK's d.ts and docs.cdp.coinbase.com):
 *
 *   new CdpClient({ apiKeyId, apiKeySecret, walletSecret, basePath? })
 *   cdp.evm.getAccount({ name })                GET  /v2/evm/accounts/by-name/{name}   (404 not_found)
 *   cdp.evm.getOrCreateAccount({ name })        the same, then on 404 POST /v2/evm/accounts { name }
 *   cdp.evm.sendTransaction({ address, network, transaction: { to, data }, idempotencyKey? })
 *                                                POST /v2/evm/accounts/{address}/send/transaction
 *                                                     { transaction: <RLP-encoded EIP-1559 tx>, network }
 *                                                -> { transactionHash }
 *
 * CDP fills in nonce, gas and fees and broadcasts; the hash comes back at once. Requests
 * carry `Authorization: Bearer <JWT signed with the API key secret>` and, on wallet
 * writes, `X-Wallet-Auth: <JWT signed with the wallet secret>`; the secrets themselves
 * never leave the process. CDP has no status endpoint for these transactions, so
 * `transactionStatus` asks the configured RPC. `basePath` (ZT_CDP_BASE_URL) points the
 * SDK elsewhere (tests use a local server); the default is https://api.cdp.coinbase.com/platform.
 *
 * The account is resolved when the layer is built and its address logged, so an operator
 * can authorise it on the DAAL (`setSubmitter`). With `createAccount: false`
 * (ZT_CDP_CREATE_ACCOUNT=false) a name that does not exist is a configuration error,
 * instead of a new, empty account that the DAAL does not know.
 *
 * Idempotency (docs.cdp.coinbase.com/api-reference/v2/idempotency, /errors): a repeat
 * with the same `X-Idempotency-Key` within 24 h returns the first answer; `409
 * already_exists` means a request with that key is still being processed, so it is asked
 * again with the same key until it answers or the call's time is up; `422
 * idempotency_error` means the key was used with another request. The key comes from the
 * sidecar, which keeps it across attempts whose outcome is unknown.
 *
 * Three SDK behaviours are handled here:
 * - it reports usage and errors to Coinbase's analytics endpoint unless
 *   DISABLE_CDP_USAGE_TRACKING / DISABLE_CDP_ERROR_REPORTING are "true". A control plane
 *   that promises nothing leaves it sends no telemetry: both default to "true" here
 *   (an operator may set them to "false").
 * - its HTTP configuration is process-wide (CdpOpenApiClient.configure), so one CDP
 *   configuration per process.
 * - its HTTP client (axios) has no timeout and the SDK takes no AbortSignal, so a call
 *   abandoned at the adapter's timeout would stay open (axios-retry even re-sends after
 *   network errors). The SDK's own axios instance gets the timeout instead: axios then
 *   aborts the request, and its ECONNABORTED is not retried.
 */
import { CdpClient } from "@coinbase/cdp-sdk";
import { Duration, Effect, Layer, Schedule } from "effect";
import { encodeFunctionData, getAddress, type PublicClient } from "viem";
import { AnchorError, AnchorSubmitter, isHex32, type Address, type AnchorSubmitterShape, type Hex32 } from "../../ports/AnchorSubmitter.ts";
import { DAAL_ABI } from "../../generated/daalArtifact.ts";
import { rpcPublicClient } from "../rpc/rpcPublicClient.ts";
import { rpcTransactionStatus } from "../rpc/rpcTransactionStatus.ts";

export type CdpNetwork = "base" | "base-sepolia";

/** EIP-155 chain ids of the networks this adapter sends to. */
export const CDP_NETWORK_CHAIN_IDS: Readonly<Record<CdpNetwork, number>> = { base: 8453, "base-sepolia": 84532 };

export interface CdpSubmitterOptions {
  readonly apiKeyId: string;
  readonly apiKeySecret: string;
  readonly walletSecret: string;
  /** The server account's name (ZT_CDP_ACCOUNT_NAME). */
  readonly accountName: string;
  /** Create the account when no account has the name (ZT_CDP_CREATE_ACCOUNT); default true. */
  readonly createAccount?: boolean;
  readonly network: CdpNetwork;
  readonly contract: Address;
  /** RPC of the same network, for transactionStatus. */
  readonly rpcUrl: string;
  /** ZT_CDP_BASE_URL: the CDP API base, for tests. */
  readonly basePath?: string;
  /** Per CDP call (the SDK's HTTP client has no timeout of its own). */
  readonly requestTimeoutMs?: number;
}

interface SdkFailure {
  readonly name?: unknown;
  readonly statusCode?: unknown;
  readonly errorType?: unknown;
  readonly correlationId?: unknown;
}

/** CDP's answer to a key whose first request is still being processed: ask again, same key. */
const IN_PROGRESS = "already_exists";
const ASK_AGAIN_MS = 500;

function causeChain(error: unknown): ReadonlyArray<{ readonly name: string; readonly message: string }> {
  const chain: Array<{ name: string; message: string }> = [];
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    chain.push({ name: current.name, message: current.message });
    current = current.cause;
  }
  return chain;
}

/**
 * Maps what the SDK throws (APIError with statusCode/errorType, NetworkError,
 * UserInputValidationError, key-format errors) to AnchorError. Only the status, the
 * error type and the correlation id are kept: SDK messages can quote response bodies.
 */
export function cdpAnchorError(error: unknown, action: string): AnchorError {
  const failure = (typeof error === "object" && error !== null ? error : {}) as SdkFailure;
  const name = typeof failure.name === "string" ? failure.name : "Error";
  const errorType = typeof failure.errorType === "string" && /^[a-z0-9_]{1,64}$/.test(failure.errorType) ? failure.errorType : undefined;
  const status = typeof failure.statusCode === "number" ? failure.statusCode : undefined;
  const correlation = typeof failure.correlationId === "string" && /^[A-Za-z0-9-]{1,64}$/.test(failure.correlationId) ? `, correlation ${failure.correlationId}` : "";
  const what = `${action}: CDP ${[status === undefined || status === 0 ? undefined : `HTTP ${status}`, errorType].filter(Boolean).join(" ") || name}${correlation}`;
  if (name === "NetworkError") {
    // A gateway 403 that blocks this IP address: only an allowlist change in the CDP portal helps.
    if (errorType === "network_ip_blocked") {
      return new AnchorError({ reason: "misconfigured", message: `${action}: CDP refuses this IP address (network_ip_blocked; check the API key's IP allowlist)` });
    }
    return new AnchorError({ reason: errorType === "network_timeout" ? "timeout" : "unavailable", message: `${action}: CDP cannot be reached (${errorType ?? "network error"})` });
  }
  if (status === undefined || status === 0) {
    // No HTTP answer: a missing or malformed API key or wallet secret is refused before
    // sending, sometimes wrapped (UnknownError with a cause). Names and messages are read
    // to classify only; none of their text is kept.
    const configuration = causeChain(error).some((e) => /UserInputValidation|WalletSecret|APIKeyFormat/.test(e.name) || /\bJWT\b|key format|EC key|Ed25519 key/i.test(e.message));
    return new AnchorError({ reason: configuration ? "misconfigured" : "unavailable", message: configuration ? `${action}: the CDP API key or wallet secret is missing or malformed (${name})` : what });
  }
  if (status === 401 || status === 403) return new AnchorError({ reason: "misconfigured", message: `${what} (check the API key, wallet secret and account policy)` });
  if (status === 402 || errorType === "payment_method_required") return new AnchorError({ reason: "misconfigured", message: `${what} (add a payment method to the CDP project)` });
  if (status === 422 && errorType === "idempotency_error") {
    return new AnchorError({ reason: "misconfigured", message: `${what} (the idempotency key was used with another request: was the account or network changed?)` });
  }
  if (status === 409 && errorType === IN_PROGRESS) return new AnchorError({ reason: "timeout", message: `${what} (a request with this idempotency key is still being processed)` });
  if (status === 408) return new AnchorError({ reason: "timeout", message: what });
  if (status === 429 || status >= 500) return new AnchorError({ reason: "unavailable", message: what });
  return new AnchorError({ reason: "rejected", message: what });
}

/**
 * The SDK's own HTTP client. It is not exported, so its module is reached by URL next to
 * the SDK's entry point: the very module the SDK loaded, not a copy.
 */
const sdkHttp = (await import(new URL("./openapi-client/index.js", import.meta.resolve("@coinbase/cdp-sdk")).href)) as {
  readonly CdpOpenApiClient: { readonly getAxiosInstance: () => { defaults: { timeout?: number } } };
};

/** A CDP error that says a request with this idempotency key is still being processed. */
function stillProcessing(error: unknown): boolean {
  const failure = (typeof error === "object" && error !== null ? error : {}) as SdkFailure;
  return failure.statusCode === 409 && failure.errorType === IN_PROGRESS;
}

function notFound(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as SdkFailure).statusCode === 404;
}

export function makeCdpSubmitter(options: CdpSubmitterOptions, publicClient?: PublicClient): AnchorSubmitterShape & { readonly account: Effect.Effect<Address, AnchorError> } {
  process.env["DISABLE_CDP_USAGE_TRACKING"] ??= "true";
  process.env["DISABLE_CDP_ERROR_REPORTING"] ??= "true";
  const cdp = new CdpClient({
    apiKeyId: options.apiKeyId,
    apiKeySecret: options.apiKeySecret,
    walletSecret: options.walletSecret,
    ...(options.basePath === undefined ? {} : { basePath: options.basePath }),
  });
  const contract = getAddress(options.contract);
  const reader = publicClient ?? rpcPublicClient({ rpcUrl: options.rpcUrl, chainId: CDP_NETWORK_CHAIN_IDS[options.network] });
  const timeoutMs = options.requestTimeoutMs ?? 30_000;
  // Set after the client is built: building one configures a new process-wide instance.
  sdkHttp.CdpOpenApiClient.getAxiosInstance().defaults.timeout = timeoutMs;

  const bounded = <A>(action: string, effect: Effect.Effect<A, AnchorError>): Effect.Effect<A, AnchorError> =>
    effect.pipe(Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new AnchorError({ reason: "timeout", message: `${action}: CDP did not answer within ${timeoutMs} ms` }) }));

  /** One SDK call, bounded; `again` says which failures to ask again, with the same arguments, until the time is up. */
  const call = <A>(action: string, run: () => Promise<A>, again: (error: unknown) => boolean = () => false): Effect.Effect<A, AnchorError> =>
    bounded(
      action,
      Effect.tryPromise({ try: run, catch: (error) => error }).pipe(
        Effect.retry({ while: again, schedule: Schedule.spaced(Duration.millis(ASK_AGAIN_MS)) }),
        Effect.mapError((error) => cdpAnchorError(error, action)),
      ),
    );

  const lookUp =
    options.createAccount === false
      ? bounded(
          "getAccount",
          Effect.tryPromise({ try: () => cdp.evm.getAccount({ name: options.accountName }), catch: (error) => error }).pipe(
            Effect.mapError((error) =>
              notFound(error)
                ? new AnchorError({ reason: "misconfigured", message: `getAccount: no CDP account is named ${options.accountName} (ZT_CDP_CREATE_ACCOUNT=false; check ZT_CDP_ACCOUNT_NAME)` })
                : cdpAnchorError(error, "getAccount"),
            ),
          ),
        )
      : call("getOrCreateAccount", () => cdp.evm.getOrCreateAccount({ name: options.accountName }));

  // The account is looked up (or created) once; a failed lookup is tried again on the next submit.
  let resolved: Address | undefined;
  const account = Effect.suspend(() =>
    resolved !== undefined
      ? Effect.succeed(resolved)
      : lookUp.pipe(
          Effect.map((found) => getAddress(found.address)),
          Effect.tap((address) =>
            Effect.sync(() => (resolved = address)).pipe(
              Effect.zipRight(
                Effect.logInfo("CDP anchoring account (authorise it on the DAAL with setSubmitter)").pipe(
                  Effect.annotateLogs({ address, account_name: options.accountName, network: options.network }),
                ),
              ),
            ),
          ),
        ),
  );

  return {
    kind: "cdp",
    account,
    submit: ({ root, treeSize, idempotencyKey }) =>
      Effect.gen(function* () {
        const address = yield* account;
        const data = encodeFunctionData({ abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, BigInt(treeSize)] });
        const result = yield* call(
          "sendTransaction",
          () =>
            cdp.evm.sendTransaction({
              address,
              network: options.network,
              transaction: { to: contract, data },
              ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
            }),
          stillProcessing,
        );
        const txHash = result.transactionHash.toLowerCase();
        if (!isHex32(txHash)) return yield* Effect.fail(new AnchorError({ reason: "unavailable", message: "sendTransaction: CDP's answer has no transaction hash" }));
        return { txHash: txHash as Hex32 };
      }),
    transactionStatus: (ref) => rpcTransactionStatus(reader, ref),
  };
}

export const CdpSubmitter = {
  /**
   * The CDP submitter, its account looked up (and logged) while the layer is built: a
   * missing account with ZT_CDP_CREATE_ACCOUNT=false, or refused credentials, stop
   * startup; CDP being unreachable only defers the lookup to the first anchor.
   */
  layer: (options: CdpSubmitterOptions): Layer.Layer<AnchorSubmitter, AnchorError> =>
    Layer.effect(
      AnchorSubmitter,
      Effect.gen(function* () {
        const submitter = yield* Effect.try({ try: () => makeCdpSubmitter(options), catch: (error) => cdpAnchorError(error, "CdpClient") });
        const looked = yield* Effect.either(submitter.account);
        if (looked._tag === "Left") {
          if (looked.left.reason === "misconfigured") return yield* Effect.fail(looked.left);
          yield* Effect.logWarning("the CDP account cannot be looked up yet; the first anchor tries again").pipe(
            Effect.annotateLogs({ reason: looked.left.reason, detail: looked.left.message }),
          );
        }
        return submitter;
      }),
    ),
};
