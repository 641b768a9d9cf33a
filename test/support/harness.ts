/**
 * An in-process control plane for HTTP tests: real SQLite store in a temp directory,
 * real policy bundle, real keys and tokens from the development bootstrap, driven
 * through `app.request()` with no socket. Logs are captured so tests can assert that no
 * secret reaches them.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect } from "effect";
import { loadConfig, type ServiceConfig } from "../../src/config.ts";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { EventStore, type RecordedEvent } from "../../src/events/EventStore.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { makeLogSink } from "../../src/platform/Logging.ts";
import { buildApp, type BuiltApp } from "../../src/server.ts";

export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const EXAMPLE_POLICY_DIR = join(REPO_ROOT, "policies");

export interface DevCredentials {
  /** The v1 `operator_token`: operator:alice's. */
  readonly operator: string;
  readonly alice: string;
  readonly bob: string;
  readonly desk7: string;
  readonly ops1: string;
}

export interface Reply {
  readonly status: number;
  readonly headers: Headers;
  readonly json: any;
  readonly text: string;
}

export interface RequestOptions {
  readonly token?: string;
  /** Serialised with JSON.stringify. */
  readonly json?: unknown;
  /** Sent as is. */
  readonly body?: string | Uint8Array;
  readonly headers?: Record<string, string>;
}

export interface Harness {
  readonly dataDir: string;
  readonly config: ServiceConfig;
  readonly built: BuiltApp;
  readonly tokens: DevCredentials;
  /** Every log line written so far. */
  readonly logs: string[];
  readonly request: (method: string, path: string, options?: RequestOptions) => Promise<Reply>;
  /** Issues a permit through `POST /permits` as the operator. */
  readonly issuePermit: (request: Record<string, unknown>) => Promise<Permit>;
  /** Replaces the market snapshot as the operator (as_of defaults to now). */
  readonly putSnapshot: (prices: Record<string, number>, asOf?: string) => Promise<Reply>;
  /** Every ActionDecided event in the store, in global order. */
  readonly decisionEvents: () => Promise<ReadonlyArray<RecordedEvent>>;
  /** Closes the runtime (and the store); with `keepData` the directory survives for a restart. */
  readonly close: (options?: { keepData?: boolean }) => Promise<void>;
}

export function readDevCredentials(dataDir: string): DevCredentials {
  const file = JSON.parse(readFileSync(join(dataDir, "dev-credentials.json"), "utf8"));
  return {
    operator: file.operator_token,
    alice: file.operators["operator:alice"],
    bob: file.operators["operator:bob"],
    desk7: file.agents["agent:desk-7"],
    ops1: file.agents["agent:ops-1"],
  };
}

export function tempDir(prefix = "zt-test-"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A copy of the example policy bundle (in `dir`, else a new temporary directory the caller removes) whose manifest `edit` changed in place. */
export function examplePolicyWith(edit: (manifest: any) => void, dir = tempDir("zt-policy-")): string {
  cpSync(EXAMPLE_POLICY_DIR, dir, { recursive: true });
  const manifest = JSON.parse(readFileSync(join(dir, "policy.json"), "utf8"));
  edit(manifest);
  writeFileSync(join(dir, "policy.json"), JSON.stringify(manifest, null, 2));
  return dir;
}

export async function makeHarness(options: { dataDir?: string; policyDir?: string; env?: Record<string, string> } = {}): Promise<Harness> {
  const dataDir = options.dataDir ?? tempDir();
  const config = loadConfig({
    ZT_DATA_DIR: dataDir,
    ZT_POLICY_DIR: options.policyDir ?? EXAMPLE_POLICY_DIR,
    ZT_CHAIN: "off",
    ...options.env,
  });
  const logs: string[] = [];
  const built = await buildApp(config, makeLogSink("debug", (line) => logs.push(line)));
  const tokens = readDevCredentials(dataDir);

  const request = async (method: string, path: string, opts: RequestOptions = {}): Promise<Reply> => {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.token !== undefined) headers["authorization"] = `Bearer ${opts.token}`;
    let body: BodyInit | undefined = opts.body as BodyInit | undefined;
    if (opts.json !== undefined) {
      body = JSON.stringify(opts.json);
      headers["content-type"] ??= "application/json";
    }
    const response = await built.app.request(path, { method, headers, ...(body === undefined ? {} : { body }) });
    // An event stream never ends by itself: answer its status and headers only.
    if (response.headers.get("content-type")?.startsWith("text/event-stream")) {
      await response.body?.cancel();
      return { status: response.status, headers: response.headers, json: undefined, text: "" };
    }
    const text = await response.text();
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: response.status, headers: response.headers, json, text };
  };

  const issuePermit = async (permitRequest: Record<string, unknown>): Promise<Permit> => {
    const reply = await request("POST", "/permits", { token: tokens.operator, json: permitRequest });
    if (reply.status !== 201) throw new Error(`POST /permits answered ${reply.status}: ${reply.text}`);
    return reply.json as Permit;
  };

  const putSnapshot = (prices: Record<string, number>, asOf = new Date().toISOString()) =>
    request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: asOf, prices } });

  const decisionEvents = async () => {
    const all: RecordedEvent[] = [];
    for (let after = 0; ; ) {
      const page = await built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readAll({ after, limit: 10_000 })));
      all.push(...page.filter((event) => event.type === ACTION_DECIDED));
      const last = page.at(-1);
      if (last === undefined) return all;
      after = last.position;
    }
  };

  const close = async (closeOptions: { keepData?: boolean } = {}) => {
    await built.runtime.dispose();
    if (!closeOptions.keepData && options.dataDir === undefined) rmSync(dataDir, { recursive: true, force: true });
  };

  return { dataDir, config, built, tokens, logs, request, issuePermit, putSnapshot, decisionEvents, close };
}

/** A `swap.execute` request body for desk-7 on Jupiter, with overrides. */
export function swapRequest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    actor: "agent:desk-7",
    action: "swap.execute",
    resource: "solana:mainnet/jupiter",
    intent: { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 },
    ...overrides,
  };
}

/** The seed's permit constraints for desk-7 swaps. */
export const SEED_CONSTRAINTS = {
  max_notional_usd: 10000,
  max_slippage_bps: 40,
  protocol_allowlist: ["jupiter", "orca", "raydium", "solend", "marginfi", "kamino"],
};
