/**
 * The endpoints around `POST /actions` (contract sections 2 and 4): permits, the market
 * snapshot, keys, decisions, metrics, the OpenAPI document, health and readiness, who
 * may call what, and that no secret ever reaches a log line.
 */
import assert from "node:assert/strict";
import { createPublicKey, verify } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { validate } from "@readme/openapi-parser";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { EXAMPLE_POLICY_DIR, makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness, type Reply } from "../support/harness.ts";
import { assertAllowed, assertDenied, jcs, sha256Hex } from "./decisionAssertions.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const SWAP_PERMIT_REQUEST = { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 };

function readKeyFile(dataDir: string, name: string): Record<string, string> {
  return JSON.parse(readFileSync(join(dataDir, "keys", name), "utf8"));
}

/** Ed25519 verification with node:crypto alone: the public key as a JWK, the message as the JCS without `signature`. */
function permitSignatureVerifies(permit: Record<string, unknown>, publicKeyBase64Url: string): boolean {
  const { signature, ...unsigned } = permit;
  assert.equal(typeof signature, "string");
  assert.match(signature as string, /^ed25519:[A-Za-z0-9_-]+$/);
  const raw = Buffer.from((signature as string).slice("ed25519:".length), "base64url");
  assert.equal(raw.length, 64);
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: publicKeyBase64Url }, format: "jwk" });
  return verify(null, Buffer.from(jcs(unsigned), "utf8"), key, raw);
}

const postPermit = (h: Harness, json: unknown, token = h.tokens.operator) => h.request("POST", "/permits", { token, json });

