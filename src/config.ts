/**
 * Service configuration from the environment (contract section 1); `zt serve` flags
 * override. Invalid configuration is refused with a message naming the variable.
 */
import { join, resolve } from "node:path";
import { clientConnectionString, DEFAULT_STREAM_PREFIX, isEventStoreDbUrl, streamPrefixProblem } from "./events/esdb/esdbMapping.ts";
import type { DockerEndpoint } from "./execution/docker/DockerBroker.ts";
import type { LogLevelName } from "./platform/Logging.ts";

export type StoreConfig =
  | {
      readonly kind: "sqlite";
      readonly path: string;
      /** How long an append waits for another connection's write lock (`ZT_STORE_BUSY_TIMEOUT_MS`). */
      readonly busyTimeoutMs: number;
    }
  | {
      readonly kind: "esdb";
      /** Holds credentials in its userinfo: never logged or echoed. */
      readonly url: string;
      /** Prefix of this store's streams on the server (`ZT_STORE_STREAM_PREFIX`). */
      readonly streamPrefix: string;
    };

/** The SQLite busy timeout when `ZT_STORE_BUSY_TIMEOUT_MS` is unset (the adapter's own default). */
export const DEFAULT_STORE_BUSY_TIMEOUT_MS = 5000;

/** How anchors are sent on an RPC chain (`ZT_SUBMITTER`); every field but the kind is a setting, some of them secrets. */
export type SubmitterConfig =
  | { readonly kind: "direct"; readonly privateKey: string }
  | {
      readonly kind: "thirdweb-engine";
      /** Engine Cloud's base URL; the adapter's default (https://engine.thirdweb.com) when unset. */
      readonly engineUrl?: string;
      readonly secretKey: string;
      readonly vaultAccessToken?: string;
      /** The server wallet's EOA. */
      readonly serverWallet: string;
    }
  | {
      readonly kind: "cdp";
      readonly apiKeyId: string;
      readonly apiKeySecret: string;
      readonly walletSecret: string;
      readonly accountName: string;
      /** Create the named account when it does not exist (`ZT_CDP_CREATE_ACCOUNT`), else refuse to start. */
      readonly createAccount: boolean;
      readonly network: "base" | "base-sepolia";
      readonly basePath?: string;
    };

/** `ZT_CHAIN=<RPC URL>`: an existing chain with a deployed DAAL. */
export interface RpcChainConfig {
  /** Often embeds a provider API key: never logged or echoed. */
  readonly rpcUrl: string;
  readonly chainId: number;
  readonly daalAddress: string;
  readonly submitter: SubmitterConfig;
}

/** Timing of the anchoring sidecar (`ZT_ANCHOR_*`). */
export interface AnchoringTuning {
  readonly confirmations: number;
  readonly pollMs: number;
  readonly receiptTimeoutMs: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  readonly rpcTimeoutMs: number;
}

export interface ServiceConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly policyDir: string;
  /** A candidate bundle evaluated beside the active one (`ZT_POLICY_CANDIDATE_DIR`), if any. */
  readonly policyCandidateDir: string | undefined;
  readonly chain: "off" | "local" | RpcChainConfig;
  readonly anchoring: AnchoringTuning;
  readonly checkpointRecords: number;
  readonly checkpointMs: number;
  /** The Docker engine of the docker broker (`ZT_DOCKER_HOST`, else `DOCKER_HOST`). */
  readonly docker: DockerEndpoint;
  readonly production: boolean;
  readonly logLevel: LogLevelName;
  /** OpenTelemetry spans exported over OTLP/HTTP: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, and neither `OTEL_SDK_DISABLED=true` nor `OTEL_TRACES_EXPORTER=none`. */
  readonly otlpTracing: boolean;
  /** The MCP gateway's session limits (`ZT_MCP_MAX_SESSIONS`, `ZT_MCP_SESSION_IDLE_SECONDS`). */
  readonly mcp: McpGatewayConfig;
}

