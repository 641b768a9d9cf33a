/**
 * The MCP inspector's CLI (`@modelcontextprotocol/inspector-cli`) lists and calls tools
 * through the gateway with an agent token in `--header`, and sees each caller's own list.
 *
 * The package's `mcp-inspector-cli` bin (build/cli.js) expects the inspector's monorepo
 * around it, so its CLI proper (build/index.js) is run; that module reads its own
 * package.json by a path relative to the working directory, so it runs from build/.
 *
 * A denial is shown here on a tool without an output schema: the inspector calls tools
 * with the SDK's `callTool`, which checks even an isError result's structuredContent
 * against the tool's output schema (SDK issue #1943) and so reports a schema mismatch
 * instead of the denial for such tools (docs/agents.md says so).
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { REPO_ROOT } from "../support/harness.ts";
import { startGateway, type Gateway } from "../support/mcpGateway.ts";

const INSPECTOR_BUILD = join(REPO_ROOT, "node_modules", "@modelcontextprotocol", "inspector-cli", "build");

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.close();
});

/** One inspector CLI run (asynchronous: the gateway answers from this process); its exit code and JSON output. */
async function inspector(endpoint: string, token: string, args: ReadonlyArray<string>): Promise<{ code: number | null; json: any; out: string }> {
  const child = spawn(process.execPath, ["index.js", `${gateway.url}${endpoint}`, "--transport", "http", "--header", `Authorization: Bearer ${token}`, ...args], { cwd: INSPECTOR_BUILD, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => (out += chunk));
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (err += chunk));
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  const code = await new Promise<number | null>((exited) => child.once("exit", exited));
  clearTimeout(timer);
  let json: unknown;
  try {
    json = JSON.parse(out);
  } catch {
    assert.fail(`the inspector printed no JSON (exit ${code}):\n${out}\n${err}`);
  }
  return { code, json, out };
}

test("the inspector CLI lists and calls ops-1's tools through /mcp/everything", { timeout: 90_000 }, async () => {
  const listed = await inspector("/mcp/everything", gateway.tokens.ops1, ["--method", "tools/list"]);
  assert.equal(listed.code, 0);
  const names = (listed.json.tools as Array<{ name: string }>).map((tool) => tool.name);
  assert.ok(names.includes("echo") && names.includes("get-sum"), names.join(", "));
  const called = await inspector("/mcp/everything", gateway.tokens.ops1, ["--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=from the inspector"]);
  assert.equal(called.code, 0);
  assert.deepEqual(called.json.content, [{ type: "text", text: "Echo: from the inspector" }]);
});

test("the inspector CLI sees desk-7's lists (fs read tools only on /mcp, nothing on /mcp/everything) and its denial of a call", { timeout: 90_000 }, async () => {
  const listed = await inspector("/mcp", gateway.tokens.desk7, ["--method", "tools/list"]);
  assert.equal(listed.code, 0);
  const names = (listed.json.tools as Array<{ name: string }>).map((tool) => tool.name);
  assert.ok(names.includes("fs__read_text_file"));
  assert.ok(!names.some((name) => name.includes("write") || name.startsWith("everything__")), names.join(", "));
  const none = await inspector("/mcp/everything", gateway.tokens.desk7, ["--method", "tools/list"]);
  assert.deepEqual(none.json.tools, []);
  const denied = await inspector("/mcp/everything", gateway.tokens.desk7, ["--method", "tools/call", "--tool-name", "echo", "--tool-arg", "message=hi"]);
  assert.equal(denied.code, 0);
  assert.equal(denied.json.isError, true);
  assert.deepEqual(Object.keys(denied.json.structuredContent).sort(), ["decision_id", "policy_id", "reason", "status"]);
  assert.equal(denied.json.structuredContent.reason, "policy_denied");
  assert.match(denied.json.content[0].text, /policy_denied/);
});
