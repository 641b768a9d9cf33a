/**
 * Bad input to the MCP endpoints gets the right JSON-RPC or HTTP error, nothing reaches
 * an upstream, and nothing is lost: a body the gateway refuses is recorded as a
 * `malformed_request` decision (as a refused `POST /actions` body is), a caller without
 * a token records nothing, a session answers only the caller and endpoint that opened it,
 * and the sessions, the store and the audit chain go on working afterwards.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { CallToolResultSchema, McpError } from "@modelcontextprotocol/sdk/types.js";
import { MAX_MCP_BODY_BYTES } from "../../src/mcp/McpGateway.ts";
import { childProcessesRunning, httpClient, startGateway, type Gateway } from "../support/mcpGateway.ts";

let gateway: Gateway;
before(async () => {
  gateway = await startGateway();
});
after(async () => {
  await gateway?.close();
});

const ACCEPT = "application/json, text/event-stream";
const initialize = { jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw", version: "1" } } };

async function post(path: string, token: string | undefined, body: string | Uint8Array, headers: Record<string, string> = {}) {
  const response = await fetch(`${gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", accept: ACCEPT, ...(token === undefined ? {} : { authorization: `Bearer ${token}` }), ...headers },
    body: body as BodyInit,
  });
  const text = await response.text();
  // An SSE answer carries its JSON-RPC message on a `data:` line.
  const data = text.startsWith("event:") ? text.split("\n").find((line) => line.startsWith("data: "))!.slice(6) : text;
  let json: any;
  try {
    json = JSON.parse(data);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, json, text };
}

/** The decisions, and the upstream calls, recorded so far. */
const counts = () => {
  const events = gateway.events();
  return {
    decided: events.filter((event) => event.type === "ActionDecided.v1").length,
    forwarded: events.filter((event) => event.type === "McpCallAnswered.v1" || event.type === "McpCallFailed.v1").length,
  };
};

/** Upstream processes this control plane runs now. */
const upstreams = () => childProcessesRunning("mcp-server").length;

/** Asserts a refused body: the status and JSON-RPC code, one malformed_request decision named in the answer, no upstream started or called. */
async function refused(reply: Awaited<ReturnType<typeof post>>, status: number, code: number, before: ReturnType<typeof counts>, processes: number) {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.json.jsonrpc, "2.0");
  assert.equal(reply.json.id, null);
  assert.equal(reply.json.error.code, code);
  assert.equal(reply.json.error.data.reason, "malformed_request");
  assert.match(reply.json.error.data.decision_id, /^dec_/);
  const now = counts();
  assert.equal(now.decided, before.decided + 1, "recorded, as one decision");
  assert.equal(now.forwarded, before.forwarded, "nothing forwarded");
  assert.equal(upstreams(), processes, "no upstream started");
  const decision = gateway.events().filter((event) => event.type === "ActionDecided.v1").map((event) => JSON.parse(event.data)).at(-1);
  assert.equal(decision.decision_id, reply.json.error.data.decision_id);
  assert.equal(decision.reason, "malformed_request");
  assert.equal(decision.request, null, "a refused body is kept as its hash alone");
}

describe("bodies the gateway refuses before any session sees them", () => {
  const cases: Array<[string, () => string | Uint8Array, number, number]> = [
    ["not JSON", () => "{this is not json", 400, -32700],
    ["a duplicate key", () => '{"jsonrpc":"2.0","id":1,"method":"tools/list","method":"tools/call"}', 400, -32700],
    ["JSON nested past the limit", () => `${"[".repeat(40)}${"]".repeat(40)}`, 400, -32700],
    ["JSON that is not JSON-RPC", () => JSON.stringify({ hello: "world" }), 400, -32600],
    ["an empty batch", () => "[]", 400, -32600],
    ["a batch with one bad message", () => JSON.stringify([initialize, { jsonrpc: "1.0", id: 2, method: "x" }]), 400, -32600],
    ["a body over the limit", () => new Uint8Array(MAX_MCP_BODY_BYTES + 1).fill(0x20), 413, -32000],
  ];
  for (const [what, body, status, code] of cases) {
    test(`${what}: ${status} ${code}, recorded as malformed_request, nothing forwarded`, async () => {
      const before = counts();
      const processes = upstreams();
      await refused(await post("/mcp/everything", gateway.tokens.ops1, body()), status, code, before, processes);
    });
  }
});

describe("HTTP-level refusals record nothing", () => {
  test("no token: 401 with a Bearer challenge; an unknown token likewise", async () => {
    const before = counts();
    for (const token of [undefined, "zt_not-a-token"]) {
      const reply = await post("/mcp", token, JSON.stringify(initialize));
      assert.equal(reply.status, 401);
      assert.match(reply.headers.get("www-authenticate") ?? "", /^Bearer/);
    }
    assert.deepEqual(counts(), before);
  });

  test("the operator token has no actor: 403", async () => {
    const reply = await post("/mcp/fs", gateway.tokens.operator, JSON.stringify(initialize));
    assert.equal(reply.status, 403);
    assert.equal(reply.json.reason, "forbidden");
  });

  test("an unknown server id: 404", async () => {
    const reply = await post("/mcp/nosuch", gateway.tokens.ops1, JSON.stringify(initialize));
    assert.equal(reply.status, 404);
  });

  test("a request other than initialize without a session: 400; an unsupported method: 405", async () => {
    const reply = await post("/mcp/everything", gateway.tokens.ops1, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }));
    assert.equal(reply.status, 400);
    assert.equal(reply.json.error.code, -32000);
    const put = await fetch(`${gateway.url}/mcp/everything`, { method: "PUT", headers: { authorization: `Bearer ${gateway.tokens.ops1}` } });
    assert.equal(put.status, 405);
    assert.equal(put.headers.get("allow"), "GET, POST, DELETE");
  });
});

