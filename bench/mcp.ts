/**
 * The MCP gateway's overhead (contract section 8, issue 13): the same tool call of the
 * same upstream (the reference "everything" server's `echo`), made by a real MCP SDK
 * client directly over stdio, and through the gateway (`/mcp/everything` over streamable
 * HTTP: authenticated, decided by Cedar, recorded durably, forwarded to the server in
 * its bwrap sandbox, its answer hashed and recorded), in one run; and a call the gateway
 * denies (never forwarded). Calls one after another from one client, so each figure is
 * a latency, p50 and p99 over ZT_BENCH_MCP_CALLS calls after a warm-up.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { controlPlane, ROOT } from "./processes.ts";
import { finishSection, type BenchRow } from "./report.ts";

const CALLS = Number(process.env["ZT_BENCH_MCP_CALLS"] ?? 2000);
const WARMUP = Math.max(50, Math.round(CALLS / 10));
const CLIENT_INFO = { name: "zt-infra-bench", version: "1.0.0" };

/** The p-th percentile (0-100) of sorted values, nearest rank. */
function percentile(sorted: ReadonlyArray<number>, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? 0;
}

/** Latencies (ms) of `CALLS` calls after `WARMUP` unmeasured ones. */
async function latencies(call: () => Promise<unknown>): Promise<{ p50: number; p99: number }> {
  for (let i = 0; i < WARMUP; i++) await call();
  const times: number[] = [];
  for (let i = 0; i < CALLS; i++) {
    const started = performance.now();
    await call();
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return { p50: percentile(times, 50), p99: percentile(times, 99) };
}

const echo = (client: Client, isError: boolean) => async () => {
  const result = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "bench" } } }, CallToolResultSchema);
  if ((result.isError === true) !== isError) throw new Error(`unexpected answer: ${JSON.stringify(result).slice(0, 200)}`);
};

const dataDir = mkdtempSync(join(tmpdir(), "zt-bench-mcp-"));
const rows: BenchRow[] = [];
try {
  const direct = new Client(CLIENT_INFO);
  await direct.connect(new StdioClientTransport({ command: join(ROOT, "node_modules", ".bin", "mcp-server-everything"), args: ["stdio"], stderr: "ignore" }));
  const directly = await latencies(echo(direct, false));
  await direct.close();

  const plane = await controlPlane(dataDir);
  try {
    const connect = async (token: string) => {
      const client = new Client(CLIENT_INFO);
      await client.connect(new StreamableHTTPClientTransport(new URL(`${plane.url}/mcp/everything`), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
      return client;
    };
    const ops1 = await connect(plane.credentials.agents["agent:ops-1"]!);
    const through = await latencies(echo(ops1, false));
    await ops1.close();
    const desk7 = await connect(plane.credentials.agents["agent:desk-7"]!);
    const denied = await latencies(echo(desk7, true));
    await desk7.close();

    const ratio = (value: number, to: number) => ({ to: "direct", value: value / to });
    rows.push(
      { name: "MCP tools/call, directly over stdio: p50", value: directly.p50, unit: "ms", note: "the everything server's echo, one client, calls one after another" },
      { name: "MCP tools/call, directly over stdio: p99", value: directly.p99, unit: "ms" },
      { name: "MCP tools/call through the gateway: p50", value: through.p50, unit: "ms", ratio: ratio(through.p50, directly.p50), note: "/mcp/everything over streamable HTTP: decided, recorded, forwarded to the sandboxed server, answer hashed and recorded" },
      { name: "MCP tools/call through the gateway: p99", value: through.p99, unit: "ms", ratio: ratio(through.p99, directly.p99) },
      { name: "MCP tools/call denied by the gateway: p50", value: denied.p50, unit: "ms", note: "decided and recorded, never forwarded" },
      { name: "MCP tools/call denied by the gateway: p99", value: denied.p99, unit: "ms" },
    );
  } finally {
    await plane.stop();
  }
} finally {
  rmSync(dataDir, { recursive: true, force: true });
}

finishSection({
  section: "mcp",
  method: `one MCP SDK client (Node ${process.version}), ${CALLS} tools/call after ${WARMUP} unmeasured, one at a time; directly: the server as a child over stdio; gateway: the control plane in its own process on 127.0.0.1 (embedded defaults, ZT_CHAIN=off), the same server started by it in bwrap`,
  rows,
});
