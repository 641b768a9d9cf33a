/**
 * The MCP gateway under Deno (`deno task start`'s permissions): a real SDK client reads a
 * public file through /mcp/fs (the filesystem server started by the Deno process in its
 * bwrap sandbox), is refused a private one, and reaches the everything server.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { CallToolResultSchema } from "@modelcontextprotocol/sdk/types.js";
import { readDevCredentials, tempDir } from "../support/harness.ts";
import { httpClient } from "../support/mcpGateway.ts";
import { killAllChildren, requireDeno, spawnServer } from "../support/spawnServer.ts";

const dataDir = tempDir("zt-mcp-deno-");
after(async () => {
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

test("under Deno: an allowed read, a denied one and a call to another upstream through the gateway", { timeout: 90_000 }, async () => {
  requireDeno();
  const server = await spawnServer({ runtime: "deno", dataDir });
  try {
    const tokens = readDevCredentials(dataDir);
    const fsDir = join(dataDir, "mcp", "fs");
    mkdirSync(join(fsDir, "public"), { recursive: true });
    mkdirSync(join(fsDir, "private"), { recursive: true });
    writeFileSync(join(fsDir, "public", "note.txt"), "served under Deno\n");
    writeFileSync(join(fsDir, "private", "secret.txt"), "private\n");

    const desk7 = await httpClient(`${server.url}/mcp/fs`, tokens.desk7);
    try {
      const read = await desk7.callTool({ name: "read_text_file", arguments: { path: join(fsDir, "public", "note.txt") } });
      assert.deepEqual(read.content, [{ type: "text", text: "served under Deno\n" }]);
      const denied = await desk7.request({ method: "tools/call", params: { name: "read_text_file", arguments: { path: join(fsDir, "private", "secret.txt") } } }, CallToolResultSchema);
      assert.equal(denied.isError, true);
      assert.equal((denied.structuredContent as Record<string, unknown>)["reason"], "policy_denied");
    } finally {
      await desk7.close();
    }
    const ops1 = await httpClient(`${server.url}/mcp`, tokens.ops1);
    try {
      const echoed = await ops1.callTool({ name: "everything__echo", arguments: { message: "deno" } });
      assert.deepEqual(echoed.content, [{ type: "text", text: "Echo: deno" }]);
    } finally {
      await ops1.close();
    }
    const stopped = await server.stop();
    assert.equal(stopped.code, 0, `SIGTERM is a clean shutdown under Deno, upstreams included: ${JSON.stringify(stopped)}\n${server.stderr()}`);
  } finally {
    await server.kill();
  }
});
