/**
 * Every error answer of every endpoint is an RFC 9457 problem (contract section 4, issue
 * 12): the walk below sends each route every error it can give (401, 403, 404, 400, 413,
 * 409, 503 with the store made unreadable and unwritable, a decision denial) and checks
 * the content type, `type`, `title`, `status` and `reason` of each answer. A route added
 * to the app without a case here fails the coverage test.
 */
import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { PROBLEM_CONTENT_TYPE } from "../../src/http/problem.ts";
import { examplePolicyWith, makeHarness, swapRequest, type Harness, type Reply, type RequestOptions } from "../support/harness.ts";

type Who = "none" | "agent" | "operator";

interface ProblemCase {
  readonly route: string;
  readonly method: string;
  readonly path: string;
  readonly who: Who;
  readonly options?: Omit<RequestOptions, "token">;
  readonly status: number;
  readonly reason: string;
}

const UNKNOWN_ID = "00000000-0000-4000-8000-000000000000";
const UNKNOWN_APPROVAL = `apr_${"01M8S".padEnd(26, "0")}`;
const DEEP = "[".repeat(3000) + "]".repeat(3000);
const OVERSIZED = JSON.stringify({ pad: "x".repeat(70 * 1024) });
const NOT_JSON = { body: "{not json", headers: { "content-type": "application/json" } };

/** The routes an unauthenticated caller may reach: their answers carry no error to walk but 404 on a wrong path. */
const PUBLIC_ROUTES = new Set(["GET /healthz", "GET /keys", "GET /openapi.json", "GET /readyz", "GET /console", "ALL /console/", "ALL /console/assets/*"]);

/**
 * The MCP gateway's endpoints speak JSON-RPC, not problem+json: their errors are
 * JSON-RPC error objects, as MCP clients expect (contract section 8), walked in
 * test/mcp/badInput.e2e.test.ts.
 */
const JSON_RPC_ROUTES = new Set(["ALL /mcp", "ALL /mcp/:server"]);

