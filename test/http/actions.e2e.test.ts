/**
 * `POST /actions` end to end (contract section 4): the allowed paths, every deny reason
 * this build can produce with its status and failing check, the fail-closed 503s, single
 * use of permit nonces under concurrency and across a restart, and exactly one recorded
 * decision per authenticated call. Real SQLite, real Cedar, real signatures.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { loadConfig } from "../../src/config.ts";
import { randomSeed, readSigningKey, signingKeyFromSeed, type SigningKey } from "../../src/identity/KeyFile.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { signPermit } from "../../src/permits/issuePermit.ts";
import { startServer } from "../../src/server.ts";
import {
  EXAMPLE_POLICY_DIR,
  examplePolicyWith,
  makeHarness,
  readDevCredentials,
  SEED_CONSTRAINTS,
  swapRequest,
  tempDir,
  type Harness,
  type Reply,
} from "../support/harness.ts";
import {
  assertAllowed,
  assertDecisionShape,
  assertDenied as assertDeniedReply,
  CONTRACT_DENY_STATUS,
  DECISION_ID,
  intentHashOf,
  jcs,
  receiptHashOf,
  sha256Hex,
} from "./decisionAssertions.ts";

const POLICY_ID = "policy_mainnet_v1";

/** Deny reasons this file has produced, to check at the end that it covered them all. */
const observedReasons = new Set<string>();
function assertDenied(reply: Reply, reason: string, lastCheck?: string): void {
  assertDeniedReply(reply, reason, lastCheck);
  observedReasons.add(reason);
}
const SWAP_INTENT = { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 };

const ALLOWED_SWAP_CHECKS = [
  "actor_binding",
  "cedar_policy",
  "permit_present",
  "permit_issuer",
  "permit_signature",
  "permit_subject",
  "permit_scope",
  "permit_resource",
  "permit_constraints",
  "permit_policy",
  "permit_not_before",
  "permit_expiry",
  "permit_ttl",
  "nonce_unused",
  "protocol_allowlist",
  "market_snapshot_fresh",
  "max_notional",
  "max_slippage",
  "budget",
  "approval_rule",
  "nonce_consumed",
];

const quoteRequest = () => ({ actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" });
const shellRequest = (execute: Record<string, unknown>) => ({
  actor: "agent:ops-1",
  action: "shell.exec",
  resource: "host:sandbox",
  execute: { command: ["echo", "hi"], ...execute },
});

function issuerKeyOf(h: Harness): SigningKey {
  return readSigningKey(join(h.dataDir, "keys", "issuer.key.json"));
}

/** A permit signed offline, as `zt permit issue` would; defaults make a valid desk-7 swap permit. */
function offlinePermit(
  key: SigningKey,
  overrides: { subject?: string; scope?: string; policyId?: string; now?: number; ttlSeconds?: number; constraints?: Permit["constraints"]; resource?: string } = {},
): Permit {
  return signPermit({
    subject: overrides.subject ?? "agent:desk-7",
    scope: overrides.scope ?? "swap.execute",
    ...(overrides.resource === undefined ? {} : { resource: overrides.resource }),
    policyId: overrides.policyId ?? POLICY_ID,
    constraints: overrides.constraints ?? SEED_CONSTRAINTS,
    now: overrides.now ?? Date.now(),
    ttlSeconds: overrides.ttlSeconds ?? 60,
    permitId: `permit_offline_${randomUUID()}`,
    nonce: randomUUID(),
    key,
  });
}

const post = (h: Harness, token: string, json: unknown) => h.request("POST", "/actions", { token, json });

async function issueSwapPermit(h: Harness): Promise<Permit> {
  return h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 });
}

async function freshSnapshot(h: Harness): Promise<void> {
  const reply = await h.putSnapshot({ SOL: 142.1, USDC: 1 });
  assert.equal(reply.status, 200, reply.text);
}

/** The recorded decision behind an answer, read back as its own agent. */
async function recorded(h: Harness, token: string, reply: Reply): Promise<Record<string, any>> {
  const read = await h.request("GET", `/decisions/${reply.json.decision_id}`, { token });
  assert.equal(read.status, 200, read.text);
  return read.json;
}