describe("sessions", () => {
  let session: string;
  before(async () => {
    const reply = await post("/mcp/everything", gateway.tokens.ops1, JSON.stringify(initialize));
    assert.equal(reply.status, 200, reply.text);
    session = reply.headers.get("mcp-session-id")!;
    assert.ok(session);
    await post("/mcp/everything", gateway.tokens.ops1, JSON.stringify({ jsonrpc: "2.0", method: "notifications/initialized" }), { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" });
  });

  const list = (token: string, path = "/mcp/everything", headers: Record<string, string> = {}) =>
    post(path, token, JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }), { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25", ...headers });

  test("the session answers its own caller", async () => {
    const reply = await list(gateway.tokens.ops1);
    assert.equal(reply.status, 200, reply.text);
    assert.ok(reply.json.result.tools.length > 0);
  });

  test("an unknown session id, another caller's session, or the session on another endpoint: 404 Session not found", async () => {
    const before = counts();
    for (const reply of [
      await post("/mcp/everything", gateway.tokens.ops1, JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/list" }), { "mcp-session-id": crypto.randomUUID(), "mcp-protocol-version": "2025-11-25" }),
      await list(gateway.tokens.desk7),
      await list(gateway.tokens.ops1, "/mcp"),
      await list(gateway.tokens.ops1, "/mcp/fs"),
    ]) {
      assert.equal(reply.status, 404, reply.text);
      assert.equal(reply.json.error.code, -32001);
    }
    const get = await fetch(`${gateway.url}/mcp/everything`, { headers: { authorization: `Bearer ${gateway.tokens.desk7}`, accept: "text/event-stream", "mcp-session-id": session } });
    assert.equal(get.status, 404);
    const remove = await fetch(`${gateway.url}/mcp/everything`, { method: "DELETE", headers: { authorization: `Bearer ${gateway.tokens.desk7}`, "mcp-session-id": session } });
    assert.equal(remove.status, 404, "another caller cannot end the session");
    assert.deepEqual(counts(), before);
  });

  test("an unsupported protocol version: 400, and the session goes on", async () => {
    const reply = await list(gateway.tokens.ops1, "/mcp/everything", { "mcp-protocol-version": "1999-01-01" });
    assert.equal(reply.status, 400);
    assert.equal(reply.json.error.code, -32000);
    assert.match(reply.json.error.message, /Unsupported protocol version/);
    assert.equal((await list(gateway.tokens.ops1)).status, 200);
  });

  test("a malformed body inside a session is recorded and refused; the session goes on", async () => {
    const before = counts();
    const processes = upstreams();
    await refused(await post("/mcp/everything", gateway.tokens.ops1, '{"jsonrpc":"2.0","id":8,"method":"tools/call","params":{"name":"echo","name":"get-env"}}', { "mcp-session-id": session, "mcp-protocol-version": "2025-11-25" }), 400, -32700, before, processes);
    assert.equal((await list(gateway.tokens.ops1)).status, 200);
  });
});

describe("decided calls the gateway refuses or denies", () => {
  test("a tool of another server, bad params and arguments Cedar cannot take: denied or -32602, recorded, nothing forwarded", async () => {
    const client = await httpClient(`${gateway.url}/mcp/fs`, gateway.tokens.desk7);
    try {
      const before = counts();
      const other = await client.request({ method: "tools/call", params: { name: "echo", arguments: { message: "hi" } } }, CallToolResultSchema);
      assert.equal(other.isError, true);
      assert.equal((other.structuredContent as Record<string, unknown>)["reason"], "policy_denied");
      for (const params of [{ arguments: {} }, { name: "read_text_file", arguments: "public/x" }, { name: "read_text_file", arguments: { __entity: { type: "Agent", id: "agent:ops-1" } } }]) {
        const error = await client.request({ method: "tools/call", params } as never, CallToolResultSchema).catch((caught: unknown) => caught);
        assert.ok(error instanceof McpError, JSON.stringify(params));
        assert.equal(error.code, -32602);
        const data = error.data as { reason: string; decision_id: string; errors: Array<{ path: string; kind: string }> };
        assert.equal(data.reason, "malformed_request");
        assert.match(data.decision_id, /^dec_/);
        assert.ok(data.errors.every((problem) => problem.path.startsWith("$.params")), JSON.stringify(data.errors));
      }
      const now = counts();
      assert.equal(now.decided, before.decided + 4);
      assert.equal(now.forwarded, before.forwarded, "nothing forwarded");
      const denied = await client.request({ method: "resources/read", params: { uri: "file:///etc/passwd" } }, CallToolResultSchema).catch((caught: unknown) => caught);
      assert.ok(denied instanceof McpError);
      assert.equal(denied.code, -32003);
      assert.equal((denied.data as Record<string, unknown>)["reason"], "policy_denied");
    } finally {
      await client.close();
    }
  });

  test("afterwards the service is ready and its audit chain keeps up", async () => {
    const ready = await fetch(`${gateway.url}/readyz`);
    assert.equal(ready.status, 200);
    await gateway.projected();
  });
});