/** The errors that need no store failure. `{decision}` is an ops-1 decision made in `before`. */
const CASES: ReadonlyArray<ProblemCase> = [
  // 401: no token, a wrong one, a wrong scheme.
  ...[
    "POST /actions",
    "GET /decisions/:id",
    "POST /permits",
    "PUT /market/snapshot",
    "GET /metrics",
    "GET /audit/head",
    "GET /audit/records",
    "GET /audit/batches",
    "GET /audit/consistency",
    "GET /audit/proofs/:decision_id",
    "GET /approvals",
    "GET /approvals/:id",
    "POST /approvals/:id/approve",
    "POST /approvals/:id/reject",
    "POST /policy/reload",
    "GET /console/api/session",
    "GET /console/api/decisions/stream",
    "GET /console/api/denials",
    "GET /console/api/evidence/:decision_id",
    "GET /console/api/anchors/:batch_id",
  ].map(
    (route): ProblemCase => {
      const [method, path] = route.split(" ") as [string, string];
      return { route, method, path: path.replace(/:[a-z_]+/, route.includes("anchors") ? "batch-1" : UNKNOWN_ID), who: "none", status: 401, reason: "unauthorized" };
    },
  ),
  { route: "GET /audit/head", method: "GET", path: "/audit/head", who: "none", options: { headers: { authorization: "Basic b3BlcmF0b3I6eA==" } }, status: 401, reason: "unauthorized" },
  { route: "GET /audit/head", method: "GET", path: "/audit/head", who: "none", options: { headers: { authorization: "Bearer not-a-token" } }, status: 401, reason: "unauthorized" },
  // 403: an agent on the operator's endpoints.
  ...["POST /permits", "PUT /market/snapshot", "GET /metrics", "GET /audit/head", "GET /audit/records", "GET /audit/batches", "GET /audit/consistency", "POST /approvals/:id/approve", "POST /approvals/:id/reject", "POST /policy/reload"].map((route): ProblemCase => {
    const [method, raw] = route.split(" ") as [string, string];
    const path = raw.replace(":id", UNKNOWN_APPROVAL);
    return { route, method, path, who: "agent", ...(method === "GET" ? {} : { options: { json: {} } }), status: 403, reason: "forbidden" };
  }),
  { route: "POST /approvals/:id/approve", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/approve`, who: "agent", options: { json: {} }, status: 403, reason: "forbidden" },
  { route: "POST /approvals/:id/reject", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/reject`, who: "agent", options: { json: {} }, status: 403, reason: "forbidden" },
  { route: "GET /console/api/anchors/:batch_id", method: "GET", path: "/console/api/anchors/batch-1", who: "agent", status: 403, reason: "forbidden" },
  { route: "GET /console/api/decisions/stream", method: "GET", path: "/console/api/decisions/stream?actor=agent:ops-1", who: "agent", status: 403, reason: "forbidden" },
  { route: "GET /console/api/denials", method: "GET", path: "/console/api/denials?actor=agent:ops-1", who: "agent", status: 403, reason: "forbidden" },
  // 404: unknown routes and decisions, another agent's decision.
  { route: "GET /decisions/:id", method: "GET", path: `/decisions/${UNKNOWN_ID}`, who: "operator", status: 404, reason: "not_found" },
  { route: "GET /decisions/:id", method: "GET", path: "/decisions/not-an-id", who: "agent", status: 404, reason: "not_found" },
  { route: "GET /decisions/:id", method: "GET", path: "/decisions/{decision}", who: "agent", status: 404, reason: "not_found" },
  { route: "GET /audit/proofs/:decision_id", method: "GET", path: `/audit/proofs/${UNKNOWN_ID}`, who: "operator", status: 404, reason: "not_found" },
  { route: "GET /audit/proofs/:decision_id", method: "GET", path: "/audit/proofs/{decision}", who: "agent", status: 404, reason: "not_found" },
  { route: "GET /approvals/:id", method: "GET", path: `/approvals/${UNKNOWN_APPROVAL}`, who: "operator", status: 404, reason: "not_found" },
  { route: "POST /approvals/:id/approve", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/approve`, who: "operator", options: { json: {} }, status: 404, reason: "not_found" },
  { route: "POST /approvals/:id/reject", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/reject`, who: "operator", options: { json: {} }, status: 404, reason: "not_found" },
  { route: "GET /console/api/evidence/:decision_id", method: "GET", path: `/console/api/evidence/${UNKNOWN_ID}`, who: "operator", status: 404, reason: "not_found" },
  { route: "GET /console/api/evidence/:decision_id", method: "GET", path: "/console/api/evidence/{decision}", who: "agent", status: 404, reason: "not_found" },
  { route: "GET /console/api/anchors/:batch_id", method: "GET", path: "/console/api/anchors/batch-99", who: "operator", status: 404, reason: "not_found" },
  { route: "(none)", method: "GET", path: "/console/assets/no-such-module.js", who: "none", status: 404, reason: "not_found" },
  { route: "(none)", method: "GET", path: "/no/such/route", who: "operator", status: 404, reason: "not_found" },
  { route: "(none)", method: "DELETE", path: "/actions", who: "agent", status: 404, reason: "not_found" },
  { route: "(none)", method: "GET", path: "/no/such/route", who: "none", status: 401, reason: "unauthorized" },
  // 400: bodies and parameters.
  { route: "POST /actions", method: "POST", path: "/actions", who: "agent", options: NOT_JSON, status: 400, reason: "malformed_request" },
  { route: "POST /actions", method: "POST", path: "/actions", who: "agent", options: { body: DEEP, headers: { "content-type": "application/json" } }, status: 400, reason: "malformed_request" },
  { route: "POST /permits", method: "POST", path: "/permits", who: "operator", options: NOT_JSON, status: 400, reason: "malformed_request" },
  { route: "POST /permits", method: "POST", path: "/permits", who: "operator", options: { body: DEEP, headers: { "content-type": "application/json" } }, status: 400, reason: "malformed_request" },
  { route: "POST /permits", method: "POST", path: "/permits", who: "operator", options: { json: { subject: "agent:desk-7", scope: "no.such.scope", constraints: {}, ttl_seconds: 60 } }, status: 400, reason: "unknown_scope" },
  { route: "PUT /market/snapshot", method: "PUT", path: "/market/snapshot", who: "operator", options: NOT_JSON, status: 400, reason: "malformed_request" },
  { route: "PUT /market/snapshot", method: "PUT", path: "/market/snapshot", who: "operator", options: { json: { as_of: "yesterday", prices: {} } }, status: 400, reason: "malformed_request" },
  { route: "GET /audit/records", method: "GET", path: "/audit/records?limit=0", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /audit/records", method: "GET", path: "/audit/records?after=-1", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /audit/consistency", method: "GET", path: "/audit/consistency?from=x&to=1", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /audit/consistency", method: "GET", path: "/audit/consistency?from=5&to=2", who: "operator", status: 400, reason: "bad_range" },
  { route: "GET /approvals", method: "GET", path: "/approvals?status=bogus", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "POST /approvals/:id/approve", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/approve`, who: "operator", options: NOT_JSON, status: 400, reason: "malformed_request" },
  { route: "POST /approvals/:id/reject", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/reject`, who: "operator", options: { json: { note: "x", extra: 1 } }, status: 400, reason: "malformed_request" },
  { route: "GET /console/api/session", method: "GET", path: "/console/api/session?x=1", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /console/api/decisions/stream", method: "GET", path: "/console/api/decisions/stream?backfill=-1", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /console/api/denials", method: "GET", path: "/console/api/denials?minutes=0", who: "operator", status: 400, reason: "invalid_parameter" },
  { route: "GET /console/api/anchors/:batch_id", method: "GET", path: "/console/api/anchors/not-a-batch", who: "operator", status: 400, reason: "invalid_parameter" },
  // 413: bodies over the cap (the contract's malformed_request with 413).
  { route: "POST /actions", method: "POST", path: "/actions", who: "agent", options: { body: OVERSIZED, headers: { "content-type": "application/json" } }, status: 413, reason: "malformed_request" },
  { route: "POST /permits", method: "POST", path: "/permits", who: "operator", options: { body: OVERSIZED, headers: { "content-type": "application/json" } }, status: 413, reason: "malformed_request" },
  { route: "PUT /market/snapshot", method: "PUT", path: "/market/snapshot", who: "operator", options: { body: OVERSIZED, headers: { "content-type": "application/json" } }, status: 413, reason: "malformed_request" },
  // 409: a decision no sealed checkpoint covers yet (checkpoints are a day apart here).
  { route: "GET /audit/proofs/:decision_id", method: "GET", path: "/audit/proofs/{decision}", who: "operator", status: 409, reason: "not_yet_sealed" },
  { route: "GET /console/api/evidence/:decision_id", method: "GET", path: "/console/api/evidence/{decision}", who: "operator", status: 409, reason: "not_yet_sealed" },
  // 403 decision denial: a problem whose contract status member stays "denied".
  { route: "POST /actions", method: "POST", path: "/actions", who: "agent", options: { json: swapRequest() }, status: 403, reason: "permit_required" },
];

/** The errors of a store that cannot be read or written: every route that touches it answers 503 audit_unavailable. */
const STORE_DOWN_CASES: ReadonlyArray<ProblemCase> = [
  { route: "POST /actions", method: "POST", path: "/actions", who: "agent", options: { json: swapRequest({ action: "quote.read", intent: { pair: "SOL/USDC" } }) }, status: 503, reason: "audit_unavailable" },
  { route: "POST /permits", method: "POST", path: "/permits", who: "operator", options: { json: { subject: "agent:desk-7", scope: "swap.execute", constraints: { max_notional_usd: 100, max_slippage_bps: 40, protocol_allowlist: ["jupiter"] }, ttl_seconds: 60 } }, status: 503, reason: "audit_unavailable" },
  { route: "PUT /market/snapshot", method: "PUT", path: "/market/snapshot", who: "operator", options: { json: { as_of: new Date().toISOString(), prices: { SOL: 150 } } }, status: 503, reason: "audit_unavailable" },
  { route: "GET /decisions/:id", method: "GET", path: "/decisions/{decision}", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /audit/head", method: "GET", path: "/audit/head", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /audit/records", method: "GET", path: "/audit/records", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /audit/batches", method: "GET", path: "/audit/batches", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /audit/proofs/:decision_id", method: "GET", path: "/audit/proofs/{decision}", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /approvals", method: "GET", path: "/approvals", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /approvals/:id", method: "GET", path: `/approvals/${UNKNOWN_APPROVAL}`, who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "POST /approvals/:id/approve", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/approve`, who: "operator", options: { json: {} }, status: 503, reason: "audit_unavailable" },
  { route: "POST /approvals/:id/reject", method: "POST", path: `/approvals/${UNKNOWN_APPROVAL}/reject`, who: "operator", options: { json: {} }, status: 503, reason: "audit_unavailable" },
  { route: "GET /console/api/evidence/:decision_id", method: "GET", path: "/console/api/evidence/{decision}", who: "operator", status: 503, reason: "audit_unavailable" },
  { route: "GET /console/api/anchors/:batch_id", method: "GET", path: "/console/api/anchors/batch-1", who: "operator", status: 503, reason: "audit_unavailable" },
  // The bundle on disk was changed (below): recording its activation needs the store.
  { route: "POST /policy/reload", method: "POST", path: "/policy/reload", who: "operator", status: 503, reason: "audit_unavailable" },
];

/**
 * Routes with no error of their own beyond those above: /audit/consistency computes from
 * the tree held in memory, so an unreadable store does not reach it; /metrics reads
 * counters only; the console's session names the token, and its decision stream and
 * denial counts read the console's feed, which follows the store in the background and
 * resumes when it can read again. /readyz answers its 503 as the contract's readiness
 * document.
 */
const NO_STORE_ERROR = new Set(["GET /audit/consistency", "GET /metrics", "GET /console/api/session", "GET /console/api/decisions/stream", "GET /console/api/denials"]);

function assertProblem(reply: Reply, expected: ProblemCase): void {
  const label = `${expected.method} ${expected.path} as ${expected.who}`;
  assert.equal(reply.status, expected.status, `${label}: ${reply.text.slice(0, 300)}`);
  assert.equal(reply.headers.get("content-type"), PROBLEM_CONTENT_TYPE, label);
  const body = reply.json as Record<string, unknown>;
  assert.equal(typeof body, "object", label);
  assert.equal(body["type"], `urn:zt-infra:problem:${expected.reason}`, label);
  assert.equal(typeof body["title"], "string", label);
  assert.ok((body["title"] as string).length > 0, label);
  assert.equal(body["reason"], expected.reason, label);
  assert.equal(typeof body["detail"], "string", label);
  // A recorded decision's problem keeps the contract's decision shape ("denied"); every other carries the HTTP status.
  if (expected.route === "POST /actions" && expected.status !== 401) assert.equal(body["status"], "denied", label);
  else assert.equal(body["status"], expected.status, label);
  if (expected.status === 401) assert.equal(reply.headers.get("www-authenticate"), 'Bearer realm="zt-infra"', label);
}

describe("every error answer is problem+json", () => {
  let h: Harness;
  let decision = "";
  // A copy of the example bundle, so that the reload cases can change it.
  const policyDir = examplePolicyWith(() => undefined);
  const manifestFile = join(policyDir, "policy.json");
  const manifest = readFileSync(manifestFile, "utf8");
  const tokenOf = (who: Who) => (who === "agent" ? h.tokens.desk7 : who === "operator" ? h.tokens.operator : undefined);
  const send = (c: ProblemCase) => {
    const token = tokenOf(c.who);
    return h.request(c.method, c.path.replace("{decision}", decision), { ...c.options, ...(token === undefined ? {} : { token }) });
  };

  before(async () => {
    h = await makeHarness({ policyDir, env: { ZT_CHECKPOINT_MS: "86400000", ZT_CHECKPOINT_RECORDS: "1000000", ZT_STORE_BUSY_TIMEOUT_MS: "100" } });
    // An ops-1 decision: desk-7 may not see it, and no checkpoint covers it.
    const quote = await h.request("POST", "/actions", { token: h.tokens.ops1, json: { actor: "agent:ops-1", action: "quote.read", resource: "solana:mainnet/jupiter", intent: { pair: "SOL/USDC" } } });
    assert.ok(quote.json?.decision_id, quote.text);
    decision = quote.json.decision_id;
  });
  after(async () => {
    await h.close();
    rmSync(policyDir, { recursive: true, force: true });
  });

  test("every route of the app is walked, and every route that reads or writes the store is walked with the store down", () => {
    const routes = new Set(h.built.app.routes.filter((route) => !(route.method === "ALL" && route.path === "/*")).map((route) => `${route.method} ${route.path}`));
    const walked = new Set(CASES.map((c) => c.route));
    const storeDown = new Set(STORE_DOWN_CASES.map((c) => c.route));
    for (const route of routes) {
      if (PUBLIC_ROUTES.has(route) || JSON_RPC_ROUTES.has(route)) continue;
      assert.ok(walked.has(route), `${route} has no error case in the walk`);
      assert.ok(storeDown.has(route) || NO_STORE_ERROR.has(route), `${route} has no store-down case in the walk`);
    }
  });

  test("401, 403, 404, 400, 413, 409 and a decision denial", async () => {
    for (const c of CASES) assertProblem(await send(c), c);
  });

  test("503 audit_unavailable when the store can be neither written nor read", async () => {
    // The audit records live beside the events in the SQLite store.
    const events = new DatabaseSync(join(h.dataDir, "events.db"));
    events.exec("PRAGMA busy_timeout = 10000");
    const hidden: Array<() => void> = [];
    try {
      // Hidden tables fail reads; a held write lock (busy timeout 100 ms) fails writes.
      events.exec("ALTER TABLE events RENAME TO events_hidden");
      hidden.push(() => events.exec("ALTER TABLE events_hidden RENAME TO events"));
      events.exec("ALTER TABLE audit_records RENAME TO audit_records_hidden");
      hidden.push(() => events.exec("ALTER TABLE audit_records_hidden RENAME TO audit_records"));
      events.exec("BEGIN EXCLUSIVE");
      writeFileSync(manifestFile, manifest.replace('"description": "', '"description": "Changed. '));
      for (const c of STORE_DOWN_CASES) assertProblem(await send(c), c);
    } finally {
      writeFileSync(manifestFile, manifest);
      if (events.isTransaction) events.exec("ROLLBACK");
      for (const restore of hidden) restore();
      events.close();
    }
    // The store back, the same routes answer again.
    assert.equal((await h.request("GET", `/decisions/${decision}`, { token: h.tokens.operator })).status, 200);
    assert.equal((await h.request("GET", "/audit/records", { token: h.tokens.operator })).status, 200);
  });

  test("422 policy_invalid when the bundle on disk does not load, naming the file and line; the bundle in force stays", async () => {
    const before = (await h.request("GET", "/readyz")).json.policy_hash;
    writeFileSync(manifestFile, manifest.replace('"policy_id"', '"policy_id": 7, "x"'));
    try {
      const c: ProblemCase = { route: "POST /policy/reload", method: "POST", path: "/policy/reload", who: "operator", status: 422, reason: "policy_invalid" };
      const reply = await send(c);
      assertProblem(reply, c);
      assert.ok(reply.json.problems.some((problem: string) => problem.includes("policy.json")), reply.text);
    } finally {
      writeFileSync(manifestFile, manifest);
    }
    assert.equal((await h.request("GET", "/readyz")).json.policy_hash, before);
  });
});
