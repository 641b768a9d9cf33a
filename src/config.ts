/**
 * Service configuration from the environment (contract section 1); `zt serve` flags
 * override. Invalid configuration is refused with a message naming the variable.
 */
import { join, resolve } from "node:path";
import type { LogLevelName } from "./platform/Logging.ts";

export type StoreConfig =
  | {
      readonly kind: "sqlite";
      readonly path: string;
      /** How long an append waits for another connection's write lock (`ZT_STORE_BUSY_TIMEOUT_MS`). */
      readonly busyTimeoutMs: number;
    }
  | { readonly kind: "esdb"; readonly url: string };

/** The SQLite busy timeout when `ZT_STORE_BUSY_TIMEOUT_MS` is unset (the adapter's own default). */
export const DEFAULT_STORE_BUSY_TIMEOUT_MS = 5000;

export interface ServiceConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly store: StoreConfig;
  readonly policyDir: string;
  readonly chain: "off" | "local" | { readonly rpcUrl: string };
  readonly checkpointRecords: number;
  readonly checkpointMs: number;
  readonly production: boolean;
  readonly logLevel: LogLevelName;
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

function storeConfig(text: string | undefined, dataDir: string, busyTimeoutMs: number): StoreConfig {
  if (text === undefined || text === "") return { kind: "sqlite", path: join(dataDir, "events.db"), busyTimeoutMs };
  if (text.startsWith("sqlite:")) return { kind: "sqlite", path: resolve(text.slice("sqlite:".length)), busyTimeoutMs };
  if (text.startsWith("esdb://") || text.startsWith("kurrentdb://")) return { kind: "esdb", url: text };
  throw new ConfigError(`ZT_STORE must be sqlite:PATH or esdb://HOST:PORT, got "${text}"`);
}

function chainConfig(text: string | undefined): ServiceConfig["chain"] {
  if (text === undefined || text === "" || text === "local") return "local";
  if (text === "off") return "off";
  if (/^https?:\/\//.test(text)) return { rpcUrl: text };
  throw new ConfigError(`ZT_CHAIN must be local, off or an http(s) RPC URL, got "${text}"`);
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
    store: storeConfig(env["ZT_STORE"], dataDir, integer(env, "ZT_STORE_BUSY_TIMEOUT_MS", DEFAULT_STORE_BUSY_TIMEOUT_MS, 0, 600_000)),
    policyDir: resolve(env["ZT_POLICY_DIR"] || "./policies"),
    chain: chainConfig(env["ZT_CHAIN"]),
    checkpointRecords: integer(env, "ZT_CHECKPOINT_RECORDS", 100, 1, 1_000_000),
    checkpointMs: integer(env, "ZT_CHECKPOINT_MS", 5000, 100, 86_400_000),
    production: mode === "production",
    logLevel,
  };
}
