/**
 * The control plane with its MCP gateway for end-to-end tests: served in this process on
 * a loopback port (real sockets, a real SQLite store, the real upstream servers in their
 * bwrap sandboxes), and real MCP SDK clients connected to it over streamable HTTP or
 * through `zt mcp connect` over stdio.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { loadConfig } from "../../src/config.ts";
import { makeLogSink } from "../../src/platform/Logging.ts";
import { startServer, type RunningServer } from "../../src/server.ts";
import { EXAMPLE_POLICY_DIR, readDevCredentials, REPO_ROOT, tempDir, type DevCredentials } from "./harness.ts";
import { ZT_TS } from "./spawnServer.ts";
import { waitFor } from "./waitFor.ts";

export interface Gateway {
  readonly server: RunningServer;
  readonly url: string;
  readonly dataDir: string;
  readonly tokens: DevCredentials;
  readonly logs: string[];
  /** Every stored event (type, stream, data as JSON text), in global order. */
  readonly events: () => ReadonlyArray<{ readonly type: string; readonly stream: string; readonly data: string; readonly position: number }>;
  /** Waits until the audit chain covers every stored event. */
  readonly projected: () => Promise<void>;
  /** Stops the control plane (its upstreams with it) and removes its data directory. */
  readonly close: () => Promise<void>;
}

export async function startGateway(options: { readonly policyDir?: string; readonly env?: Record<string, string>; readonly dataDir?: string } = {}): Promise<Gateway> {
  const dataDir = options.dataDir ?? tempDir("zt-mcp-");
  const logs: string[] = [];
  const config = loadConfig({ ZT_DATA_DIR: dataDir, ZT_POLICY_DIR: options.policyDir ?? EXAMPLE_POLICY_DIR, ZT_CHAIN: "off", ZT_PORT: "0", ZT_CHECKPOINT_MS: "200", ...options.env });
  const server = await startServer(config, makeLogSink("debug", (line) => logs.push(line)));
  const tokens = readDevCredentials(dataDir);
  const events = () => {
    const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
    try {
      return db.prepare("SELECT type, stream, data, position FROM events ORDER BY position").all().map((row) => ({ type: String(row["type"]), stream: String(row["stream"]), data: String(row["data"]), position: Number(row["position"]) }));
    } finally {
      db.close();
    }
  };
  const projected = async () => {
    await waitFor(
      "the audit chain to cover every event",
      async () => {
        const last = events().at(-1)?.position ?? 0;
        const head = await fetch(`${server.url}/audit/head`, { headers: { authorization: `Bearer ${tokens.operator}` } }).then((r) => r.json() as Promise<{ position?: number }>);
        return head.position === last ? true : undefined;
      },
      { timeoutMs: 30_000 },
    );
  };
  const close = async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { server, url: server.url, dataDir, tokens, logs, events, projected, close };
}

const CLIENT_INFO = { name: "zt-infra-test-client", version: "1.0.0" };

/** A real SDK client connected to a gateway endpoint over streamable HTTP. */
export async function httpClient(endpoint: string, token: string, capabilities: ClientCapabilities = {}): Promise<Client> {
  const client = new Client(CLIENT_INFO, { capabilities });
  await client.connect(new StreamableHTTPClientTransport(new URL(endpoint), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
  return client;
}

/** A real SDK client that launches `zt mcp connect` as its stdio server, as a desktop client would. */
export async function bridgeClient(endpoint: string, token: string, tokenDir: string, capabilities: ClientCapabilities = {}): Promise<Client> {
  const tokenFile = join(tokenDir, `token-${crypto.randomUUID()}`);
  writeFileSync(tokenFile, `${token}\n`, { mode: 0o600 });
  const client = new Client(CLIENT_INFO, { capabilities });
  await client.connect(new StdioClientTransport({ command: process.execPath, args: [ZT_TS, "mcp", "connect", "--url", endpoint, "--token-file", tokenFile], stderr: "pipe" }));
  return client;
}

export async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((listening) => probe.listen(0, "127.0.0.1", listening));
  const address = probe.address();
  await new Promise<void>((closed) => probe.close(() => closed()));
  return typeof address === "object" && address !== null ? address.port : 0;
}

const EVERYTHING = join(REPO_ROOT, "node_modules", "@modelcontextprotocol", "server-everything", "dist", "index.js");

/** The reference everything server on its own streamable-HTTP transport (no gateway), on `port` (a free one by default). */
export async function everythingOverHttp(port?: number): Promise<{ readonly url: string; readonly port: number; readonly child: ChildProcess }> {
  const listenOn = port ?? (await freePort());
  const child = spawn(process.execPath, [EVERYTHING, "streamableHttp"], { cwd: REPO_ROOT, env: { ...process.env, PORT: String(listenOn) }, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (log += chunk));
  await waitFor("the everything server to listen", () => (log.includes("listening on port") ? true : undefined), { timeoutMs: 20_000 });
  return { url: `http://127.0.0.1:${listenOn}/mcp`, port: listenOn, child };
}

/** The pids of this process's children whose command line names `needle` (the gateway of startGateway runs its upstreams so). */
export function childProcessesRunning(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${entry}/status`, "utf8"))?.[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(needle)) pids.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}
