/**
 * The MCP call in the decider's terms and the gateway's answers (pure): what Cedar sees
 * of the arguments, `context.within`, the digest that names a call, problems named by
 * the MCP params' paths without values, and the exhaustive answer of each outcome.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import canonicalize from "canonicalize";
import type { DecisionOutcome } from "../../src/decisions/DecisionService.ts";
import type { ActionDecided } from "../../src/decisions/events.ts";
import { sha256Hex } from "../../src/kernel/hashing.ts";
import { afterDecision, GATEWAY_ANSWERED, INVALID_PARAMS, mcpAnswer } from "../../src/mcp/mcpAnswer.ts";
import { cedarValue, decisionRequest, pathArgumentValues, readCall, withinOf } from "../../src/mcp/mcpCall.ts";

describe("arguments as Cedar context", () => {
  test("strings, booleans and 64-bit integers stay; other numbers become their JSON text; nulls are left out", () => {
    assert.deepEqual(cedarValue({ a: "x", b: true, c: 42, d: 0.5, e: 2 ** 60, f: null, g: [1, null, 1.25], h: { i: null, j: -3 } }), {
      a: "x",
      b: true,
      c: 42,
      d: "0.5",
      e: "1152921504606847000",
      g: [1, "1.25"],
      h: { j: -3 },
    });
  });

  test("path argument values: strings and lists of strings, anything else unresolvable (null)", () => {
    assert.deepEqual(pathArgumentValues({ path: "a", paths: ["b", 3, "c"], source: 7, other: "x" }, ["path", "paths", "source", "destination"]), ["a", "b", null, "c", null]);
    assert.deepEqual(pathArgumentValues({ message: "hi" }, ["path"]), []);
  });

  test("within: the directories that contain every path (each within itself); none when one is outside", () => {
    assert.equal(withinOf([]), undefined);
    assert.deepEqual(withinOf(["public/a.txt"]), [".", "public", "public/a.txt"]);
    assert.deepEqual(withinOf(["public/a.txt", "public/sub/b.txt"]), [".", "public"]);
    assert.deepEqual(withinOf(["public/a.txt", "private/b.txt"]), ["."]);
    assert.deepEqual(withinOf(["."]), ["."]);
    assert.deepEqual(withinOf(["public/a.txt", null]), []);
    assert.deepEqual(withinOf(["publicity/x"]), [".", "publicity", "publicity/x"], "components, not string prefixes");
  });
});

describe("reading a decided call", () => {
  test("tools/call and prompts/get take a name and optional arguments; resources/read a uri", () => {
    assert.deepEqual(readCall("tools/call", { name: "echo", arguments: { message: "hi" } }), { ok: true, call: { method: "tools/call", target: "echo", arguments: { message: "hi" } } });
    assert.deepEqual(readCall("tools/call", { name: "echo" }), { ok: true, call: { method: "tools/call", target: "echo", arguments: {} } });
    assert.deepEqual(readCall("resources/read", { uri: "demo://x" }), { ok: true, call: { method: "resources/read", target: "demo://x", arguments: {} } });
  });

  test("a missing or mistyped name or arguments is a problem at its params path", () => {
    const missing = readCall("tools/call", { arguments: {} });
    assert.equal(missing.ok, false);
    assert.deepEqual(!missing.ok && missing.problems.map((p) => [p.path, p.kind]), [["$.params.name", "Missing"]]);
    const typed = readCall("prompts/get", { name: 3, arguments: "x" });
    assert.deepEqual(!typed.ok && typed.problems.map((p) => [p.path, p.kind]), [["$.params.name", "Type"], ["$.params.arguments", "Type"]]);
    assert.deepEqual(readCall("resources/read", "nope"), { ok: false, problems: [{ path: "$.params", kind: "Type", message: "expected an object" }] });
  });
});

describe("the decision request of a call", () => {
  const actor = "agent:ops-1";

  test("action, resource and Cedar context; request_sha256 is the sha256 of the JCS of the call as sent", () => {
    const params = { name: "add", arguments: { a: 1.5, b: null } };
    const request = decisionRequest(actor, "everything", readCall("tools/call", params), "tools/call", params);
    assert.equal(request.parsed.ok, true);
    assert.deepEqual(request.parsed.ok && request.parsed.request, { actor, action: "mcp.tools_call", resource: "mcp:everything/add", context: { arguments: { a: "1.5" } } });
    const asSent = canonicalize({ actor, action: "mcp.tools_call", resource: "mcp:everything/add", context: { arguments: { a: 1.5, b: null } } })!;
    assert.equal(request.requestSha256, sha256Hex(asSent));
  });

  test("within joins the context, and is not part of the digest", () => {
    const params = { name: "read_text_file", arguments: { path: "public/a.txt" } };
    const read = readCall("tools/call", params);
    const withWithin = decisionRequest("agent:desk-7", "fs", read, "tools/call", params, [".", "public"]);
    const without = decisionRequest("agent:desk-7", "fs", read, "tools/call", params);
    assert.deepEqual(withWithin.parsed.ok && withWithin.parsed.request.context, { arguments: { path: "public/a.txt" }, within: [".", "public"] });
    assert.equal(withWithin.requestSha256, without.requestSha256);
  });

  test("what Cedar cannot be asked is malformed, named by the params' path and never by value", () => {
    const secret = "s3cr3t-value";
    const cases: Array<[unknown, string]> = [
      [{ name: "x", arguments: { __entity: { type: "Agent", id: secret } } }, "$.params.arguments.__entity"],
      [{ name: "x", arguments: { note: `${secret}\ud800` } }, "$.params.arguments.note"],
      [{ name: `has space ${secret}`, arguments: {} }, "$.params.name"],
      [{ name: "x", arguments: { a: { b: { c: { d: { e: { f: { g: { h: secret } } } } } } } } }, "$.params.arguments.a.b.c.d.e.f.g"],
    ];
    for (const [params, path] of cases) {
      const request = decisionRequest(actor, "everything", readCall("tools/call", params), "tools/call", params);
      assert.equal(request.parsed.ok, false, JSON.stringify(params));
      const problems = !request.parsed.ok ? request.parsed.problems : [];
      assert.ok(problems.some((p) => p.path.startsWith(path.slice(0, 16))), `${path}: ${JSON.stringify(problems)}`);
      assert.doesNotMatch(JSON.stringify(problems), /s3cr3t/);
      assert.match(request.requestSha256, /^[0-9a-f]{64}$/);
    }
  });
});

describe("the gateway's answers", () => {
  const decision = (overrides: Partial<ActionDecided>): ActionDecided => ({
    decision_id: "dec_01J0000000000000000000000A",
    status: "denied",
    reason: "policy_denied",
    detail: "no policy permits agent:desk-7 this action on this resource",
    invariant_checks: [{ name: "actor_binding", ok: true }, { name: "cedar_policy", ok: false }],
    policy_id: "policy_mainnet_v1",
    policy_hash: "0".repeat(64),
    permit_id: null,
    intent_hash: null,
    receipt_hash: "1".repeat(64),
    decided_at: "2026-01-01T00:00:00.000Z",
    actor: "agent:desk-7",
    request_sha256: "2".repeat(64),
    request: null,
    permit: null,
    notional_usd: null,
    determining_policies: [],
    http_status: 403,
    ...overrides,
  });
  const recorded = (d: ActionDecided, problems: ReadonlyArray<{ path: string; kind: string; message: string }> = []): DecisionOutcome => ({ _tag: "Decided", decided: { decision: d, events: [], problems, pending: null, charges: [] }, revision: 0, execution: null });

  test("an allow is forwarded, at the decision's revision", () => {
    const allowed = decision({ status: "allowed", reason: null, http_status: 200 });
    assert.deepEqual(afterDecision(recorded(allowed), "p"), { next: "forward", decision: allowed, revision: 0 });
  });

  test("a denial of a tool call is an isError result with the contract's structuredContent", () => {
    const after = afterDecision(recorded(decision({})), "p");
    assert.equal(after.next, "answer");
    const answer = after.next === "answer" ? mcpAnswer("tools/call", after.outcome) : undefined;
    assert.ok(answer !== undefined && "result" in answer);
    assert.equal(answer.result["isError"], true);
    assert.deepEqual(answer.result["structuredContent"], { decision_id: "dec_01J0000000000000000000000A", status: "denied", reason: "policy_denied", policy_id: "policy_mainnet_v1" });
    const [line] = answer.result["content"] as Array<{ type: string; text: string }>;
    assert.match(line!.text, /policy_denied/);
    assert.match(line!.text, /dec_01J0000000000000000000000A/);
  });

  test("a denial of resources/read or prompts/get is a JSON-RPC error with the same object as data", () => {
    const after = afterDecision(recorded(decision({})), "p");
    for (const method of ["resources/read", "prompts/get"] as const) {
      const answer = after.next === "answer" ? mcpAnswer(method, after.outcome) : undefined;
      assert.ok(answer !== undefined && "error" in answer);
      assert.equal(answer.error.code, GATEWAY_ANSWERED);
      assert.deepEqual(answer.error.data, { decision_id: "dec_01J0000000000000000000000A", status: "denied", reason: "policy_denied", policy_id: "policy_mainnet_v1" });
    }
  });

  test("a malformed call is -32602 with its problems' paths and kinds", () => {
    const malformed = decision({ reason: "malformed_request", detail: "request is not acceptable at $.params.name", http_status: 400 });
    const after = afterDecision(recorded(malformed, [{ path: "$.params.name", kind: "Missing", message: "is missing" }]), "p");
    const answer = after.next === "answer" ? mcpAnswer("tools/call", after.outcome) : undefined;
    assert.ok(answer !== undefined && "error" in answer);
    assert.equal(answer.error.code, INVALID_PARAMS);
    assert.deepEqual(answer.error.data?.["errors"], [{ path: "$.params.name", kind: "Missing" }]);
    assert.equal(answer.error.data?.["reason"], "malformed_request");
  });

  test("a call waiting for human approval is an isError result naming the approval; nothing is forwarded", () => {
    const pending = decision({ status: "pending_approval", reason: "approval_required", http_status: 202 });
    const approval = { approval_id: "apr_01J0000000000000000000000A", request_digest: "3".repeat(64), expires_at: "2026-12-01T19:00:00.000Z", quorum: 1, granted_by: [] };
    const after = afterDecision({ _tag: "PendingApproval", decided: { decision: pending, events: [], problems: [], pending: approval, charges: [] }, approval }, "p");
    assert.equal(after.next, "answer");
    const answer = after.next === "answer" ? mcpAnswer("tools/call", after.outcome) : undefined;
    assert.ok(answer !== undefined && "result" in answer);
    assert.equal(answer.result["isError"], true);
    assert.deepEqual(answer.result["structuredContent"], {
      decision_id: "dec_01J0000000000000000000000A",
      status: "pending_approval",
      reason: "approval_required",
      policy_id: "policy_mainnet_v1",
      approval_id: approval.approval_id,
      request_digest: approval.request_digest,
      expires_at: approval.expires_at,
    });
    const [line] = answer.result["content"] as Array<{ type: string; text: string }>;
    assert.match(line!.text, /apr_01J0000000000000000000000A/);
  });

  test("a decision the store could not record is audit_unavailable; an upstream that did not answer is upstream_unavailable", () => {
    const unrecorded = afterDecision({ _tag: "Unrecorded", decisionId: "dec_01J0000000000000000000000B", reason: "unavailable" }, "policy_mainnet_v1");
    const answer = unrecorded.next === "answer" ? mcpAnswer("tools/call", unrecorded.outcome) : undefined;
    assert.ok(answer !== undefined && "result" in answer);
    assert.deepEqual(answer.result["structuredContent"], { decision_id: "dec_01J0000000000000000000000B", status: "denied", reason: "audit_unavailable", policy_id: "policy_mainnet_v1" });
    const allowed = decision({ status: "allowed", reason: null });
    const down = mcpAnswer("tools/call", { kind: "unanswered", decision: allowed, message: "down" });
    assert.ok("result" in down);
    assert.equal(down.result["isError"], true);
    assert.deepEqual(down.result["structuredContent"], { decision_id: allowed.decision_id, status: "failed", reason: "upstream_unavailable", policy_id: "policy_mainnet_v1" });
  });

  test("the upstream's own answer passes unchanged", () => {
    const result = { content: [{ type: "text", text: "hi" }], structuredContent: { x: 1 }, _meta: { y: 2 } };
    assert.deepEqual(mcpAnswer("tools/call", { kind: "answered", answer: { result } }), { result });
  });
});