export interface McpGatewayConfig {
  /** Open sessions at most (each holds a connection, for stdio a process, per upstream it reaches). */
  readonly maxSessions: number;
  /** A session nobody used for this long is closed with its upstream sessions. */
  readonly idleSeconds: number;
}

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

type Env = Readonly<Record<string, string | undefined>>;

function integer(env: Env, name: string, fallback: number, min: number, max: number): number {
  const text = env[name];
  if (text === undefined || text === "") return fallback;
  const value = Number(text);
  if (!Number.isInteger(value) || value < min || value > max) throw new ConfigError(`${name} must be an integer in [${min}, ${max}], got "${text}"`);
  return value;
}


function storeConfig(env: Env, dataDir: string, busyTimeoutMs: number): StoreConfig {
  const text = env["ZT_STORE"];
  if (text === undefined || text === "") return { kind: "sqlite", path: join(dataDir, "events.db"), busyTimeoutMs };
  if (text.startsWith("sqlite:")) return { kind: "sqlite", path: resolve(text.slice("sqlite:".length)), busyTimeoutMs };
  if (isEventStoreDbUrl(text)) {
    // Refused here, not at the first connection, and without repeating the URL.
    const parsed = clientConnectionString(text);
    if ("problem" in parsed) throw new ConfigError(`ZT_STORE: the EventStoreDB connection string is refused: ${parsed.problem}`);
    const streamPrefix = env["ZT_STORE_STREAM_PREFIX"] || DEFAULT_STREAM_PREFIX;
    const problem = streamPrefixProblem(streamPrefix);
    if (problem !== undefined) throw new ConfigError(`ZT_STORE_STREAM_PREFIX: ${problem}, got "${streamPrefix}"`);
    return { kind: "esdb", url: text, streamPrefix };
  }
  // The value is not repeated: a store URL carries credentials in its userinfo.
  throw new ConfigError("ZT_STORE must be sqlite:PATH or esdb://HOST:PORT (kurrentdb://, seed lists a:2113,b:2113 and +discover too)");
}

const CDP_CHAIN_IDS = { base: 8453, "base-sepolia": 84532 } as const;
const ADDRESS = /^0x[0-9a-fA-F]{40}$/;
const HTTP_URL = /^https?:\/\/\S+$/;