describe("POST /actions: allowed paths", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
    await freshSnapshot(h);
  });
  after(() => h.close());

  test("a swap with a valid permit is allowed, with contract hashes and every check in order", async () => {
    const permit = await issueSwapPermit(h);
    const reply = await post(h, h.tokens.desk7, swapRequest({ permit }));
    assertAllowed(reply);
    const body = reply.json;
    assert.deepEqual(
      body.invariant_checks,
      ALLOWED_SWAP_CHECKS.map((name) => ({ name, ok: true })),
    );
    assert.equal(body.notional_usd, "1776.25");
    assert.equal(body.policy_id, POLICY_ID);
    assert.equal(body.permit_id, permit.permit_id);
    assert.equal(body.intent_hash, sha256Hex(jcs(SWAP_INTENT)));
    const receipt = sha256Hex(
      jcs({
        policy_id: body.policy_id,
        permit_id: body.permit_id,
        intent_hash: body.intent_hash,
        decision: body.status,
        invariant_checks: body.invariant_checks,
        timestamp: body.decided_at,
      }),
    );
    assert.equal(body.receipt_hash, receipt);
    assert.match(body.decided_at, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    assert.equal(body.execution, null);
    const ready = await h.request("GET", "/readyz");
    assert.equal(ready.status, 200);
    assert.equal(body.policy_hash, ready.json.policy_hash);
  });

  test("the intent hash covers the intent as sent, whatever its key order", async () => {
    const permit = await issueSwapPermit(h);
    const intent = { slippage_bps: 30, amount: "12.5", asset: "SOL", protocol: "jupiter", memo: "é😀" };
    const reply = await post(h, h.tokens.desk7, swapRequest({ permit, intent }));
    assertAllowed(reply);
    assert.equal(reply.json.intent_hash, intentHashOf(intent));
    assert.notEqual(reply.json.intent_hash, intentHashOf(SWAP_INTENT));
  });

  test("quote.read is allowed by policy alone, with no permit", async () => {
    const reply = await post(h, h.tokens.desk7, quoteRequest());
    assertAllowed(reply);
    assert.deepEqual(reply.json.invariant_checks, [
      { name: "actor_binding", ok: true },
      { name: "cedar_policy", ok: true },
    ]);
    assert.equal(reply.json.permit_id, null);
    assert.equal(reply.json.intent_hash, null);
    assert.equal(reply.json.notional_usd, null);
  });

  test("shell.exec by ops-1 through docker with the allowed image is allowed and handed to the docker broker", async () => {
    const reply = await post(h, h.tokens.ops1, shellRequest({ broker: "docker", image: "zt-busybox:local" }));
    assertAllowed(reply);
    assert.deepEqual(
      reply.json.invariant_checks.map((check: { name: string }) => check.name),
      ["actor_binding", "cedar_policy", "broker_allowed", "image_allowed"],
    );
    // What the run itself does is test/execution's business; here it is the docker broker's answer.
    assert.equal(reply.json.execution.broker, "docker");
  });

  test("shell.exec by ops-1 through bwrap is allowed (no image check)", async () => {
    const reply = await post(h, h.tokens.ops1, shellRequest({ broker: "bwrap" }));
    assertAllowed(reply);
    assert.deepEqual(
      reply.json.invariant_checks.map((check: { name: string }) => check.name),
      ["actor_binding", "cedar_policy", "broker_allowed"],
    );
  });
});