describe("POST /permits", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
  });
  after(() => h.close());

  test("201 with a permit whose signature verifies under the permit key from GET /keys", async () => {
    const reply = await postPermit(h, SWAP_PERMIT_REQUEST);
    assert.equal(reply.status, 201, reply.text);
    const permit = reply.json;
    assert.deepEqual(Object.keys(permit).sort(), [
      "constraints",
      "expires_at",
      "issued_at",
      "key_id",
      "nonce",
      "permit_id",
      "policy_id",
      "scope",
      "signature",
      "subject",
    ]);
    assert.match(permit.permit_id, /^permit_/);
    assert.equal(permit.subject, "agent:desk-7");
    assert.equal(permit.scope, "swap.execute");
    assert.equal(permit.policy_id, "policy_mainnet_v1");
    assert.deepEqual(permit.constraints, SEED_CONSTRAINTS);
    assert.match(permit.nonce, UUID_V4);
    assert.equal(Date.parse(permit.expires_at) - Date.parse(permit.issued_at), 120_000);
    assert.ok(Math.abs(Date.parse(permit.issued_at) - Date.now()) < 5_000, "issued now");

    const keys = await h.request("GET", "/keys");
    const permitKey = keys.json.keys.find((k: { key_id: string }) => k.key_id === permit.key_id);
    assert.equal(permitKey?.use, "permit");
    assert.ok(permitSignatureVerifies(permit, permitKey.public_key));
    // Any change to a signed field breaks it; the audit key does not verify it either.
    assert.ok(!permitSignatureVerifies({ ...permit, subject: "agent:ops-1" }, permitKey.public_key));
    const auditKey = keys.json.keys.find((k: { use: string }) => k.use === "audit");
    assert.ok(!permitSignatureVerifies(permit, auditKey.public_key));
  });

  test("each permit has its own id and nonce, and a default TTL within the policy maximum", async () => {
    const first = await postPermit(h, { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS });
    const second = await postPermit(h, { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.notEqual(first.json.permit_id, second.json.permit_id);
    assert.notEqual(first.json.nonce, second.json.nonce);
    const ttl = Date.parse(first.json.expires_at) - Date.parse(first.json.issued_at);
    assert.ok(ttl > 0 && ttl <= 300_000, `default ttl ${ttl}`);
    assert.deepEqual(first.json.constraints, SEED_CONSTRAINTS);
    assert.equal(first.json.resource, undefined, "no resource binding unless asked for");
  });

  test("a permit bound to a resource carries it, signed, and allows only what it covers", async () => {
    await h.putSnapshot({ SOL: 142.1 });
    const exact = await postPermit(h, { ...SWAP_PERMIT_REQUEST, resource: "solana:mainnet/jupiter" });
    assert.equal(exact.status, 201, exact.text);
    assert.equal(exact.json.resource, "solana:mainnet/jupiter");
    assertDenied(await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ resource: "solana:mainnet/orca", intent: { protocol: "orca", asset: "SOL", amount: "1", slippage_bps: 30 }, permit: exact.json }) }), "scope_mismatch", "permit_resource");
    assertAllowed(await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit: exact.json }) }));
    // The binding is signed: widening it breaks the signature.
    const widened = await postPermit(h, { ...SWAP_PERMIT_REQUEST, resource: "solana:mainnet/jupiter" });
    assertDenied(await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit: { ...widened.json, resource: "solana:mainnet/*" } }) }), "invalid_signature", "permit_signature");
    const prefix = await postPermit(h, { ...SWAP_PERMIT_REQUEST, resource: "solana:mainnet/*" });
    assertAllowed(await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ resource: "solana:mainnet/orca", intent: { protocol: "orca", asset: "SOL", amount: "1", slippage_bps: 30 }, permit: prefix.json }) }));
  });

  test("400 with a reason for what the policy could never honour", async () => {
    const cases: Array<[unknown, string]> = [
      [{ subject: "agent:desk-7", scope: "quote.read" }, "unknown_scope"],
      [{ subject: "agent:desk-7", scope: "nuke.everything" }, "unknown_scope"],
      [{ subject: "agent:desk-7", scope: "constructor" }, "unknown_scope"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: { max_leverage: 5 } }, "unknown_constraint"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 301 }, "permit_ttl_too_long"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 3600 }, "permit_ttl_too_long"],
      // The example policy requires all three swap constraints: a permit without one would allow any size.
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: {} }, "permit_constraint_missing"],
      [{ subject: "agent:desk-7", scope: "swap.execute" }, "permit_constraint_missing"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: { max_slippage_bps: 40, protocol_allowlist: ["jupiter"] } }, "permit_constraint_missing"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, resource: "solana:*/jupiter" }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, resource: "" }, "malformed_request"],
      [{ scope: "swap.execute" }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", ttl_seconds: -5 }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", ttl_seconds: 1.5 }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: { max_slippage_bps: "40" } }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", constraints: { max_notional_usd: -1 } }, "malformed_request"],
      [{ subject: "agent:desk-7", scope: "swap.execute", extra: true }, "malformed_request"],
      [[], "malformed_request"],
      [null, "malformed_request"],
    ];
    for (const [body, reason] of cases) {
      const reply = await postPermit(h, body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)} -> ${reply.text}`);
      assert.equal(reply.json.reason, reason, `${JSON.stringify(body)} -> ${reply.text}`);
      assert.equal(reply.json.signature, undefined);
    }
    // Constraints hidden behind a "__proto__" key are not silently dropped into an unconstrained permit.
    const hidden = await h.request("POST", "/permits", {
      token: h.tokens.operator,
      body: '{"subject":"agent:desk-7","scope":"swap.execute","constraints":{"__proto__":{"max_notional_usd":1,"max_leverage":9}}}',
    });
    assert.equal(hidden.status, 400, hidden.text);
    assert.equal(hidden.json.reason, "malformed_request");
    assert.deepEqual(hidden.json.errors, [{ path: "$.constraints.__proto__", kind: "forbidden_key", message: 'the key "__proto__" is not accepted' }]);
    const notJson = await h.request("POST", "/permits", { token: h.tokens.operator, body: "{\"subject\":" });
    assert.equal(notJson.status, 400);
    assert.equal(notJson.json.reason, "malformed_request");
    const tooBig = await h.request("POST", "/permits", { token: h.tokens.operator, body: JSON.stringify({ subject: "x".repeat(70_000) }) });
    assert.equal(tooBig.status, 413);
  });

  test("an agent token gets 403 and no token 401; neither issues anything", async () => {
    for (const token of [h.tokens.desk7, h.tokens.ops1]) {
      const reply = await postPermit(h, SWAP_PERMIT_REQUEST, token);
      assert.equal(reply.status, 403, reply.text);
      assert.equal(reply.json.signature, undefined);
    }
    const anonymous = await h.request("POST", "/permits", { json: SWAP_PERMIT_REQUEST });
    assert.equal(anonymous.status, 401);
    assert.equal(anonymous.json.signature, undefined);
  });
});

describe("PUT /market/snapshot, GET /keys, GET /decisions/:id, /metrics, health", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
  });
  after(() => h.close());

  const swapNotional = async (): Promise<Reply> => {
    const permit = await h.issuePermit(SWAP_PERMIT_REQUEST);
    return h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
  };

  test("PUT /market/snapshot: the operator replaces the snapshot decisions price from; bad bodies change nothing", async () => {
    const asOf = new Date().toISOString();
    const put = await h.request("PUT", "/market/snapshot", { token: h.tokens.operator, json: { as_of: asOf, prices: { SOL: 200 } } });
    assert.equal(put.status, 200, put.text);
    assert.equal(put.json.as_of, asOf);
    assert.deepEqual(put.json.prices, { SOL: 200 });
    const priced = await swapNotional();
    assertAllowed(priced);
    assert.equal(priced.json.notional_usd, "2500");

    const bad: unknown[] = [
      { prices: { SOL: 1 } },
      { as_of: "yesterday", prices: { SOL: 1 } },
      { as_of: asOf, prices: { SOL: -1 } },
      { as_of: asOf, prices: { SOL: 0 } },
      { as_of: asOf, prices: { SOL: "1" } },
      { as_of: asOf, prices: { "S O L": 1 } },
      { as_of: asOf, prices: { SOL: 1 }, source: "agent" },
      { as_of: asOf },
      [],
    ];
    for (const body of bad) {
      const reply = await h.request("PUT", "/market/snapshot", { token: h.tokens.operator, json: body });
      assert.equal(reply.status, 400, `${JSON.stringify(body)} -> ${reply.text}`);
      assert.equal(reply.json.error, "malformed_request");
    }
    assert.equal((await h.request("PUT", "/market/snapshot", { token: h.tokens.operator, body: "{" })).status, 400);

    for (const token of [h.tokens.desk7, h.tokens.ops1]) {
      const reply = await h.request("PUT", "/market/snapshot", { token, json: { as_of: asOf, prices: { SOL: 0.01 } } });
      assert.equal(reply.status, 403);
    }
    assert.equal((await h.request("PUT", "/market/snapshot", { json: { as_of: asOf, prices: { SOL: 0.01 } } })).status, 401);

    const still = await swapNotional();
    assertAllowed(still);
    assert.equal(still.json.notional_usd, "2500", "rejected snapshots did not replace the trusted one");
  });

  test("GET /keys is public: the permit and audit keys, Ed25519, matching the key files, no private half", async () => {
    const reply = await h.request("GET", "/keys");
    assert.equal(reply.status, 200);
    const keys: Array<Record<string, string>> = reply.json.keys;
    assert.deepEqual(keys.map((k) => k.use).sort(), ["audit", "permit"]);
    for (const key of keys) {
      assert.deepEqual(Object.keys(key).sort(), ["alg", "key_id", "public_key", "use"]);
      assert.equal(key["alg"], "Ed25519");
      assert.match(key["public_key"] ?? "", /^[A-Za-z0-9_-]{43}$/);
      assert.equal(Buffer.from(key["public_key"] ?? "", "base64url").length, 32);
      const file = readKeyFile(h.dataDir, key["use"] === "permit" ? "issuer.pub.json" : "audit.pub.json");
      assert.equal(key["key_id"], file["key_id"]);
      assert.equal(key["public_key"], file["public_key"]);
    }
    assert.ok(!reply.text.includes(readKeyFile(h.dataDir, "issuer.key.json")["private_key"] ?? "-"));
  });

  test("GET /decisions/:id: the acting agent and the operator see it; the other agent and bad ids get 404", async () => {
    const acted = await h.request("POST", "/actions", {
      token: h.tokens.desk7,
      json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" },
    });
    assertAllowed(acted);
    const id = acted.json.decision_id;
    for (const token of [h.tokens.desk7, h.tokens.operator]) {
      const read = await h.request("GET", `/decisions/${id}`, { token });
      assert.equal(read.status, 200, read.text);
      assert.equal(read.json.decision_id, id);
      assert.equal(read.json.status, "allowed");
      assert.equal(read.json.receipt_hash, acted.json.receipt_hash);
      assert.equal(read.json.actor, "agent:desk-7");
      assert.equal(read.json.action, "quote.read");
      assert.equal(read.json.resource, "solana:mainnet/x");
      assert.equal(read.json.execution, null);
      assert.equal(read.json.audit.stream, `decision-${id}`);
      assert.ok(Number.isInteger(read.json.audit.position) && read.json.audit.position > 0);
      assert.ok("anchor" in read.json);
    }
    const other = await h.request("GET", `/decisions/${id}`, { token: h.tokens.ops1 });
    assert.equal(other.status, 404);
    assert.equal(other.json.status, 404, "a problem, not the decision's status");
    assert.equal(other.json.decision_id, undefined, "nothing of the decision leaks");
    assert.equal(other.json.receipt_hash, undefined);
    assert.equal((await h.request("GET", `/decisions/${id}`)).status, 401);

    const unknownButWellFormed = `dec_${"0".repeat(26)}`;
    for (const bad of [unknownButWellFormed, "not-an-id", id.toLowerCase(), `${id}x`, "dec_", "..%2F..%2Fetc"]) {
      const reply = await h.request("GET", `/decisions/${bad}`, { token: h.tokens.operator });
      assert.equal(reply.status, 404, `${bad} -> ${reply.text}`);
    }
  });

  test("/metrics is operator-only Prometheus text with decision counts and both latency histograms", async () => {
    const fresh = await makeHarness();
    try {
      await fresh.putSnapshot({ SOL: 142.1 });
      const quote = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" };
      for (let i = 0; i < 3; i++) assertAllowed(await fresh.request("POST", "/actions", { token: fresh.tokens.desk7, json: quote }));
      const permit = await fresh.issuePermit(SWAP_PERMIT_REQUEST);
      assertAllowed(await fresh.request("POST", "/actions", { token: fresh.tokens.desk7, json: swapRequest({ permit }) }));
      assertDenied(await fresh.request("POST", "/actions", { token: fresh.tokens.desk7, json: swapRequest({ permit }) }), "nonce_replay_detected");
      assertDenied(await fresh.request("POST", "/actions", { token: fresh.tokens.desk7, json: swapRequest() }), "permit_required");

      assert.equal((await fresh.request("GET", "/metrics", { token: fresh.tokens.desk7 })).status, 403);
      assert.equal((await fresh.request("GET", "/metrics")).status, 401);
      const metrics = await fresh.built.app.request("/metrics", { headers: { authorization: `Bearer ${fresh.tokens.operator}` } });
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
      const text = await metrics.text();
      const lines = text.split("\n");
      assert.ok(lines.includes('zt_decisions_total{status="allowed",reason="none"} 4'), text);
      assert.ok(lines.includes('zt_decisions_total{status="denied",reason="nonce_replay_detected"} 1'), text);
      assert.ok(lines.includes('zt_decisions_total{status="denied",reason="permit_required"} 1'), text);
      for (const histogram of ["zt_decision_duration_seconds", "zt_store_append_duration_seconds"]) {
        assert.ok(lines.includes(`# TYPE ${histogram} histogram`), histogram);
        assert.ok(lines.some((line) => line.startsWith(`${histogram}_bucket{le="+Inf"} `)), histogram);
        assert.ok(lines.some((line) => line.startsWith(`${histogram}_sum `)), histogram);
      }
      assert.ok(lines.includes("zt_decision_duration_seconds_count 6"), text);
      const appends = Number(lines.find((line) => line.startsWith("zt_store_append_duration_seconds_count "))?.split(" ")[1]);
      assert.equal(appends, 6, "6 decisions, each one store call (the nonce committed with its decision)");
    } finally {
      await fresh.close();
    }
  });

  test("/healthz and /readyz are public; readiness reports the loaded policy and its hash", async () => {
    const health = await h.request("GET", "/healthz");
    assert.equal(health.status, 200);
    assert.equal(health.json.status, "ok");
    const ready = await h.request("GET", "/readyz");
    assert.equal(ready.status, 200);
    assert.equal(ready.json.status, "ready");
    assert.equal(ready.json.policy_id, "policy_mainnet_v1");
    // policy_hash: sha256 of the JCS of {file: sha256 hex of its bytes} over the bundle files.
    const files = readdirSync(EXAMPLE_POLICY_DIR).filter((name) => name === "policy.json" || name === "images.lock.json" || name === "mcp.json" || name.endsWith(".cedar") || name.endsWith(".cedarschema"));
    const fileHashes = Object.fromEntries(files.map((name) => [name, sha256Hex(readFileSync(join(EXAMPLE_POLICY_DIR, name)))]));
    assert.equal(ready.json.policy_hash, sha256Hex(jcs(fileHashes)));
  });

  test("/openapi.json is public OpenAPI 3.1, documents the routes this build serves, and each documented one is routed", async () => {
    const reply = await h.request("GET", "/openapi.json");
    assert.equal(reply.status, 200);
    assert.equal(reply.json.openapi, "3.1.0");
    // A real validator, as generated clients use: the schema of OpenAPI 3.1 and every $ref resolving.
    const validation = await validate(structuredClone(reply.json));
    assert.ok(validation.valid, JSON.stringify(validation));
    assert.equal(validation.specification, "OpenAPI");
    const paths: Record<string, Record<string, unknown>> = reply.json.paths;
    const expected: Record<string, string[]> = {
      "/actions": ["post"],
      "/permits": ["post"],
      "/decisions/{id}": ["get"],
      "/market/snapshot": ["put"],
      "/keys": ["get"],
      "/healthz": ["get"],
      "/readyz": ["get"],
      "/metrics": ["get"],
      "/openapi.json": ["get"],
      "/approvals": ["get"],
      "/approvals/{id}": ["get"],
      "/approvals/{id}/approve": ["post"],
      "/approvals/{id}/reject": ["post"],
    };
    for (const [path, methods] of Object.entries(expected)) {
      assert.ok(path in paths, `${path} is documented`);
      for (const method of methods) assert.ok(method in (paths[path] ?? {}), `${method} ${path} is documented`);
    }
    const reasons: unknown[] = reply.json.components.schemas.Decision.properties.reason.enum;
    for (const reason of ["malformed_request", "policy_denied", "nonce_replay_detected", "audit_unavailable", "policy_unavailable"]) {
      assert.ok(reasons.includes(reason), reason);
    }
    // Every route this build serves is documented...
    const served = h.built.app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method.toLowerCase()} ${route.path.replace(/:([A-Za-z_]+)/g, "{$1}")}`);
    for (const operation of new Set(served)) {
      const [method, path] = operation.split(" ") as [string, string];
      assert.ok(method in (paths[path] ?? {}), `${operation} is served but not documented`);
    }
    // ...and every documented operation is routed (no "no route" 404).
    for (const [path, operations] of Object.entries(paths)) {
      for (const method of Object.keys(operations)) {
        const concrete = path.replace(/\{[a-z_]+\}/, `dec_${"0".repeat(26)}`);
        const answer = await h.request(method.toUpperCase(), concrete, { token: h.tokens.operator, ...(method === "get" ? {} : { json: {} }) });
        assert.ok(!(answer.status === 404 && answer.json?.error === "not_found" && String(answer.json?.message).startsWith("no route")), `${method} ${path} is routed`);
      }
    }
  });
});

test("who may call what: public, operator-only and agent endpoints for every kind of caller", async () => {
  const h = await makeHarness();
  try {
    await h.putSnapshot({ SOL: 142.1 });
    const quote = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" };
    const own = await h.request("POST", "/actions", { token: h.tokens.desk7, json: quote });
    assertAllowed(own);
    const callers: Record<string, string | undefined> = {
      none: undefined,
      unknown: `zt_${"A".repeat(43)}`,
      desk7: h.tokens.desk7,
      ops1: h.tokens.ops1,
      operator: h.tokens.operator,
    };
    const snapshot = () => ({ as_of: new Date().toISOString(), prices: { SOL: 142.1 } });
    const table: Array<[string, string, () => unknown, Record<string, number>]> = [
      ["GET", "/healthz", () => undefined, { none: 200, unknown: 200, desk7: 200, ops1: 200, operator: 200 }],
      ["GET", "/readyz", () => undefined, { none: 200, unknown: 200, desk7: 200, ops1: 200, operator: 200 }],
      ["GET", "/keys", () => undefined, { none: 200, unknown: 200, desk7: 200, ops1: 200, operator: 200 }],
      ["GET", "/openapi.json", () => undefined, { none: 200, unknown: 200, desk7: 200, ops1: 200, operator: 200 }],
      ["GET", "/metrics", () => undefined, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 200 }],
      ["POST", "/permits", () => SWAP_PERMIT_REQUEST, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 201 }],
      ["PUT", "/market/snapshot", snapshot, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 200 }],
      ["POST", "/actions", () => quote, { none: 401, unknown: 401, desk7: 200, ops1: 403, operator: 403 }],
      ["GET", `/decisions/${own.json.decision_id}`, () => undefined, { none: 401, unknown: 401, desk7: 200, ops1: 404, operator: 200 }],
      ["GET", "/audit/head", () => undefined, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 200 }],
      ["GET", "/audit/records?after=0&limit=10", () => undefined, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 200 }],
      ["GET", "/audit/batches", () => undefined, { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 200 }],
      ["GET", "/approvals?status=pending", () => undefined, { none: 401, unknown: 401, desk7: 200, ops1: 200, operator: 200 }],
      ["GET", "/approvals/apr_01J9QJ00000000000000000000", () => undefined, { none: 401, unknown: 401, desk7: 404, ops1: 404, operator: 404 }],
      ["POST", "/approvals/apr_01J9QJ00000000000000000000/approve", () => ({}), { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 404 }],
      ["POST", "/approvals/apr_01J9QJ00000000000000000000/reject", () => ({}), { none: 401, unknown: 401, desk7: 403, ops1: 403, operator: 404 }],
      ["GET", "/no/such/route", () => undefined, { none: 401, unknown: 401, desk7: 404, ops1: 404, operator: 404 }],
    ];
    for (const [method, path, body, expected] of table) {
      for (const [caller, token] of Object.entries(callers)) {
        const json = body();
        const reply = await h.request(method, path, { ...(token === undefined ? {} : { token }), ...(json === undefined ? {} : { json }) });
        assert.equal(reply.status, expected[caller], `${method} ${path} as ${caller}: ${reply.text.slice(0, 200)}`);
      }
    }
    const challenge = await h.built.app.request("/metrics");
    assert.equal(challenge.status, 401);
    assert.match(challenge.headers.get("www-authenticate") ?? "", /^Bearer /);
  } finally {
    await h.close();
  }
});

test("no log line carries a bearer token, a permit signature or private key material", async () => {
  const h = await makeHarness();
  try {
    await h.putSnapshot({ SOL: 142.1 });
    const permits: Permit[] = [];
    for (let i = 0; i < 3; i++) permits.push(await h.issuePermit(SWAP_PERMIT_REQUEST));
    const [first, second, third] = permits as [Permit, Permit, Permit];
    const act = (token: string, json: unknown) => h.request("POST", "/actions", { token, json });
    assertAllowed(await act(h.tokens.desk7, swapRequest({ permit: first })));
    assertDenied(await act(h.tokens.desk7, swapRequest({ permit: first })), "nonce_replay_detected");
    assertDenied(await act(h.tokens.desk7, swapRequest({ permit: { ...second, scope: "quote.read" } })), "invalid_signature");
    assertDenied(await act(h.tokens.ops1, swapRequest({ actor: "agent:ops-1", permit: third })), "policy_denied");
    assertDenied(await act(h.tokens.operator, swapRequest({ permit: third })), "actor_mismatch");
    // Secrets pasted into places that are echoed or hashed: a malformed body, an unknown field, the context.
    await h.request("POST", "/actions", { token: h.tokens.desk7, body: `{"actor":"${h.tokens.operator}",${second.signature}` });
    await act(h.tokens.desk7, { ...swapRequest({ permit: second }), [h.tokens.ops1]: second.signature });
    await act(h.tokens.desk7, { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x", context: { token: h.tokens.operator } });
    await h.request("POST", "/permits", { token: h.tokens.operator, json: { subject: h.tokens.desk7, scope: second.signature } });
    // Failed authentication with near-miss tokens.
    await h.request("POST", "/actions", { token: `${h.tokens.desk7}0`, json: swapRequest({ permit: third }) });
    await h.request("GET", "/metrics", { token: h.tokens.desk7 });
    await h.request("GET", `/decisions/dec_${"0".repeat(26)}`, { token: h.tokens.ops1 });

    assert.ok(h.logs.length >= 10, `requests were logged (${h.logs.length} lines)`);
    assert.ok(h.logs.some((line) => line.includes("decision recorded")));
    const secrets: Array<[string, string]> = [
      ["operator token", h.tokens.operator],
      ["desk-7 token", h.tokens.desk7],
      ["ops-1 token", h.tokens.ops1],
      ["near-miss token", `${h.tokens.desk7}0`],
      ...permits.map((p): [string, string] => [`signature of ${p.permit_id}`, p.signature.slice("ed25519:".length)]),
      ["issuer private key", readKeyFile(h.dataDir, "issuer.key.json")["private_key"] ?? "missing"],
      ["audit private key", readKeyFile(h.dataDir, "audit.key.json")["private_key"] ?? "missing"],
    ];
    for (const [what, secret] of secrets) {
      assert.ok(secret.length >= 32, `${what} is a real secret`);
      const leaking = h.logs.find((line) => line.includes(secret));
      assert.equal(leaking, undefined, `${what} appears in a log line`);
    }
  } finally {
    await h.close();
  }
});
