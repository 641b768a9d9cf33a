/**
 * Contract section 11 on the MCP path, with real SDK clients and a real SDK server as the
 * remote upstream (it answers each call with the `_meta` it received):
 * - a count budget on a tool: the call one too many is answered isError `budget_exceeded`,
 *   recorded, and never reaches the upstream;
 * - W3C trace context: the caller's `traceparent` (its HTTP header, or `params._meta`, as
 *   MCP carries it) is recorded with the decision and reaches the upstream in `_meta`.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { examplePolicyWith } from "../support/harness.ts";
import { startGateway, type Gateway } from "../support/mcpGateway.ts";

const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const HEADER_TRACEPARENT = `00-${TRACE_ID}-00f067aa0ba902b7-01`;
const META_TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

describe("budgets and trace context through the MCP gateway", () => {
  let upstream: Server;
  let gateway: Gateway;
  let policyDir: string;
  const seenByUpstream: Array<{ tool: string; meta: unknown }> = [];

  before(async () => {
    // The upstream: a stateless streamable-HTTP MCP server (no session id generator) with two tools.
    upstream = createServer(async (req, res) => {
      const server = new McpServer({ name: "meta-echo", version: "1.0.0" });
      for (const tool of ["counted", "meta"]) {
        server.registerTool(tool, { description: `answers with the _meta it received (${tool})` }, async (extra) => {
          seenByUpstream.push({ tool, meta: extra._meta ?? null });
          return { content: [{ type: "text", text: JSON.stringify(extra._meta ?? null) }] };
        });
      }
      const transport = new StreamableHTTPServerTransport({});
      res.on("close", () => void transport.close().then(() => server.close()));
      await server.connect(transport);
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((listening) => upstream.listen(0, "127.0.0.1", listening));
    const port = (upstream.address() as AddressInfo).port;

    policyDir = examplePolicyWith((manifest) => {
      manifest.budgets.push({ id: "ops-1-counted", actor: "agent:ops-1", action: "mcp.tools_call", resource: "mcp:remote/counted", window_seconds: 3600, max_calls: 2 });
    });
    writeFileSync(join(policyDir, "mcp.json"), JSON.stringify({ servers: { remote: { transport: "http", url: `http://127.0.0.1:${port}/mcp`, timeout_ms: 5_000 } } }));
    writeFileSync(join(policyDir, "mcp.cedar"), '@id("ops1-remote")\npermit (principal == Agent::"agent:ops-1", action == Action::"mcp.tools_call", resource) when { resource.path like "mcp:remote/*" };\n');
    gateway = await startGateway({ policyDir });
  });
  after(async () => {
    await gateway?.close();
    await new Promise((closed) => upstream?.close(closed));
    upstream?.closeAllConnections();
    rmSync(policyDir, { recursive: true, force: true });
  });

  const connect = async (headers: Record<string, string> = {}) => {
    const client = new Client({ name: "zt-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(`${gateway.url}/mcp/remote`), { requestInit: { headers: { authorization: `Bearer ${gateway.tokens.ops1}`, ...headers } } }));
    return client;
  };
  const decision = async (id: string) =>
    (await fetch(`${gateway.url}/decisions/${id}`, { headers: { authorization: `Bearer ${gateway.tokens.operator}` } })).json() as Promise<Record<string, unknown>>;
  const decisionIdOf = (toolName: string) => {
    const events = gateway.events().filter((event) => event.type === "ActionDecided.v1" && JSON.parse(event.data).request?.resource === `mcp:remote/${toolName}`);
    return JSON.parse(events.at(-1)!.data).decision_id as string;
  };

  test("a count budget on a tool: the third call of two allowed is budget_exceeded, recorded, and never forwarded", async () => {
    const client = await connect();
    try {
      const call = () => client.request({ method: "tools/call", params: { name: "counted", arguments: {} } }, CallToolResultSchema);
      assert.notEqual((await call()).isError, true);
      assert.notEqual((await call()).isError, true);
      const third = await call();
      assert.equal(third.isError, true);
      const structured = third.structuredContent as Record<string, unknown>;
      assert.equal(structured["status"], "denied");
      assert.equal(structured["reason"], "budget_exceeded");
      assert.match(JSON.stringify(third.content), /budget ops-1-counted: 0 of 2 calls remain in its rolling 3600 s window/);
      assert.equal(seenByUpstream.filter((seen) => seen.tool === "counted").length, 2);
      const recorded = await decision(String(structured["decision_id"]));
      assert.equal(recorded["reason"], "budget_exceeded");
      const charges = gateway.events().filter((event) => event.type === "BudgetCharged.v1");
      assert.equal(charges.length, 2);
      assert.ok(charges.every((event) => event.stream === "budget-ops-1-counted-agent:ops-1"));
      // Another tool of the server is under no budget.
      const other = await client.request({ method: "tools/call", params: { name: "meta", arguments: {} } }, CallToolResultSchema);
      assert.notEqual(other.isError, true);
    } finally {
      await client.close();
    }
  });

  test("the caller's traceparent header is recorded with the decision and reaches the upstream in _meta", async () => {
    const client = await connect({ traceparent: HEADER_TRACEPARENT });
    try {
      const answered = await client.request({ method: "tools/call", params: { name: "meta", arguments: {} } }, CallToolResultSchema);
      assert.notEqual(answered.isError, true);
      assert.equal((seenByUpstream.at(-1)!.meta as Record<string, unknown>)["traceparent"], HEADER_TRACEPARENT);
      assert.equal((await decision(decisionIdOf("meta")))["traceparent"], HEADER_TRACEPARENT);
    } finally {
      await client.close();
    }
  });

  test("a traceparent in params._meta wins over the header and passes unchanged; a malformed one is neither recorded nor invented", async () => {
    const client = await connect({ traceparent: HEADER_TRACEPARENT });
    try {
      await client.request({ method: "tools/call", params: { name: "meta", arguments: {}, _meta: { traceparent: META_TRACEPARENT } } }, CallToolResultSchema);
      assert.equal((seenByUpstream.at(-1)!.meta as Record<string, unknown>)["traceparent"], META_TRACEPARENT);
      assert.equal((await decision(decisionIdOf("meta")))["traceparent"], META_TRACEPARENT);
    } finally {
      await client.close();
    }
    const plain = await connect();
    try {
      await plain.request({ method: "tools/call", params: { name: "meta", arguments: {}, _meta: { traceparent: "00-not-a-trace" } } }, CallToolResultSchema);
      assert.equal((seenByUpstream.at(-1)!.meta as Record<string, unknown>)["traceparent"], "00-not-a-trace", "the caller's own _meta is forwarded as it is");
      assert.equal((await decision(decisionIdOf("meta")))["traceparent"], undefined);
    } finally {
      await plain.close();
    }
  });
});
