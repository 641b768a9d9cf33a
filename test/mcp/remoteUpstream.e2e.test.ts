/**
 * A remote upstream (`"transport": "http"` in mcp.json): the reference everything server
 * on its own streamable-HTTP transport, reached by the gateway as a client with the
 * headers mcp.json names. Calls pass; while it is down calls are answered
 * upstream_unavailable and recorded; once it is back, a new session of the caller's
 * reaches it again.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { cpSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { EXAMPLE_POLICY_DIR, tempDir } from "../support/harness.ts";
import { everythingOverHttp, httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";
import { waitFor } from "../support/waitFor.ts";

const policyDir = tempDir("zt-mcp-remote-policy-");
let gateway: Gateway | undefined;
let upstream: ChildProcess | undefined;
after(async () => {
  upstream?.kill("SIGKILL");
  await gateway?.close();
  rmSync(policyDir, { recursive: true, force: true });
});

test("a remote streamable-HTTP upstream behind the gateway: calls, the upstream down (upstream_unavailable, recorded), and back in the same session", { timeout: 90_000 }, async () => {
  const first = await everythingOverHttp();
  upstream = first.child;
  const port = first.port;
  cpSync(EXAMPLE_POLICY_DIR, policyDir, { recursive: true });
  writeFileSync(join(policyDir, "mcp.json"), JSON.stringify({ servers: { remote: { transport: "http", url: `http://127.0.0.1:${port}/mcp`, headers: { "x-upstream-key": "not-logged" }, timeout_ms: 5_000 } } }));
  writeFileSync(join(policyDir, "mcp.cedar"), '@id("ops1-remote")\npermit (principal == Agent::"agent:ops-1", action == Action::"mcp.tools_call", resource) when { resource.path like "mcp:remote/*" };\n');
  gateway = await startGateway({ policyDir });

  const client = await httpClient(`${gateway.url}/mcp/remote`, gateway.tokens.ops1);
  try {
    assert.equal(client.getServerVersion()?.name, "mcp-servers/everything");
    const echoed = await client.callTool({ name: "echo", arguments: { message: "remote" } });
    assert.deepEqual(echoed.content, [{ type: "text", text: "Echo: remote" }]);

    upstream.kill("SIGKILL");
    await new Promise((exited) => upstream!.once("exit", exited));
    const down = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "down" } } }, CallToolResultSchema);
    assert.equal(down.isError, true);
    const structured = down.structuredContent as Record<string, unknown>;
    assert.equal(structured["reason"], "upstream_unavailable");
    const stream = gateway.events().filter((event) => event.stream === `decision-${String(structured["decision_id"])}`).map((event) => event.type);
    assert.deepEqual(stream, ["ActionDecided.v1", "McpCallFailed.v1"]);

    // The gateway gave up the dead connection; once the upstream is back, the same caller session reaches it again.
    upstream = (await everythingOverHttp(port)).child;
    const back = await waitFor(
      "the caller's session to reach the restarted upstream",
      async () => {
        const result = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "back" } } }, CallToolResultSchema);
        return result.isError === true ? undefined : result;
      },
      { timeoutMs: 30_000, intervalMs: 500 },
    );
    assert.deepEqual(back.content, [{ type: "text", text: "Echo: back" }]);
  } finally {
    await client.close();
  }
  assert.ok(gateway.logs.every((line) => !line.includes("not-logged")), "the upstream's header values are never logged");
});
