/**
 * AnchorSubmitter through a Coinbase Developer Platform server wallet with
 * `@coinbase/cdp-sdk` (documented in the SDK's d.ts and docs.cdp.coinbase.com):
 *
 *   new CdpClient({ apiKeyId, apiKeySecret, walletSecret, basePath? })
 *   cdp.evm.getOrCreateAccount({ name })        GET  /v2/evm/accounts/by-name/{name}
 *                                                (404 -> POST /v2/evm/accounts { name } -> EvmAccount { address, name, ... })
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
 * Two SDK behaviours are handled here:
 * - it reports usage and errors to Coinbase's analytics endpoint unless
 *   DISABLE_CDP_USAGE_TRACKING / DISABLE_CDP_ERROR_REPORTING are "true". A control plane
 *   that promises nothing leaves it sends no telemetry: both default to "true" here
 *   (an operator may set them to "false").
 * - its HTTP configuration is process-wide (CdpOpenApiClient.configure), so one CDP
 *   configuration per process.
 */
import { CdpClient } from "@coinbase/cdp-sdk";
import { Duration, Effect, Layer } from "effect";
import { encodeFunctionData, getAddress, type PublicClient } from "viem";
import { AnchorError, AnchorSubmitter, isHex32, type Address, type AnchorSubmitterShape, type Hex32 } from "../AnchorSubmitter.ts";
import { DAAL_ABI } from "../daalArtifact.ts";
import { rpcPublicClient } from "../rpc/rpcPublicClient.ts";
import { rpcTransactionStatus } from "../rpc/rpcTransactionStatus.ts";

export type CdpNetwork = "base" | "base-sepolia";

/** EIP-155 chain ids of the networks this adapter sends to. */
export const CDP_NETWORK_CHAIN_IDS: Readonly<Record<CdpNetwork, number>> = { base: 8453, "base-sepolia": 84532 };

export interface CdpSubmitterOptions {
  readonly apiKeyId: string;
  readonly apiKeySecret: string;
  readonly walletSecret: string;
  /** The server account's name (ZT_CDP_ACCOUNT_NAME); created on first use. */
  readonly accountName: string;
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
  if (status === 408) return new AnchorError({ reason: "timeout", message: what });
  if (status === 429 || status >= 500) return new AnchorError({ reason: "unavailable", message: what });
  return new AnchorError({ reason: "rejected", message: what });
}

export function makeCdpSubmitter(options: CdpSubmitterOptions, publicClient?: PublicClient): AnchorSubmitterShape {
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

  const call = <A>(action: string, run: () => Promise<A>): Effect.Effect<A, AnchorError> =>
    Effect.tryPromise({ try: run, catch: (error) => cdpAnchorError(error, action) }).pipe(
      Effect.timeoutFail({ duration: Duration.millis(timeoutMs), onTimeout: () => new AnchorError({ reason: "timeout", message: `${action}: CDP did not answer within ${timeoutMs} ms` }) }),
    );

  // The account is looked up (or created) once; a failed lookup is retried on the next submit.
  let account: Address | undefined;
  const accountAddress = Effect.suspend(() =>
    account !== undefined
      ? Effect.succeed(account)
      : call("getOrCreateAccount", () => cdp.evm.getOrCreateAccount({ name: options.accountName })).pipe(
          Effect.map((found) => getAddress(found.address)),
          Effect.tap((address) => Effect.sync(() => (account = address))),
        ),
  );

  return {
    kind: "cdp",
    submit: ({ root, treeSize, idempotencyKey }) =>
      Effect.gen(function* () {
        const address = yield* accountAddress;
        const data = encodeFunctionData({ abi: DAAL_ABI, functionName: "anchorCheckpoint", args: [root, BigInt(treeSize)] });
        const result = yield* call("sendTransaction", () =>
          cdp.evm.sendTransaction({
            address,
            network: options.network,
            transaction: { to: contract, data },
            ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
          }),
        );
        const txHash = result.transactionHash.toLowerCase();
        if (!isHex32(txHash)) return yield* Effect.fail(new AnchorError({ reason: "unavailable", message: "sendTransaction: CDP's answer has no transaction hash" }));
        return { txHash: txHash as Hex32 };
      }),
    transactionStatus: (ref) => rpcTransactionStatus(reader, ref),
  };
}

export const CdpSubmitter = {
  layer: (options: CdpSubmitterOptions): Layer.Layer<AnchorSubmitter, AnchorError> =>
    Layer.effect(
      AnchorSubmitter,
      Effect.try({ try: () => makeCdpSubmitter(options), catch: (error) => cdpAnchorError(error, "CdpClient") }),
    ),
};