describe("POST /actions: every deny reason, its status and the check that failed", () => {
  let h: Harness;
  let issuer: SigningKey;
  before(async () => {
    h = await makeHarness();
    issuer = issuerKeyOf(h);
    await freshSnapshot(h);
  });
  after(() => h.close());

  test("malformed_request: not JSON, unknown field, wrong type (400, recorded with errors)", async () => {
    const notJson = await h.request("POST", "/actions", { token: h.tokens.desk7, body: "{not json", headers: { "content-type": "application/json" } });
    assertDenied(notJson, "malformed_request", "request_schema");
    assert.ok(Array.isArray(notJson.json.errors) && notJson.json.errors.length > 0);

    const unknownField = await post(h, h.tokens.desk7, { ...quoteRequest(), colour: "blue" });
    assertDenied(unknownField, "malformed_request", "request_schema");
    assert.ok(unknownField.json.errors.some((e: { path: string }) => e.path.includes("colour")), unknownField.text);

    const wrongType = await post(h, h.tokens.desk7, { ...quoteRequest(), resource: 42 });
    assertDenied(wrongType, "malformed_request", "request_schema");
    assert.ok(wrongType.json.errors.some((e: { path: string }) => e.path === "$.resource"), wrongType.text);

    const missing = await post(h, h.tokens.desk7, { actor: "agent:desk-7", action: "quote.read" });
    assertDenied(missing, "malformed_request", "request_schema");

    for (const reply of [notJson, unknownField, wrongType, missing]) {
      const stored = await recorded(h, h.tokens.desk7, reply);
      assert.equal(stored.reason, "malformed_request");
      assert.equal(stored.action, null, "a malformed request keeps no request values");
    }
  });

  test("malformed_request: a lone surrogate in context (a string or a key) is refused before Cedar sees it", async () => {
    for (const body of ['{"note":"\\ud800"}', '{"\\udfff":"x"}']) {
      const raw = `{"actor":"agent:desk-7","action":"quote.read","resource":"solana:mainnet/jupiter","context":${body}}`;
      const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, body: raw, headers: { "content-type": "application/json" } });
      assertDenied(reply, "malformed_request", "request_schema");
      assert.match(JSON.stringify(reply.json.errors), /lone surrogate/);
      assert.equal((await recorded(h, h.tokens.desk7, reply)).reason, "malformed_request");
    }
  });

  test("malformed_request: a body over 64 KiB answers 413 and is recorded", async () => {
    const big = JSON.stringify({ ...quoteRequest(), context: { pad: "x".repeat(64 * 1024) } });
    const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, body: big, headers: { "content-type": "application/json" } });
    assert.equal(reply.status, 413, reply.text);
    assertDenied(reply, "malformed_request", "request_schema");
    assert.equal((await recorded(h, h.tokens.desk7, reply)).reason, "malformed_request");
    // Exactly at the limit is still parsed.
    const pad = 64 * 1024 - JSON.stringify({ ...quoteRequest(), context: { pad: "" } }).length;
    const atLimit = JSON.stringify({ ...quoteRequest(), context: { pad: "x".repeat(pad) } });
    assert.equal(Buffer.byteLength(atLimit), 64 * 1024);
    assertAllowed(await h.request("POST", "/actions", { token: h.tokens.desk7, body: atLimit }));
  });

  test("malformed_request: a __proto__ key cannot hide intent fields from the checks, and is recorded", async () => {
    const permit = await issueSwapPermit(h);
    for (const intent of [
      '{"__proto__":{"protocol":"jupiter","asset":"SOL","amount":"1","slippage_bps":1}}',
      '{"protocol":"jupiter","asset":"SOL","slippage_bps":1,"__proto__":{"amount":"1"}}',
    ]) {
      const body = `{"actor":"agent:desk-7","action":"swap.execute","resource":"solana:mainnet/jupiter","intent":${intent},"permit":${JSON.stringify(permit)}}`;
      const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, body });
      assertDenied(reply, "malformed_request", "request_schema");
      assert.equal((await recorded(h, h.tokens.desk7, reply)).reason, "malformed_request");
    }
    const quote = await h.request("POST", "/actions", {
      token: h.tokens.desk7,
      body: '{"actor":"agent:desk-7","action":"quote.read","resource":"solana:mainnet/x","intent":{"__proto__":{}}}',
    });
    assertDenied(quote, "malformed_request", "request_schema");
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
  });

  test("actor_mismatch: a body naming another actor, and the operator token posting an action", async () => {
    assertDenied(await post(h, h.tokens.desk7, { ...quoteRequest(), actor: "agent:ops-1" }), "actor_mismatch", "actor_binding");
    assertDenied(await post(h, h.tokens.ops1, { ...shellRequest({ broker: "bwrap" }), actor: "agent:desk-7" }), "actor_mismatch", "actor_binding");
    const operator = await post(h, h.tokens.operator, quoteRequest());
    assertDenied(operator, "actor_mismatch", "actor_binding");
    assert.equal((await recorded(h, h.tokens.operator, operator)).actor, "operator");
  });

  test("policy_denied: desk-7 swap off mainnet, ops-1 swap", async () => {
    const permit = await issueSwapPermit(h);
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ resource: "solana:devnet/x", permit })), "policy_denied", "cedar_policy");
    assertDenied(await post(h, h.tokens.ops1, swapRequest({ actor: "agent:ops-1" })), "policy_denied", "cedar_policy");
    assertDenied(await post(h, h.tokens.ops1, { ...shellRequest({ broker: "bwrap" }), resource: "host:prod" }), "policy_denied", "cedar_policy");
    // Policy denials come before any permit check: the permit is still unspent.
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
  });

  test("broker_not_allowed: the nono broker, and network access", async () => {
    assertDenied(await post(h, h.tokens.ops1, shellRequest({ broker: "nono" })), "broker_not_allowed", "broker_allowed");
    assertDenied(
      await post(h, h.tokens.ops1, shellRequest({ broker: "docker", image: "zt-busybox:local", network: true })),
      "broker_not_allowed",
      "broker_allowed",
    );
    assertDenied(await post(h, h.tokens.ops1, shellRequest({ broker: "bwrap", network: true })), "broker_not_allowed", "broker_allowed");
  });

  test("broker_not_allowed: a timeout over the rule's limit is refused, never shortened", async () => {
    const dir = examplePolicyWith((manifest) => {
      manifest.execution.rules[0].brokers.bwrap = { limits: { timeout_ms: 1000 } };
    });
    const limited = await makeHarness({ policyDir: dir });
    try {
      const denied = await post(limited, limited.tokens.ops1, shellRequest({ broker: "bwrap", timeout_ms: 1001 }));
      assertDenied(denied, "broker_not_allowed", "broker_allowed");
      assert.match(denied.json.detail, /timeout_ms over the policy's 1000/);
      assert.equal(denied.json.execution, null);
    } finally {
      await limited.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("image_not_allowed: another image, and docker without an image", async () => {
    assertDenied(await post(h, h.tokens.ops1, shellRequest({ broker: "docker", image: "busybox:latest" })), "image_not_allowed", "image_allowed");
    assertDenied(await post(h, h.tokens.ops1, shellRequest({ broker: "docker" })), "image_not_allowed", "image_allowed");
  });

  test("permit_required: a swap without a permit", async () => {
    assertDenied(await post(h, h.tokens.desk7, swapRequest()), "permit_required", "permit_present");
  });

  test("unknown_issuer: a permit signed offline with a fresh key", async () => {
    const stranger = signingKeyFromSeed(randomSeed(), "permit");
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: offlinePermit(stranger) })), "unknown_issuer", "permit_issuer");
  });

  test("invalid_signature: one tampered constraint, one flipped signature character", async () => {
    const permit = await issueSwapPermit(h);
    const raised = { ...permit, constraints: { ...permit.constraints, max_notional_usd: 1_000_000_000 } };
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: raised })), "invalid_signature", "permit_signature");
    const body = permit.signature.slice("ed25519:".length);
    const flipped = `ed25519:${body.slice(0, 20)}${body[20] === "A" ? "B" : "A"}${body.slice(21)}`;
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: { ...permit, signature: flipped } })), "invalid_signature", "permit_signature");
    const noAllowlist = { ...permit, constraints: { max_notional_usd: 10000, max_slippage_bps: 40 } };
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: noAllowlist })), "invalid_signature", "permit_signature");
    // The untampered permit still works: none of the above spent its nonce.
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
  });

  test("subject_mismatch: a permit for agent:ops-1 used by desk-7", async () => {
    const reply = await post(h, h.tokens.desk7, swapRequest({ permit: offlinePermit(issuer, { subject: "agent:ops-1" }) }));
    assertDenied(reply, "subject_mismatch", "permit_subject");
  });

  test("scope_mismatch: a quote.read permit presented for a swap", async () => {
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: offlinePermit(issuer, { scope: "quote.read" }) })), "scope_mismatch", "permit_scope");
  });

  test("scope_mismatch: a permit bound to another resource", async () => {
    const onOrca = offlinePermit(issuer, { resource: "solana:mainnet/orca" });
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: onOrca })), "scope_mismatch", "permit_resource");
  });

  test("permit_constraint_missing: a validly signed permit without a constraint the policy requires", async () => {
    // The service would refuse to issue it; a key holder can still sign one.
    const unbounded = offlinePermit(issuer, { constraints: { max_slippage_bps: 40, protocol_allowlist: ["jupiter"] } });
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: unbounded })), "permit_constraint_missing", "permit_constraints");
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: offlinePermit(issuer, { constraints: {} }) })), "permit_constraint_missing", "permit_constraints");
  });

  test("policy_mismatch: a permit for another policy", async () => {
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: offlinePermit(issuer, { policyId: "policy_other" }) })), "policy_mismatch", "permit_policy");
  });

  test("permit_not_yet_valid, permit_expired, permit_ttl_too_long", async () => {
    const future = offlinePermit(issuer, { now: Date.now() + 10 * 60_000 });
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: future })), "permit_not_yet_valid", "permit_not_before");
    const expired = offlinePermit(issuer, { now: Date.now() - 10 * 60_000, ttlSeconds: 60 });
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: expired })), "permit_expired", "permit_expiry");
    const tooLong = offlinePermit(issuer, { ttlSeconds: 3600 });
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit: tooLong })), "permit_ttl_too_long", "permit_ttl");
  });

  test("a permit presented where none is required is still verified", async () => {
    const stranger = signingKeyFromSeed(randomSeed(), "permit");
    const reply = await post(h, h.tokens.desk7, { ...quoteRequest(), permit: offlinePermit(stranger, { scope: "quote.read" }) });
    assertDenied(reply, "unknown_issuer", "permit_issuer");
  });

  test("nonce_replay_detected: the second use of a permit", async () => {
    const permit = await issueSwapPermit(h);
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
    const replay = await post(h, h.tokens.desk7, swapRequest({ permit }));
    assertDenied(replay, "nonce_replay_detected", "nonce_unused");
    assert.equal(replay.json.permit_id, permit.permit_id);
  });

  test("nonce_replay_detected by the atomic consumption: concurrent uses that all read the nonce as unused", async () => {
    // All requests read the nonce before any signature check resolves, so every loser
    // passes nonce_unused and is stopped by the no_stream append (nonce_consumed).
    const permit = await issueSwapPermit(h);
    const replies = await Promise.all(Array.from({ length: 20 }, () => post(h, h.tokens.desk7, swapRequest({ permit }))));
    assert.equal(replies.filter((r) => r.status === 200).length, 1);
    const losers = replies.filter((r) => r.status !== 200);
    assert.equal(losers.length, 19);
    for (const loser of losers) {
      assertDenied(loser, "nonce_replay_detected", "nonce_consumed");
      assert.ok(loser.json.invariant_checks.some((c: { name: string; ok: boolean }) => c.name === "nonce_unused" && c.ok));
    }
  });

  test("constraint denials do not consume the nonce; the same permit is then allowed", async () => {
    const permit = await issueSwapPermit(h);
    const swap = (intent: Record<string, unknown>) => post(h, h.tokens.desk7, swapRequest({ permit, intent: { ...SWAP_INTENT, ...intent } }));

    assertDenied(await swap({ protocol: "uniswap" }), "protocol_not_allowed", "protocol_allowlist");
    const { protocol: _protocol, ...noProtocol } = SWAP_INTENT;
    assertDenied(await post(h, h.tokens.desk7, swapRequest({ permit, intent: noProtocol })), "protocol_not_allowed", "protocol_allowlist");

    const notional = await swap({ amount: "1000" });
    assertDenied(notional, "max_notional_exceeded", "max_notional");
    assert.equal(notional.json.notional_usd, "142100");

    const slippage = await swap({ slippage_bps: 50 });
    assertDenied(slippage, "max_slippage_exceeded", "max_slippage");
    assert.equal(slippage.json.notional_usd, "1776.25");

    assertDenied(await swap({ asset: "BONK" }), "market_price_unknown", "max_notional");

    assert.equal((await h.putSnapshot({ SOL: 142.1 }, new Date(Date.now() - 2 * 60_000).toISOString())).status, 200);
    assertDenied(await swap({}), "market_snapshot_stale", "market_snapshot_fresh");
    assert.equal((await h.putSnapshot({ SOL: 142.1 }, new Date(Date.now() + 10 * 60_000).toISOString())).status, 200);
    assertDenied(await swap({}), "market_snapshot_stale", "market_snapshot_fresh");
    await freshSnapshot(h);

    const allowed = await swap({});
    assertAllowed(allowed);
    assert.equal(allowed.json.permit_id, permit.permit_id);
    assertDenied(await swap({}), "nonce_replay_detected", "nonce_unused");
  });

  test("notional_usd comes from the trusted snapshot, not from the agent", async () => {
    const permit = await issueSwapPermit(h);
    const reply = await post(h, h.tokens.desk7, swapRequest({ permit, intent: { ...SWAP_INTENT, amount: "1000", price: 0.0001, notional_usd: "1" } }));
    assertDenied(reply, "max_notional_exceeded", "max_notional");
    assert.equal(reply.json.notional_usd, "142100");
  });
});