/** The submitter settings of `ZT_SUBMITTER`, collecting the names of missing variables. Secrets are never echoed. */
function submitterConfig(env: Env, missing: string[]): { submitter: SubmitterConfig | undefined; impliedChainId?: number } {
  const kind = env["ZT_SUBMITTER"] || "direct";
  const value = (name: string) => {
    const text = env[name];
    if (text === undefined || text === "") missing.push(name);
    return text ?? "";
  };
  switch (kind) {
    case "direct": {
      const privateKey = value("ZT_SUBMITTER_PRIVATE_KEY");
      if (privateKey !== "" && !/^0x[0-9a-fA-F]{64}$/.test(privateKey)) throw new ConfigError("ZT_SUBMITTER_PRIVATE_KEY must be 0x followed by 64 hex digits");
      return { submitter: { kind, privateKey } };
    }
    case "thirdweb-engine": {
      const secretKey = value("ZT_ENGINE_SECRET_KEY");
      const serverWallet = value("ZT_ENGINE_SERVER_WALLET");
      if (secretKey === "" && (env["ZT_ENGINE_ACCESS_TOKEN"] || env["ZT_ENGINE_BACKEND_WALLET"])) {
        throw new ConfigError(
          "ZT_ENGINE_ACCESS_TOKEN and ZT_ENGINE_BACKEND_WALLET are settings of self-hosted Engine v2, which is not supported: ZT_SUBMITTER=thirdweb-engine uses Engine Cloud with ZT_ENGINE_SECRET_KEY and ZT_ENGINE_SERVER_WALLET (the server wallet's EOA)",
        );
      }
      const engineUrl = env["ZT_ENGINE_URL"] || undefined;
      const vaultAccessToken = env["ZT_ENGINE_VAULT_ACCESS_TOKEN"] || undefined;
      if (engineUrl !== undefined && !HTTP_URL.test(engineUrl)) throw new ConfigError("ZT_ENGINE_URL must be an http(s) URL");
      if (serverWallet !== "" && !ADDRESS.test(serverWallet)) throw new ConfigError(`ZT_ENGINE_SERVER_WALLET must be a 0x address (the server wallet's EOA), got "${serverWallet}"`);
      return {
        submitter: {
          kind,
          secretKey,
          serverWallet,
          ...(engineUrl === undefined ? {} : { engineUrl }),
          ...(vaultAccessToken === undefined ? {} : { vaultAccessToken }),
        },
      };
    }
    case "cdp": {
      const apiKeyId = value("CDP_API_KEY_ID");
      const apiKeySecret = value("CDP_API_KEY_SECRET");
      const walletSecret = value("CDP_WALLET_SECRET");
      const accountName = env["ZT_CDP_ACCOUNT_NAME"] || "zt-infra-anchor";
      if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,34}[A-Za-z0-9]$/.test(accountName)) throw new ConfigError(`ZT_CDP_ACCOUNT_NAME must be 2-36 letters, digits and inner hyphens, got "${accountName}"`);
      const network = env["ZT_CDP_NETWORK"] || "base-sepolia";
      if (network !== "base" && network !== "base-sepolia") throw new ConfigError(`ZT_CDP_NETWORK must be base or base-sepolia, got "${network}"`);
      const basePath = env["ZT_CDP_BASE_URL"] || undefined;
      if (basePath !== undefined && !HTTP_URL.test(basePath)) throw new ConfigError("ZT_CDP_BASE_URL must be an http(s) URL");
      const create = env["ZT_CDP_CREATE_ACCOUNT"] || "true";
      if (create !== "true" && create !== "false") throw new ConfigError(`ZT_CDP_CREATE_ACCOUNT must be true or false, got "${create}"`);
      return {
        submitter: { kind, apiKeyId, apiKeySecret, walletSecret, accountName, createAccount: create === "true", network, ...(basePath === undefined ? {} : { basePath }) },
        impliedChainId: CDP_CHAIN_IDS[network],
      };
    }
    default:
      throw new ConfigError(`ZT_SUBMITTER must be direct, thirdweb-engine or cdp, got "${kind}"`);
  }
}

function chainConfig(text: string | undefined, env: Env): ServiceConfig["chain"] {
  if (text === undefined || text === "" || text === "local") return "local";
  if (text === "off") return "off";
  if (!HTTP_URL.test(text)) throw new ConfigError(`ZT_CHAIN must be local, off or an http(s) RPC URL, got "${text}"`);
  const missing: string[] = [];
  const daalAddress = env["ZT_DAAL_ADDRESS"] ?? "";
  if (daalAddress === "") missing.push("ZT_DAAL_ADDRESS");
  else if (!ADDRESS.test(daalAddress)) throw new ConfigError(`ZT_DAAL_ADDRESS must be a 0x address, got "${daalAddress}"`);
  const { submitter, impliedChainId } = submitterConfig(env, missing);
  let chainId = impliedChainId;
  const chainIdText = env["ZT_CHAIN_ID"];
  if (chainIdText !== undefined && chainIdText !== "") {
    const parsed = Number(chainIdText);
    if (!Number.isSafeInteger(parsed) || parsed < 1) throw new ConfigError(`ZT_CHAIN_ID must be a positive integer, got "${chainIdText}"`);
    if (impliedChainId !== undefined && parsed !== impliedChainId) throw new ConfigError(`ZT_CHAIN_ID ${parsed} is not the chain of ZT_CDP_NETWORK (${impliedChainId})`);
    chainId = parsed;
  } else if (chainId === undefined) {
    missing.push("ZT_CHAIN_ID");
  }
  // The URL itself is not repeated: provider URLs usually embed an API key.
  if (missing.length > 0 || submitter === undefined || chainId === undefined) {
    throw new ConfigError(`ZT_CHAIN is an RPC URL, so anchoring needs ${missing.join(", ")} (ZT_SUBMITTER=${env["ZT_SUBMITTER"] || "direct"})`);
  }
  return { rpcUrl: text, chainId, daalAddress, submitter };
}

