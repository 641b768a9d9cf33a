/**
 * Everything that is not a decision passes through the gateway both ways, against the
 * real reference "everything" server (`@modelcontextprotocol/server-everything`, stdio in
 * its bwrap sandbox) with real SDK clients: progress under the caller's own token,
 * cancellation, the upstream's sampling, elicitation and roots requests answered by the
 * caller, log notifications, the sandbox's environment, `/mcp` with its prefixed names,
 * lists per caller, and an upstream that dies: `upstream_unavailable` meanwhile (the
 * decision stays recorded), then the restarted upstream answers again.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CallToolResultSchema,
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  McpError,
  type LoggingMessageNotification,
} from "@modelcontextprotocol/sdk/types.js";
import { childProcessesRunning, httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";
import { waitFor } from "../support/waitFor.ts";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.close();
});

const text = (result: Record<string, unknown>) => JSON.stringify(result["content"]);

describe("ops-1 through /mcp/everything", () => {
  let client: Client;
  const sampled: unknown[] = [];
  const elicited: unknown[] = [];
  const logged: LoggingMessageNotification[] = [];
  before(async () => {
    client = await httpClient(`${gateway.url}/mcp/everything`, gateway.tokens.ops1, { sampling: {}, elicitation: {}, roots: { listChanged: true } });
    client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
      sampled.push(request.params);
      return { model: "test-model", role: "assistant", content: { type: "text", text: "sampled by the caller" } };
    });
    client.setRequestHandler(ElicitRequestSchema, async (request) => {
      elicited.push(request.params);
      return { action: "accept", content: { name: "Ada", check: true } };
    });
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///caller/root", name: "caller-root" }] }));
    client.setNotificationHandler(LoggingMessageNotificationSchema, async (notification) => {
      logged.push(notification);
    });
  });
  after(async () => {
    await client?.close();
  });

  test("initialize answers with the upstream's own capabilities and server info", () => {
    assert.equal(client.getServerVersion()?.name, "mcp-servers/everything");
    const capabilities = client.getServerCapabilities();
    assert.ok(capabilities?.tools && capabilities.resources && capabilities.prompts && capabilities.logging);
  });

  test("an allowed call's result comes back unchanged, numbers that Cedar cannot hold included", async () => {
    const echoed = await client.callTool({ name: "echo", arguments: { message: "through the gateway" } });
    assert.deepEqual(echoed.content, [{ type: "text", text: "Echo: through the gateway" }]);
    const sum = await client.callTool({ name: "get-sum", arguments: { a: 1.5, b: 2.25 } });
    assert.match(text(sum), /3\.75/);
  });

  test("progress reaches the caller under its own token", async () => {
    const progress: number[] = [];
    const result = await client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } }, CallToolResultSchema, {
      onprogress: (update) => progress.push(update.progress),
    });
    assert.equal(result.isError, undefined);
    // The server sends its last update as it answers, and the SDK client drops an update
    // that comes after the answer: called directly, it shows the same [1, 2].
    assert.deepEqual(progress.slice(0, 2), [1, 2]);
  });

  test("cancelling a call cancels it upstream; the decision's stream records it as cancelled", async () => {
    const controller = new AbortController();
    let first = false;
    const call = client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 30, steps: 30 } }, CallToolResultSchema, {
      signal: controller.signal,
      onprogress: () => {
        if (!first) {
          first = true;
          controller.abort("the caller changed its mind");
        }
      },
    });
    await assert.rejects(call);
    const failed = await waitFor("the cancelled call's McpCallFailed", () => gateway.events().find((event) => event.type === "McpCallFailed.v1" && JSON.parse(event.data).reason === "cancelled"));
    assert.match(failed.stream, /^decision-dec_/);
    const echoed = await client.callTool({ name: "echo", arguments: { message: "still here" } });
    assert.match(text(echoed), /still here/);
  });

  test("the upstream's sampling request is answered by the caller", async () => {
    const result = await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "say hi", maxTokens: 5 } });
    assert.equal(sampled.length, 1);
    assert.match(JSON.stringify(sampled[0]), /say hi/);
    assert.match(text(result), /sampled by the caller/);
  });

  test("the upstream's elicitation request is answered by the caller", async () => {
    const result = await client.callTool({ name: "trigger-elicitation-request", arguments: {} });
    assert.equal(elicited.length, 1);
    assert.match(text(result), /Ada/);
  });

  test("the upstream's roots request is answered by the caller (a server that resolves no paths)", async () => {
    const result = await client.callTool({ name: "get-roots-list", arguments: {} });
    assert.match(text(result), /file:\/\/\/caller\/root/);
  });

  test("log notifications reach the caller at the level it set upstream", async () => {
    await client.setLoggingLevel("debug");
    await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
    const simulated = await waitFor("a simulated log notification", () => logged.find((line) => /-level message/.test(JSON.stringify(line.params.data))), { timeoutMs: 10_000 });
    assert.ok(["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"].includes(simulated.params.level));
    await client.callTool({ name: "toggle-simulated-logging", arguments: {} });
  });

  test("resources and prompts: reads and gets are decided and answered unchanged", async () => {
    const listed = await client.listResources();
    const uri = listed.resources[0]!.uri;
    const read = await client.readResource({ uri });
    assert.equal(read.contents[0]!.uri, uri);
    const prompt = await client.getPrompt({ name: "args-prompt", arguments: { city: "Paris" } });
    assert.match(JSON.stringify(prompt.messages), /Paris/);
    const decided = gateway.events().filter((event) => event.type === "ActionDecided.v1").map((event) => JSON.parse(event.data).request);
    assert.ok(decided.some((request) => request?.action === "mcp.resources_read" && request.resource === `mcp:everything/${uri}`));
    assert.ok(decided.some((request) => request?.action === "mcp.prompts_get" && request.resource === "mcp:everything/args-prompt" && request.context.arguments.city === "Paris"));
  });

  test("the sandboxed server's environment is its PATH, HOME and working directory only: nothing of the control plane's", async () => {
    const result = await client.callTool({ name: "get-env", arguments: {} });
    const env = JSON.parse((result.content as Array<{ text: string }>)[0]!.text) as Record<string, string>;
    assert.deepEqual(Object.keys(env).sort(), ["HOME", "PATH", "PWD"]);
    assert.equal(env["HOME"], join(gateway.dataDir, "mcp", "everything"));
    assert.equal(env["PWD"], env["HOME"]);
  });
});

describe("/mcp: every upstream, names prefixed <server_id>__, lists per caller", () => {
  test("ops-1 sees only the everything server's tools, prefixed, and calls them by those names", async () => {
    const client = await httpClient(`${gateway.url}/mcp`, gateway.tokens.ops1);
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(names.includes("everything__echo"));
      assert.ok(names.every((name) => name.startsWith("everything__")), names.join(", "));
      const echoed = await client.callTool({ name: "everything__echo", arguments: { message: "aggregated" } });
      assert.match(text(echoed), /Echo: aggregated/);
      assert.ok((await client.listPrompts()).prompts.every((prompt) => prompt.name.startsWith("everything__")));
      const denied = await client.request({ method: "tools/call", params: { name: "fs__read_text_file", arguments: { path: "public/x" } } }, CallToolResultSchema);
      assert.equal(denied.isError, true);
      assert.equal((denied.structuredContent as Record<string, unknown>)["reason"], "policy_denied");
      const unknown = await client.request({ method: "tools/call", params: { name: "nosuch__tool", arguments: {} } }, CallToolResultSchema).catch((error: unknown) => error);
      assert.ok(unknown instanceof McpError);
      assert.equal(unknown.code, -32602);
      assert.equal((unknown.data as Record<string, unknown>)["reason"], "malformed_request");
      assert.match(String((unknown.data as Record<string, unknown>)["decision_id"]), /^dec_/);
    } finally {
      await client.close();
    }
  });

  test("desk-7 sees the fs server's read tools and nothing of everything's", async () => {
    const client = await httpClient(`${gateway.url}/mcp`, gateway.tokens.desk7);
    try {
      const names = (await client.listTools()).tools.map((tool) => tool.name);
      assert.ok(names.includes("fs__read_text_file"));
      assert.ok(!names.includes("fs__write_file"));
      assert.ok(names.every((name) => name.startsWith("fs__")), names.join(", "));
    } finally {
      await client.close();
    }
    const single = await httpClient(`${gateway.url}/mcp/everything`, gateway.tokens.desk7);
    try {
      assert.deepEqual((await single.listTools()).tools, []);
      assert.deepEqual((await single.listResources()).resources, []);
    } finally {
      await single.close();
    }
  });
});

describe("an upstream that dies", () => {
  test("is answered upstream_unavailable while it is down (the decision stays recorded), and answers again once restarted", async () => {
    const client = await httpClient(`${gateway.url}/mcp/everything`, gateway.tokens.ops1);
    try {
      await client.callTool({ name: "echo", arguments: { message: "before" } });
      const pids = childProcessesRunning("mcp-server-everything");
      assert.ok(pids.length >= 1, "the upstream runs as a child of the control plane");
      for (const pid of pids) process.kill(pid, "SIGKILL");
      await waitFor("the upstream to be seen gone", () => (childProcessesRunning("mcp-server-everything").length < pids.length ? true : undefined));
      const down = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "while down" } } }, CallToolResultSchema);
      assert.equal(down.isError, true, JSON.stringify(down));
      const structured = down.structuredContent as Record<string, unknown>;
      assert.equal(structured["reason"], "upstream_unavailable");
      assert.equal(structured["status"], "failed");
      const id = String(structured["decision_id"]);
      const stream = gateway.events().filter((event) => event.stream === `decision-${id}`);
      assert.deepEqual(stream.map((event) => event.type), ["ActionDecided.v1", "McpCallFailed.v1"]);
      assert.equal(JSON.parse(stream[0]!.data).status, "allowed");
      assert.equal(JSON.parse(stream[1]!.data).reason, "upstream_unavailable");
      const back = await waitFor(
        "the restarted upstream to answer",
        async () => {
          const result = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "after" } } }, CallToolResultSchema);
          return result.isError === true ? undefined : result;
        },
        { timeoutMs: 20_000, intervalMs: 300 },
      );
      assert.match(text(back), /Echo: after/);
    } finally {
      await client.close();
    }
  });
});