test("market_snapshot_stale when no snapshot was ever recorded", async () => {
  const h = await makeHarness();
  try {
    const permit = await issueSwapPermit(h);
    const reply = await post(h, h.tokens.desk7, swapRequest({ permit }));
    assertDenied(reply, "market_snapshot_stale", "market_snapshot_fresh");
    await freshSnapshot(h);
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
  } finally {
    await h.close();
  }
});

test("audit_unavailable: a store that cannot take the write lock answers 503 and records nothing", async () => {
  const h = await makeHarness({ env: { ZT_STORE_BUSY_TIMEOUT_MS: "100" } });
  const lock = new DatabaseSync(join(h.dataDir, "events.db"));
  try {
    await freshSnapshot(h);
    const permit = await issueSwapPermit(h);
    const before = await h.decisionEvents();

    lock.exec("BEGIN EXCLUSIVE");
    lock.exec("CREATE TABLE zt_test_lock (x)");
    const quote = await post(h, h.tokens.desk7, quoteRequest());
    const swap = await post(h, h.tokens.desk7, swapRequest({ permit }));
    const ready = await h.request("GET", "/readyz");
    lock.exec("ROLLBACK");

    for (const reply of [quote, swap]) {
      assert.equal(reply.status, 503, reply.text);
      assert.equal(reply.json.status, "denied");
      assert.equal(reply.json.reason, "audit_unavailable");
      observedReasons.add("audit_unavailable");
      assert.equal(reply.json.execution, null);
      assert.match(reply.json.decision_id, DECISION_ID);
    }
    assert.equal(ready.status, 503);
    assert.equal(ready.json.status, "not_ready");

    const afterLock = await h.decisionEvents();
    assert.equal(afterLock.length, before.length, "nothing was recorded while the store was locked");
    for (const reply of [quote, swap]) {
      assert.ok(!afterLock.some((event) => event.data["decision_id"] === reply.json.decision_id));
      assert.equal((await h.request("GET", `/decisions/${reply.json.decision_id}`, { token: h.tokens.desk7 })).status, 404);
    }
    // The nonce append failed too, so the permit is unspent once the store is back.
    assertAllowed(await post(h, h.tokens.desk7, swapRequest({ permit })));
    assert.equal((await h.request("GET", "/readyz")).status, 200);
    const metrics = await h.request("GET", "/metrics", { token: h.tokens.operator });
    assert.match(metrics.text, /zt_decisions_total\{status="denied",reason="audit_unavailable"\} 2\n/);
  } finally {
    if (lock.isTransaction) lock.exec("ROLLBACK");
    lock.close();
    await h.close();
  }
});

