/**
 * The decider, given/when/then: a command and its facts in, the exact events out. The
 * time, the decision id and the body's hash are inputs; hashes in the expected events are
 * recomputed here with `canonicalize` and node:crypto, never with project code.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import canonicalize from "canonicalize";
import fc from "fast-check";
import { Either } from "effect";
import { decide, loseNonceRace, type DecideAction } from "../../src/decisions/decide.ts";
import type { ActionDecided } from "../../src/decisions/events.ts";
import { compilePolicyBundle } from "../../src/policy/PolicyBundle.ts";
import type { ActionRequest } from "../../src/vocabulary/ActionRequest.ts";
import type { MarketSnapshot } from "../../src/vocabulary/MarketSnapshot.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";

const POLICY_DIR = fileURLToPath(new URL("../../policies/", import.meta.url));
// The example bundle, its image pinned here so the broker cases do not depend on a local build.
const PINNED = "sha256:" + "ab".repeat(32);
const compiled = compilePolicyBundle([
  ...readdirSync(POLICY_DIR)
    .filter((name) => name !== "images.lock.json")
    .map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) })),
  { path: "images.lock.json", bytes: new TextEncoder().encode(JSON.stringify({ "zt-busybox:local": PINNED })) },
]);
if (Either.isLeft(compiled)) throw new Error("example bundle must compile");
const policy = compiled.right;

const NOW = Date.parse("2026-02-23T18:40:30Z");
const DECIDED_AT = "2026-02-23T18:40:30.000Z";
const DECISION_ID = "dec_01J9QJ00000000000000000000";
const BODY_SHA256 = "b".repeat(64);
const PERMIT: Permit = {
  permit_id: "permit_01J9QJ",
  subject: "agent:desk-7",
  scope: "swap.execute",
  policy_id: "policy_mainnet_v1",
  constraints: { max_notional_usd: 10000, max_slippage_bps: 40, protocol_allowlist: ["jupiter", "orca"] },
  issued_at: "2026-02-23T18:40:00Z",
  expires_at: "2026-02-23T18:41:00Z",
  nonce: "8f16e8f4-5a0d-4a72-ae0c-3dc67f8ed8f1",
  key_id: "zt-0000000000000000",
  signature: `ed25519:${"A".repeat(86)}`,
};
const SNAPSHOT: MarketSnapshot = { as_of: "2026-02-23T18:40:00Z", prices: { SOL: 142.1 } };
const GOOD_FACTS = { issuerTrusted: true, signatureValid: true, nonceSeen: false };
const DESK7 = { role: "agent", actor: "agent:desk-7" } as const;
const INTENT = { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 };

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const jcs = (value: unknown) => canonicalize(value) ?? assert.fail("no JCS");

function swap(overrides: Partial<ActionRequest> = {}): ActionRequest {
  return { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", intent: INTENT, permit: PERMIT, ...overrides };
}

/** A command whose request is valid: the seed's swap unless overridden. */
function given(overrides: Partial<Omit<DecideAction, "parsed">> & { request?: ActionRequest } = {}): DecideAction {
  const { request = swap(), ...rest } = overrides;
  const intentHash = request.intent === undefined ? null : sha256(jcs(request.intent));
  return {
    decisionId: DECISION_ID,
    now: NOW,
    caller: DESK7,
    bodySha256: BODY_SHA256,
    parsed: { ok: true, request, intentHash },
    policy,
    permitFacts: GOOD_FACTS,
    market: SNAPSHOT,
    ...rest,
  };
}

const receipt = (decision: Pick<ActionDecided, "policy_id" | "permit_id" | "intent_hash" | "status" | "invariant_checks" | "decided_at">) =>
  sha256(jcs({ policy_id: decision.policy_id, permit_id: decision.permit_id, intent_hash: decision.intent_hash, decision: decision.status, invariant_checks: decision.invariant_checks, timestamp: decision.decided_at }));

const SWAP_CHECKS = [
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
  "nonce_consumed",
];