export const DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock";

/** `unix:///PATH`, or `tcp://HOST:PORT` for an engine serving plain HTTP (TLS engines are reached through a local socket or tunnel). */
function dockerEndpoint(env: Env): DockerEndpoint {
  const name = env["ZT_DOCKER_HOST"] ? "ZT_DOCKER_HOST" : env["DOCKER_HOST"] ? "DOCKER_HOST" : undefined;
  const text = name === undefined ? DEFAULT_DOCKER_HOST : (env[name] as string);
  if (text.startsWith("unix://") && text.length > "unix://".length) return { socketPath: text.slice("unix://".length) };
  const tcp = /^(?:tcp|http):\/\/([^/:\s]+):(\d{1,5})\/?$/.exec(text);
  if (tcp !== null && Number(tcp[2]) <= 65535) return { host: tcp[1]!, port: Number(tcp[2]) };
  throw new ConfigError(`${name} must be unix:///PATH or tcp://HOST:PORT, got "${text}"`);
}

export function loadConfig(env: Env = process.env): ServiceConfig {
  const dataDir = resolve(env["ZT_DATA_DIR"] || "./data");
  const mode = env["ZT_ENV"] || "development";
  if (mode !== "development" && mode !== "production") throw new ConfigError(`ZT_ENV must be development or production, got "${mode}"`);
  const logLevel = (env["ZT_LOG_LEVEL"] || "info") as LogLevelName;
  if (!["debug", "info", "warn", "error", "none"].includes(logLevel)) throw new ConfigError(`ZT_LOG_LEVEL must be debug, info, warn, error or none`);
  return {
    host: env["ZT_HOST"] || "127.0.0.1",
    port: integer(env, "ZT_PORT", 8787, 0, 65535),
    dataDir,
    store: storeConfig(env, dataDir, integer(env, "ZT_STORE_BUSY_TIMEOUT_MS", DEFAULT_STORE_BUSY_TIMEOUT_MS, 0, 600_000)),
    policyDir: resolve(env["ZT_POLICY_DIR"] || "./policies"),
    policyCandidateDir: env["ZT_POLICY_CANDIDATE_DIR"] ? resolve(env["ZT_POLICY_CANDIDATE_DIR"]) : undefined,
    chain: chainConfig(env["ZT_CHAIN"], env),
    anchoring: {
      confirmations: integer(env, "ZT_ANCHOR_CONFIRMATIONS", 1, 1, 1000),
      pollMs: integer(env, "ZT_ANCHOR_POLL_MS", 1000, 10, 600_000),
      receiptTimeoutMs: integer(env, "ZT_ANCHOR_RECEIPT_TIMEOUT_MS", 120_000, 100, 86_400_000),
      retryBaseMs: integer(env, "ZT_ANCHOR_RETRY_BASE_MS", 1000, 10, 3_600_000),
      retryMaxMs: integer(env, "ZT_ANCHOR_RETRY_MAX_MS", 60_000, 10, 86_400_000),
      rpcTimeoutMs: integer(env, "ZT_ANCHOR_RPC_TIMEOUT_MS", 10_000, 100, 600_000),
    },
    checkpointRecords: integer(env, "ZT_CHECKPOINT_RECORDS", 100, 1, 1_000_000),
    checkpointMs: integer(env, "ZT_CHECKPOINT_MS", 5000, 100, 86_400_000),
    docker: dockerEndpoint(env),
    production: mode === "production",
    logLevel,
    otlpTracing: Boolean(env["OTEL_EXPORTER_OTLP_ENDPOINT"] || env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"]) && env["OTEL_SDK_DISABLED"] !== "true" && env["OTEL_TRACES_EXPORTER"] !== "none",
    mcp: {
      maxSessions: integer(env, "ZT_MCP_MAX_SESSIONS", 64, 1, 10_000),
      idleSeconds: integer(env, "ZT_MCP_SESSION_IDLE_SECONDS", 3600, 10, 604_800),
    },
  };
}