test("policy_unavailable: a Cedar evaluation error answers 503, recorded, never allowed", async () => {
  const bundle = tempDir("zt-bundle-");
  mkdirSync(bundle, { recursive: true });
  writeFileSync(
    join(bundle, "policy.json"),
    JSON.stringify({
      policy_id: "policy_overflow_test",
      permits: { max_ttl_seconds: 300, clock_skew_seconds: 5, scopes: {} },
      market: { max_age_seconds: 60 },
    }),
  );
  writeFileSync(
    join(bundle, "schema.cedarschema"),
    'entity Agent;\nentity Resource = { "path": String };\naction "calc.run" appliesTo { principal: [Agent], resource: [Resource], context: { "n"?: Long } };\n',
  );
  writeFileSync(
    join(bundle, "calc.cedar"),
    [
      '@id("calc-permit")',
      'permit (principal == Agent::"agent:desk-7", action == Action::"calc.run", resource);',
      '@id("calc-overflow")',
      'forbid (principal, action == Action::"calc.run", resource) when { context has n && context.n * 1000000000000 > 0 };',
      "",
    ].join("\n"),
  );
  const h = await makeHarness({ policyDir: bundle });
  try {
    const calc = (context: Record<string, unknown>) => post(h, h.tokens.desk7, { actor: "agent:desk-7", action: "calc.run", resource: "calc:x", context });
    // The bundle does what it says when evaluation succeeds.
    assertAllowed(await calc({}));
    assertDenied(await calc({ n: 1 }), "policy_denied", "cedar_policy");

    const reply = await calc({ n: 9007199254740991 });
    assertDenied(reply, "policy_unavailable", "cedar_policy");
    assert.equal(reply.status, 503);
    const stored = await recorded(h, h.tokens.desk7, reply);
    assert.equal(stored.reason, "policy_unavailable");
    assert.equal(stored.receipt_hash, reply.json.receipt_hash);
    const events = await h.decisionEvents();
    const event = events.find((e) => e.data["decision_id"] === reply.json.decision_id);
    assert.equal(event?.data["reason"], "policy_unavailable");
    assert.equal(event?.data["http_status"], 503);
  } finally {
    await h.close();
    rmSync(bundle, { recursive: true, force: true });
  }
});