describe("decide", () => {
  test("given the seed's swap with a valid permit, when decided, then NonceConsumed.v1 then ActionDecided.v1 (allowed), exactly", () => {
    const { permit: _permit, ...request } = swap();
    const checks = SWAP_CHECKS.map((name) => ({ name, ok: true }));
    const intentHash = sha256(jcs(INTENT));
    const decision = {
      decision_id: DECISION_ID,
      policy_id: "policy_mainnet_v1",
      policy_hash: policy.policyHash,
      decided_at: DECIDED_AT,
      actor: "agent:desk-7",
      request_sha256: BODY_SHA256,
      status: "allowed",
      reason: null,
      detail: "allowed by policy and permit permit_01J9QJ",
      invariant_checks: checks,
      permit_id: "permit_01J9QJ",
      intent_hash: intentHash,
      receipt_hash: sha256(jcs({ policy_id: "policy_mainnet_v1", permit_id: "permit_01J9QJ", intent_hash: intentHash, decision: "allowed", invariant_checks: checks, timestamp: DECIDED_AT })),
      request,
      permit: (({ signature: _s, ...unsigned }) => unsigned)(PERMIT),
      notional_usd: "1776.25",
      determining_policies: ["desk7-swap-solana-mainnet"],
      http_status: 200,
    };
    assert.deepEqual(decide(given()).events, [
      {
        stream: `permit-nonce-${PERMIT.nonce}`,
        expected: "no_stream",
        type: "NonceConsumed.v1",
        data: { nonce: PERMIT.nonce, permit_id: PERMIT.permit_id, key_id: PERMIT.key_id, decision_id: DECISION_ID, consumed_at: DECIDED_AT },
      },
      { stream: `decision-${DECISION_ID}`, expected: "no_stream", type: "ActionDecided.v1", data: decision },
    ]);
  });

  test("given an allowed swap whose nonce a concurrent decision won, when the race is lost, then one ActionDecided.v1: nonce_replay_detected at nonce_consumed", () => {
    const lost = loseNonceRace(decide(given()));
    assert.equal(lost.events.length, 1);
    const [event] = lost.events;
    assert.equal(event!.type, "ActionDecided.v1");
    const data = event!.data as unknown as ActionDecided;
    assert.equal(data.status, "denied");
    assert.equal(data.reason, "nonce_replay_detected");
    assert.equal(data.http_status, 403);
    assert.deepEqual(data.invariant_checks.at(-1), { name: "nonce_consumed", ok: false });
    assert.ok(data.invariant_checks.slice(0, -1).every((c) => c.ok));
    assert.equal(data.receipt_hash, receipt(data));
  });

  test("given a refused body, when decided, then one ActionDecided.v1 (malformed_request) holding paths and kinds, and the body's hash only", () => {
    // Parsing is the service's; the decider is given its result.
    const refused = decide({ ...given(), parsed: { ok: false, problems: [{ path: "$.intent.amount", kind: "duplicate_key", message: "the key appears more than once in its object" }], httpStatus: 400 } });
    const checks = [{ name: "request_schema", ok: false }];
    assert.deepEqual(refused.events, [
      {
        stream: `decision-${DECISION_ID}`,
        expected: "no_stream",
        type: "ActionDecided.v1",
        data: {
          decision_id: DECISION_ID,
          policy_id: "policy_mainnet_v1",
          policy_hash: policy.policyHash,
          decided_at: DECIDED_AT,
          actor: "agent:desk-7",
          request_sha256: BODY_SHA256,
          status: "denied",
          reason: "malformed_request",
          detail: "request is not acceptable at $.intent.amount",
          invariant_checks: checks,
          permit_id: null,
          intent_hash: null,
          receipt_hash: sha256(jcs({ policy_id: "policy_mainnet_v1", permit_id: null, intent_hash: null, decision: "denied", invariant_checks: checks, timestamp: DECIDED_AT })),
          request: null,
          request_errors: [{ path: "$.intent.amount", kind: "duplicate_key" }],
          permit: null,
          notional_usd: null,
          determining_policies: [],
          http_status: 400,
        },
      },
    ]);
    assert.deepEqual(refused.problems, [{ path: "$.intent.amount", kind: "duplicate_key", message: "the key appears more than once in its object" }]);
    const tooLarge = decide({ ...given(), parsed: { ok: false, problems: [{ path: "$", kind: "size", message: "the body exceeds 65536 bytes" }], httpStatus: 413 } });
    assert.equal((tooLarge.events[0]!.data as unknown as ActionDecided).http_status, 413);
  });

  test("given the operator as the caller, when decided, then one ActionDecided.v1: actor_mismatch at actor_binding, and nothing else ran", () => {
    const decided = decide(given({ caller: { role: "operator", name: "operator:alice" } }));
    assert.equal(decided.events.length, 1);
    const data = decided.events[0]!.data as unknown as ActionDecided;
    assert.equal(data.actor, "operator");
    assert.equal(data.reason, "actor_mismatch");
    assert.equal(data.detail, "the operator token may not post actions");
    assert.deepEqual(data.invariant_checks, [{ name: "actor_binding", ok: false }]);
  });

  const denials: Array<[string, Parameters<typeof given>[0], string, string]> = [
    ["token bound to another actor", { caller: { role: "agent", actor: "agent:ops-1" } }, "actor_mismatch", "actor_binding"],
    ["resource outside mainnet", { request: swap({ resource: "solana:devnet/jupiter" }) }, "policy_denied", "cedar_policy"],
    ["no permit", { request: swap({ permit: undefined as unknown as Permit }) }, "permit_required", "permit_present"],
    ["untrusted key", { permitFacts: { ...GOOD_FACTS, issuerTrusted: false, signatureValid: false } }, "unknown_issuer", "permit_issuer"],
    ["bad signature", { permitFacts: { ...GOOD_FACTS, signatureValid: false } }, "invalid_signature", "permit_signature"],
    ["permit for another subject", { request: swap({ permit: { ...PERMIT, subject: "agent:ops-1" } }) }, "subject_mismatch", "permit_subject"],
    ["permit for another scope", { request: swap({ permit: { ...PERMIT, scope: "quote.read" } }) }, "scope_mismatch", "permit_scope"],
    ["permit for another policy", { request: swap({ permit: { ...PERMIT, policy_id: "policy_v0" } }) }, "policy_mismatch", "permit_policy"],
    ["issued in the future", { now: Date.parse("2026-02-23T18:39:54Z") }, "permit_not_yet_valid", "permit_not_before"],
    ["expired", { now: Date.parse("2026-02-23T18:41:00Z") }, "permit_expired", "permit_expiry"],
    ["lives too long", { request: swap({ permit: { ...PERMIT, expires_at: "2026-02-23T18:46:01Z" } }) }, "permit_ttl_too_long", "permit_ttl"],
    ["nonce already consumed", { permitFacts: { ...GOOD_FACTS, nonceSeen: true } }, "nonce_replay_detected", "nonce_unused"],
    ["protocol not on the list", { request: swap({ intent: { protocol: "raydium", asset: "SOL", amount: "1", slippage_bps: 1 } }) }, "protocol_not_allowed", "protocol_allowlist"],
    // The agent's claim alone is not enough: the resource names the protocol the swap is on.
    ["resource on a protocol not on the list, intent claiming one that is", { request: swap({ resource: "solana:mainnet/raydium" }) }, "protocol_not_allowed", "protocol_allowlist"],
    ["resource and intent naming different allowed protocols", { request: swap({ resource: "solana:mainnet/orca" }) }, "protocol_not_allowed", "protocol_allowlist"],
    ["resource naming no protocol", { request: swap({ resource: "solana:mainnet/" }) }, "protocol_not_allowed", "protocol_allowlist"],
    ["permit bound to another resource", { request: swap({ permit: { ...PERMIT, resource: "solana:mainnet/orca" } }) }, "scope_mismatch", "permit_resource"],
    ["permit bound to another resource prefix", { request: swap({ permit: { ...PERMIT, resource: "solana:devnet/*" } }) }, "scope_mismatch", "permit_resource"],
    ["permit without a constraint the policy requires", { request: swap({ permit: { ...PERMIT, constraints: { max_slippage_bps: 40, protocol_allowlist: ["jupiter"] } } }) }, "permit_constraint_missing", "permit_constraints"],
    ["permit with no constraints at all", { request: swap({ permit: { ...PERMIT, constraints: {} } }) }, "permit_constraint_missing", "permit_constraints"],
    ["no snapshot", { market: undefined }, "market_snapshot_stale", "market_snapshot_fresh"],
    ["old snapshot", { market: { ...SNAPSHOT, as_of: "2026-02-23T18:39:00Z" } }, "market_snapshot_stale", "market_snapshot_fresh"],
    ["snapshot from the future", { market: { ...SNAPSHOT, as_of: "2026-02-23T18:45:00Z" } }, "market_snapshot_stale", "market_snapshot_fresh"],
    ["unpriced asset", { request: swap({ intent: { protocol: "jupiter", asset: "BONK", amount: "1", slippage_bps: 1 } }) }, "market_price_unknown", "max_notional"],
    ["notional over the limit", { request: swap({ intent: { protocol: "jupiter", asset: "SOL", amount: "70.38", slippage_bps: 1 } }) }, "max_notional_exceeded", "max_notional"],
    ["no amount", { request: swap({ intent: { protocol: "jupiter", asset: "SOL", slippage_bps: 1 } }) }, "max_notional_exceeded", "max_notional"],
    ["slippage over the limit", { request: swap({ intent: { protocol: "jupiter", asset: "SOL", amount: "1", slippage_bps: 41 } }) }, "max_slippage_exceeded", "max_slippage"],
    ["no slippage", { request: swap({ intent: { protocol: "jupiter", asset: "SOL", amount: "1" } }) }, "max_slippage_exceeded", "max_slippage"],
  ];
  for (const [when, overrides, reason, lastCheck] of denials) {
    test(`given ${when}, then one ActionDecided.v1: ${reason}, stopping at ${lastCheck}, no nonce spent`, () => {
      const decided = decide(given(overrides));
      assert.deepEqual(decided.events.map((e) => e.type), ["ActionDecided.v1"]);
      const data = decided.events[0]!.data as unknown as ActionDecided;
      assert.equal(data.status, "denied");
      assert.equal(data.reason, reason);
      assert.equal(data.http_status, 403);
      assert.deepEqual(data.invariant_checks.at(-1), { name: lastCheck, ok: false });
      assert.ok(data.invariant_checks.slice(0, -1).every((c) => c.ok), "every earlier check passed");
      assert.ok(data.detail.length > 0);
      assert.equal(data.receipt_hash, receipt(data));
    });
  }

  test("a permit bound to the resource, exactly or by a trailing * prefix, allows it", () => {
    for (const resource of ["solana:mainnet/jupiter", "solana:mainnet/*", "solana:mainnet/jup*", "*"]) {
      const data = decide(given({ request: swap({ permit: { ...PERMIT, resource } }) })).decision;
      assert.equal(data.status, "allowed", resource);
      assert.deepEqual(data.invariant_checks.find((c) => c.name === "permit_resource"), { name: "permit_resource", ok: true });
    }
  });

  test("notional exactly at the limit is allowed (70.37 SOL x 142.1 = 9999.577)", () => {
    const data = decide(given({ request: swap({ intent: { protocol: "jupiter", asset: "SOL", amount: "70.37", slippage_bps: 40 } }) })).decision;
    assert.equal(data.status, "allowed");
    assert.equal(data.notional_usd, "9999.577");
  });

  test("given a policy-only quote.read, then one ActionDecided.v1 after two checks, no permit, no nonce", () => {
    const decided = decide(given({ request: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" }, permitFacts: undefined, market: undefined }));
    assert.deepEqual(decided.events.map((e) => e.type), ["ActionDecided.v1"]);
    assert.equal(decided.decision.status, "allowed");
    assert.deepEqual(decided.decision.invariant_checks.map((c) => c.name), ["actor_binding", "cedar_policy"]);
  });

  test("a permit presented where none is required is still verified", () => {
    const decided = decide(given({ request: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", permit: PERMIT }, permitFacts: { ...GOOD_FACTS, signatureValid: false } }));
    assert.equal(decided.decision.reason, "invalid_signature");
  });

  const ops = (execute: ActionRequest["execute"]): Parameters<typeof given>[0] => ({
    caller: { role: "agent", actor: "agent:ops-1" },
    request: { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", ...(execute ? { execute } : {}) },
    permitFacts: undefined,
  });
  test("broker rules: docker with the allowed (pinned) image, bwrap", () => {
    assert.equal(decide(given(ops({ broker: "docker", image: "zt-busybox:local", command: ["id"] }))).decision.status, "allowed");
    assert.equal(decide(given(ops({ broker: "bwrap", command: ["id"] }))).decision.status, "allowed");
  });
  const brokerDenials: Array<[string, ActionRequest["execute"], string]> = [
    ["nono is not allowed for ops-1", { broker: "nono", command: ["id"] }, "broker_not_allowed"],
    ["an unknown broker", { broker: "ssh", command: ["id"] }, "broker_not_allowed"],
    ["network access", { broker: "bwrap", command: ["id"], network: true }, "broker_not_allowed"],
    ["another image", { broker: "docker", image: "alpine:latest", command: ["id"] }, "image_not_allowed"],
    ["no image", { broker: "docker", command: ["id"] }, "image_not_allowed"],
  ];
  for (const [when, execute, reason] of brokerDenials) {
    test(`broker rules: ${when} -> ${reason}`, () => assert.equal(decide(given(ops(execute))).decision.reason, reason));
  }

  test("property: decide is deterministic and never allows with any failed permit fact", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: -600, max: 600 }), (trusted, valid, seen, skew) => {
        const input = given({ permitFacts: { issuerTrusted: trusted, signatureValid: trusted && valid, nonceSeen: seen }, now: NOW + skew * 1000 });
        const first = decide(input);
        assert.deepEqual(decide(input), first);
        if (first.decision.status === "allowed") {
          assert.ok(trusted && valid && !seen);
          assert.ok(NOW + skew * 1000 < Date.parse(PERMIT.expires_at));
          assert.equal(first.events[0]!.type, "NonceConsumed.v1", "an allow with a permit spends its nonce first");
        } else {
          assert.deepEqual(first.events.map((e) => e.type), ["ActionDecided.v1"], "a denial spends nothing");
        }
      }),
    );
  });
});
