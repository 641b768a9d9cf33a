/**
 * The attacks of the hardening review, replayed one by one against the full in-process
 * stack (real SQLite store, real Cedar, the projection writer on its worker thread),
 * each asserting what the service does now (contract section 7). Attacks that need a
 * process or an engine are replayed beside their subject:
 *   6  production key hygiene, private store files: test/process/startup.e2e.test.ts
 *   8  a lowercase `bearer` scheme: test/http/actions.e2e.test.ts
 *   9  OpenAPI validated by @readme/openapi-parser: test/http/endpoints.e2e.test.ts
 *   10 reaping that spares a live instance sharing the data directory: test/execution/DockerBroker.int.test.ts
 *   11 a retagged image: test/execution/execution.e2e.test.ts
 *   13 the test-suite hang: test/audit/ProjectorThread.int.test.ts
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Effect } from "effect";
import { verifyAudit } from "../../src/audit/verifyAudit.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { MAX_EVENT_JSON_DEPTH } from "../../src/events/encodeEventBatch.ts";
import { Identity } from "../../src/identity/Identity.ts";
import { signPermit } from "../../src/permits/issuePermit.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness } from "../support/harness.ts";
import { waitFor } from "../support/waitFor.ts";
import { assertDenied } from "./decisionAssertions.ts";

const nested = (depth: number, leaf: unknown = 1): unknown => (depth === 0 ? leaf : { x: nested(depth - 1, leaf) });
const nestedText = (depth: number) => `${"[".repeat(depth)}${"]".repeat(depth)}`;

describe("the hardening review's attacks", () => {
  let h: Harness;
  before(async () => {
    h = await makeHarness({ env: { ZT_CHECKPOINT_MS: "200" } });
    await h.putSnapshot({ SOL: 142.1 });
  });
  after(() => h.close());

  const storeEvents = async () => {
    const all = [];
    for (let after = 0; ; ) {
      const page = await h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readAll({ after, limit: 10_000 })));
      if (page.length === 0) return all;
      all.push(...page);
      after = page.at(-1)!.position;
    }
  };
  /** Waits until the audit chain covers every event in the store, and answers the head. */
  const projectionCaughtUp = () =>
    waitFor("the audit projection to cover every event", async () => {
      const [events, head] = await Promise.all([storeEvents(), h.request("GET", "/audit/head", { token: h.tokens.operator })]);
      return head.json.position === events.at(-1)?.position ? head.json : undefined;
    });
  const verify = () =>
    h.built.runtime.runPromise(Effect.flatMap(Identity, (identity) => verifyAudit({ auditKeys: new Map([[identity.auditKey.keyId, identity.auditKey.publicKey]]) })));

  test("attack 1: an intent nested 61 deep no longer stops the audit projection for good", async () => {
    // The review's request: within the old 64-level body limit, stored two levels deeper.
    const hostile = await h.request("POST", "/actions", {
      token: h.tokens.desk7,
      json: swapRequest({ intent: nested(60) }),
    });
    assert.equal(hostile.status, 400, hostile.text);
    assert.equal(hostile.json.reason, "malformed_request");
    assert.deepEqual(hostile.json.errors.map((e: { kind: string }) => e.kind), ["depth"]);
    const later = await h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" } });
    assert.equal(later.status, 200);
    // Both are recorded, and the chain covers them and what follows.
    const head = await projectionCaughtUp();
    assert.ok(head.seq >= 2);
    assert.equal((await h.request("GET", "/readyz")).status, 200);
    const report = await verify();
    assert.equal(report.ok, true, JSON.stringify(report.failure));
  });

  test("attack 1: the store port bounds what is stored, whoever writes", async () => {
    const refused = await h.built.runtime.runPromise(
      Effect.flatMap(EventStore, (store) => store.append(`probe-${randomUUID()}`, [{ id: randomUUID(), type: "Probe.v1", data: nested(MAX_EVENT_JSON_DEPTH + 1) as never }], "any")).pipe(Effect.flip),
    );
    assert.equal(refused.reason, "invalid_event");
    assert.match(refused.message, /nesting deeper than 48/);
  });

  test("attack 1: an event no JCS can carry, written behind the port, is chained with the stand-in and named by verify; the projection goes on", async () => {
    const db = new DatabaseSync((h.config.store as { path: string }).path);
    let position: number;
    try {
      const inserted = db
        .prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, 0, ?, ?, '{}', ?)")
        .run(randomUUID(), `insider-${randomUUID()}`, "Insider.v1", `{"x":${nestedText(100)}}`, new Date().toISOString());
      position = Number(inserted.lastInsertRowid);
    } finally {
      db.close();
    }
    const after = await h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" } });
    assert.equal(after.status, 200);
    const head = await projectionCaughtUp();
    assert.ok(head.position > position, "the projection went past the unhashable event");
    await waitFor("the unhashable event counted on /metrics", async () =>
      /^zt_audit_unhashable_events_total 1$/m.test((await h.request("GET", "/metrics", { token: h.tokens.operator })).text) ? true : undefined,
    );
    const report = await verify();
    assert.equal(report.ok, false);
    assert.equal(report.failure?.kind, "unhashable_event");
    assert.equal(report.failure?.position, position);
  });

  test("attack 1: a writer that fails is restarted and /readyz answers 503 while it is down", async () => {
    const db = new DatabaseSync((h.config.store as { path: string }).path);
    try {
      db.exec("CREATE TRIGGER zt_test_refuse BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'refused by the test'); END");
      const decided = await h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" } });
      assert.equal(decided.status, 200, "decisions go on while the writer is down");
      const down = await waitFor("/readyz to answer 503", async () => {
        const ready = await h.request("GET", "/readyz");
        return ready.status === 503 ? ready.json : undefined;
      });
      assert.equal(down.audit.writer, "restarting");
      assert.equal(down.store, "ok");
      db.exec("DROP TRIGGER zt_test_refuse");
      await waitFor("/readyz to answer 200 again", async () => ((await h.request("GET", "/readyz")).status === 200 ? true : undefined), { timeoutMs: 40_000 });
      await projectionCaughtUp();
    } finally {
      db.exec("DROP TRIGGER IF EXISTS zt_test_refuse");
      db.close();
    }
  });

  test("attack 2: 1,000 distinct 60 KB contexts do not stay in memory", { timeout: 120_000 }, async () => {
    setFlagsFromString("--expose-gc");
    const gc = runInNewContext("gc") as () => void;
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const filler = "z".repeat(60_000);
    const ask = (i: number) =>
      h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", context: { note: `${i}${filler}` } } });
    // Warm up whatever the first requests allocate once, then measure.
    for (let i = 0; i < 20; i++) assert.equal((await ask(-i - 1)).status, 200);
    const before = heap();
    for (let i = 0; i < 1000; i++) assert.equal((await ask(i)).status, 200);
    const grown = heap() - before;
    assert.ok(grown < 20 * 1024 * 1024, `heap grew ${(grown / 1024 / 1024).toFixed(1)} MB over 1,000 distinct 60 KB contexts`);
  });

  test("attack 3: a jupiter-only permit no longer allows a swap on raydium whose intent claims jupiter", async () => {
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, protocol_allowlist: ["jupiter"] }, ttl_seconds: 60 });
    const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ resource: "solana:mainnet/raydium", permit }) });
    assertDenied(reply, "protocol_not_allowed", "protocol_allowlist");
  });

  test("attack 3: a permit with constraints {} is refused at issue, and one signed anyway is denied at use", async () => {
    const issued = await h.request("POST", "/permits", { token: h.tokens.operator, json: { subject: "agent:desk-7", scope: "swap.execute", constraints: {}, ttl_seconds: 60 } });
    assert.equal(issued.status, 400, issued.text);
    assert.equal(issued.json.reason, "permit_constraint_missing");
    const issuer = await h.built.runtime.runPromise(Effect.map(Identity, (identity) => identity.issuerKey));
    const unbounded = signPermit({ subject: "agent:desk-7", scope: "swap.execute", policyId: "policy_mainnet_v1", constraints: {}, now: Date.now(), ttlSeconds: 60, permitId: `permit_${randomUUID()}`, nonce: randomUUID(), key: issuer });
    const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ intent: { protocol: "jupiter", asset: "SOL", amount: "1000000", slippage_bps: 30 }, permit: unbounded }) });
    assertDenied(reply, "permit_constraint_missing", "permit_constraints");
  });

  test("attack 4: a duplicate key is refused, wherever it is, and recorded", async () => {
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 });
    const before = (await h.decisionEvents()).length;
    const body = `{"actor":"agent:desk-7","action":"swap.execute","resource":"solana:mainnet/jupiter","permit":${JSON.stringify(permit)},"intent":{"protocol":"jupiter","asset":"SOL","amount":"100000","amount":"1","slippage_bps":30}}`;
    const reply = await h.request("POST", "/actions", { token: h.tokens.desk7, body });
    assert.equal(reply.status, 400, reply.text);
    assert.equal(reply.json.reason, "malformed_request");
    assert.deepEqual(reply.json.errors, [{ path: "$.intent.amount", kind: "duplicate_key", message: "the key appears more than once in its object" }]);
    assert.equal((await h.decisionEvents()).length, before + 1, "recorded");
    // The permit was not spent by the refused request.
    assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) })).json.status, "allowed");
    for (const [path, text] of [
      ["/permits", '{"subject":"agent:desk-7","subject":"agent:ops-1","scope":"swap.execute"}'],
      ["/market/snapshot", '{"as_of":"2026-01-01T00:00:00Z","prices":{"SOL":1,"SOL":1000}}'],
    ] as const) {
      const refused = await h.request(path === "/permits" ? "POST" : "PUT", path, { token: h.tokens.operator, body: text });
      assert.equal(refused.status, 400, `${path}: ${refused.text}`);
      assert.equal(refused.json.errors[0].kind, "duplicate_key");
    }
  });

  test("attack 5: bodies nested 3,000 deep answer 400 on every endpoint, never 500", async () => {
    const deep = `{"a":${nestedText(3000)}}`;
    for (const [method, path, token] of [
      ["PUT", "/market/snapshot", h.tokens.operator],
      ["POST", "/permits", h.tokens.operator],
      ["POST", "/actions", h.tokens.desk7],
    ] as const) {
      const reply = await h.request(method, path, { token, body: deep });
      assert.equal(reply.status, 400, `${method} ${path}: ${reply.text}`);
      assert.equal(reply.json.reason, "malformed_request");
      assert.equal(reply.json.errors[0].kind, "depth");
    }
  });

  test("attack 7: a 400 never echoes a submitted value: not a permit's signature, not an intent", async () => {
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 });
    const secretIntent = `intent-value-${randomUUID()}`;
    const reply = await h.request("POST", "/actions", {
      token: h.tokens.desk7,
      json: swapRequest({ permit: { ...permit, extra: "field" }, intent: { protocol: "jupiter", asset: "SOL", amount: "1", slippage_bps: 30, memo: secretIntent } }),
    });
    assert.equal(reply.status, 400, reply.text);
    assert.deepEqual(reply.json.errors, [{ path: "$.permit.extra", kind: "Unexpected", message: "is not accepted here" }]);
    for (const value of [permit.signature, permit.signature.slice("ed25519:".length), permit.nonce, secretIntent]) {
      assert.ok(!reply.text.includes(value), `the answer holds a submitted value: ${reply.text}`);
    }
    // Wrong types and bad values name what was expected, not what was sent.
    const typed = await h.request("POST", "/actions", { token: h.tokens.desk7, json: { ...swapRequest(), intent: { amount: secretIntent }, resource: 42 } });
    assert.equal(typed.status, 400);
    assert.ok(!typed.text.includes(secretIntent), typed.text);
    assert.deepEqual(typed.json.errors.map((e: { path: string }) => e.path).sort(), ["$.intent.amount", "$.intent.amount", "$.resource"]);
    // 403 details do not reflect intent values either.
    const denied = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit: await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 }), intent: { protocol: "jupiter", asset: secretIntent, amount: "1", slippage_bps: 30 } }) });
    assertDenied(denied, "market_price_unknown", "max_notional");
    assert.ok(!denied.text.includes(secretIntent), denied.text);
  });
});