test("acceptance: 50 concurrent uses of one permit over a real socket allow exactly one, and a restart remembers", async () => {
  const dataDir = tempDir();
  const env = { ZT_PORT: "0", ZT_HOST: "127.0.0.1", ZT_DATA_DIR: dataDir, ZT_POLICY_DIR: EXAMPLE_POLICY_DIR, ZT_CHAIN: "off", ZT_LOG_LEVEL: "none" };
  let server = await startServer(loadConfig(env));
  try {
    const tokens = readDevCredentials(dataDir);
    const call = async (method: string, path: string, token: string, json: unknown) => {
      const response = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(json),
      });
      return { status: response.status, json: (await response.json()) as any };
    };
    assert.equal((await call("PUT", "/market/snapshot", tokens.operator, { as_of: new Date().toISOString(), prices: { SOL: 142.1 } })).status, 200);
    const issued = await call("POST", "/permits", tokens.operator, { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
    assert.equal(issued.status, 201);
    const permit = issued.json as Permit;

    const replies = await Promise.all(Array.from({ length: 50 }, () => call("POST", "/actions", tokens.desk7, swapRequest({ permit }))));
    const allowed = replies.filter((r) => r.status === 200 && r.json.status === "allowed");
    const replayed = replies.filter((r) => r.status === 403 && r.json.reason === "nonce_replay_detected");
    assert.equal(allowed.length, 1, JSON.stringify(replies.map((r) => r.json.reason)));
    assert.equal(replayed.length, 49);
    for (const reply of replies) assertDecisionShape(reply.json);
    assert.equal(new Set(replies.map((r) => r.json.decision_id)).size, 50);

    const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
    const decidedIds = () =>
      db.prepare("SELECT data FROM events WHERE type = 'ActionDecided.v1'").all().map((row) => JSON.parse(String(row["data"])).decision_id as string);
    const consumedEvents = () => db.prepare("SELECT stream, data FROM events WHERE type = 'NonceConsumed.v1'").all();
    try {
      assert.equal(decidedIds().length, 50);
      assert.deepEqual(new Set(decidedIds()), new Set(replies.map((r) => r.json.decision_id)));
      const consumed = consumedEvents();
      assert.equal(consumed.length, 1);
      assert.equal(consumed[0]?.["stream"], `permit-nonce-${permit.nonce}`);
      assert.equal(JSON.parse(String(consumed[0]?.["data"])).decision_id, allowed[0]?.json.decision_id);

      await server.close();
      server = await startServer(loadConfig(env));
      const afterRestart = await call("POST", "/actions", tokens.desk7, swapRequest({ permit }));
      assert.equal(afterRestart.status, 403);
      assert.equal(afterRestart.json.reason, "nonce_replay_detected");
      assert.equal(decidedIds().length, 51);
      assert.ok(decidedIds().includes(afterRestart.json.decision_id));
      assert.equal(consumedEvents().length, 1);

      // Over a socket the declared Content-Length already exceeds the limit: refused unread, still recorded.
      const oversize = await call("POST", "/actions", tokens.desk7, { ...swapRequest({ permit }), context: { pad: "x".repeat(70_000) } });
      assert.equal(oversize.status, 413);
      assert.equal(oversize.json.reason, "malformed_request");
      assert.equal(decidedIds().length, 52);
      assert.equal(consumedEvents().length, 1);
    } finally {
      db.close();
    }
  } finally {
    await server.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
});

describe("every authenticated POST /actions is recorded exactly once", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness();
    await freshSnapshot(h);
  });
  after(() => h.close());

  test("allowed, denied and malformed answers each add one event, readable by decision_id", async () => {
    const permit = await issueSwapPermit(h);
    const calls: Array<() => Promise<Reply>> = [
      () => post(h, h.tokens.desk7, swapRequest({ permit })),
      () => post(h, h.tokens.desk7, swapRequest({ permit })),
      () => post(h, h.tokens.desk7, quoteRequest()),
      () => post(h, h.tokens.ops1, swapRequest({ actor: "agent:ops-1" })),
      () => post(h, h.tokens.operator, quoteRequest()),
      () => h.request("POST", "/actions", { token: h.tokens.desk7, body: "\u0000\u0001" }),
      () => h.request("POST", "/actions", { token: h.tokens.desk7 }),
    ];
    for (const call of calls) {
      const before = await h.decisionEvents();
      const reply = await call();
      const afterCall = await h.decisionEvents();
      assert.equal(afterCall.length, before.length + 1, reply.text);
      assert.equal(afterCall.at(-1)?.data["decision_id"], reply.json.decision_id);
      assert.equal(afterCall.at(-1)?.data["receipt_hash"], reply.json.receipt_hash);
      const read = await h.request("GET", `/decisions/${reply.json.decision_id}`, { token: h.tokens.operator });
      assert.equal(read.status, 200);
      for (const field of ["decision_id", "status", "reason", "invariant_checks", "policy_id", "policy_hash", "permit_id", "intent_hash", "receipt_hash", "decided_at"]) {
        assert.deepEqual(read.json[field], reply.json[field], field);
      }
      assert.equal(read.json.receipt_hash, receiptHashOf(read.json));
    }
  });

  test("401 without a token, with an unknown token or a non-Bearer scheme records nothing", async () => {
    const before = await h.decisionEvents();
    const attempts: Reply[] = [
      await h.request("POST", "/actions", { json: quoteRequest() }),
      await h.request("POST", "/actions", { token: "zt_not-a-real-token", json: quoteRequest() }),
      await h.request("POST", "/actions", { token: `${h.tokens.desk7}x`, json: quoteRequest() }),
      await h.request("POST", "/actions", { json: quoteRequest(), headers: { authorization: `Basic ${h.tokens.desk7}` } }),
      await h.request("POST", "/actions", { json: quoteRequest(), headers: { authorization: `Bearer${h.tokens.desk7}` } }),
      await h.request("POST", "/actions", { json: quoteRequest(), headers: { authorization: `Bearer ${h.tokens.desk7} extra` } }),
    ];
    for (const reply of attempts) {
      assert.equal(reply.status, 401, reply.text);
      assert.equal(reply.json.error, "unauthorized");
      assert.equal(reply.json.decision_id, undefined);
    }
    assert.equal((await h.decisionEvents()).length, before.length);
  });

  test("the Bearer scheme name is case-insensitive, and one or more spaces may follow it (RFC 7235 section 2.1)", async () => {
    for (const scheme of ["bearer", "BEARER", "bEaReR"]) {
      for (const gap of [" ", "  "]) {
        const reply = await h.request("POST", "/actions", { json: quoteRequest(), headers: { authorization: `${scheme}${gap}${h.tokens.desk7}` } });
        assert.equal(reply.status, 200, `${scheme}${JSON.stringify(gap)}: ${reply.text}`);
      }
    }
  });
});

test("this file produced every deny reason of the contract", () => {
  const missing = Object.keys(CONTRACT_DENY_STATUS).filter((reason) => !observedReasons.has(reason));
  assert.deepEqual(missing, []);
});
