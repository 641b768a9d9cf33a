/**
 * The pure decider, given/when/then: facts in, verdict out, checks in their fixed order.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import fc from "fast-check";
import { Either } from "effect";
import type { ActionRequest } from "../../src/decisions/ActionRequest.ts";
import { decide, settleNonce, type DecideInput } from "../../src/decisions/decide.ts";
import type { MarketSnapshot } from "../../src/market/MarketSnapshot.ts";
import type { Permit } from "../../src/permits/Permit.ts";
import { compilePolicyBundle } from "../../src/policy/PolicyBundle.ts";

const POLICY_DIR = fileURLToPath(new URL("../../policies/", import.meta.url));
const compiled = compilePolicyBundle(
  readdirSync(POLICY_DIR).map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) })),
);
if (Either.isLeft(compiled)) throw new Error("example bundle must compile");
const policy = compiled.right;

const NOW = Date.parse("2026-02-23T18:40:30Z");
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

function swap(overrides: Partial<ActionRequest> = {}): ActionRequest {
  return {
    actor: "agent:desk-7",
    action: "swap.execute",
    resource: "solana:mainnet/jupiter",
    intent: { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 },
    permit: PERMIT,
    ...overrides,
  };
}

function given(overrides: Partial<DecideInput> = {}): DecideInput {
  return { authenticatedActor: "agent:desk-7", request: swap(), policy, permitFacts: GOOD_FACTS, market: SNAPSHOT, now: NOW, ...overrides };
}

const FULL_ORDER = [
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
];

describe("decide", () => {
  test("the seed's swap is allowed after every check, in the documented order, pending the nonce", () => {
    const verdict = decide(given());
    assert.equal(verdict.status, "allowed");
    assert.equal(verdict.reason, null);
    assert.deepEqual(verdict.checks.map((c) => c.name), FULL_ORDER);
    assert.ok(verdict.checks.every((c) => c.ok));
    assert.equal(verdict.notionalUsd, "1776.25");
    assert.equal(verdict.nonceToConsume, PERMIT.nonce);
    assert.deepEqual(verdict.determiningPolicies, ["desk7-swap-solana-mainnet"]);
  });

  test("settleNonce: consumed keeps the allow, lost race becomes nonce_replay_detected", () => {
    const verdict = decide(given());
    const kept = settleNonce(verdict, true);
    assert.equal(kept.status, "allowed");
    assert.deepEqual(kept.checks.at(-1), { name: "nonce_consumed", ok: true });
    const lost = settleNonce(verdict, false);
    assert.equal(lost.status, "denied");
    assert.equal(lost.reason, "nonce_replay_detected");
    assert.deepEqual(lost.checks.at(-1), { name: "nonce_consumed", ok: false });
  });

  const denials: Array<[string, Partial<DecideInput>, string, string]> = [
    ["token bound to another actor", { authenticatedActor: "agent:ops-1" }, "actor_mismatch", "actor_binding"],
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
  test("a permit bound to the resource, exactly or by a trailing * prefix, allows it", () => {
    for (const resource of ["solana:mainnet/jupiter", "solana:mainnet/*", "solana:mainnet/jup*", "*"]) {
      const verdict = decide(given({ request: swap({ permit: { ...PERMIT, resource } }) }));
      assert.equal(verdict.status, "allowed", resource);
      assert.deepEqual(verdict.checks.find((c) => c.name === "permit_resource"), { name: "permit_resource", ok: true });
    }
  });

  for (const [when, overrides, reason, lastCheck] of denials) {
    test(`${when} -> ${reason}, stopping at ${lastCheck}`, () => {
      const verdict = decide(given(overrides));
      assert.equal(verdict.status, "denied");
      assert.equal(verdict.reason, reason);
      assert.deepEqual(verdict.checks.at(-1), { name: lastCheck, ok: false });
      assert.ok(verdict.checks.slice(0, -1).every((c) => c.ok), "every earlier check passed");
      assert.equal(verdict.nonceToConsume, null);
      assert.ok(verdict.detail.length > 0);
    });
  }

  test("notional exactly at the limit is allowed (70.37 SOL x 142.1 = 9999.577)", () => {
    const verdict = decide(given({ request: swap({ intent: { protocol: "jupiter", asset: "SOL", amount: "70.37", slippage_bps: 40 } }) }));
    assert.equal(verdict.status, "allowed");
    assert.equal(verdict.notionalUsd, "9999.577");
  });

  test("policy-only quote.read runs two checks and needs no permit", () => {
    const verdict = decide(given({ request: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca" }, permitFacts: undefined, market: undefined }));
    assert.equal(verdict.status, "allowed");
    assert.deepEqual(verdict.checks.map((c) => c.name), ["actor_binding", "cedar_policy"]);
    assert.equal(verdict.nonceToConsume, null);
  });

  test("a permit presented where none is required is still verified", () => {
    const verdict = decide(
      given({ request: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", permit: PERMIT }, permitFacts: { ...GOOD_FACTS, signatureValid: false } }),
    );
    assert.equal(verdict.reason, "invalid_signature");
  });

  const ops = (execute: ActionRequest["execute"]): Partial<DecideInput> => ({
    authenticatedActor: "agent:ops-1",
    request: { actor: "agent:ops-1", action: "shell.exec", resource: "host:sandbox", ...(execute ? { execute } : {}) },
    permitFacts: undefined,
  });
  test("broker rules: docker with the allowed image, bwrap", () => {
    assert.equal(decide(given(ops({ broker: "docker", image: "zt-busybox:local", command: ["id"] }))).status, "allowed");
    assert.equal(decide(given(ops({ broker: "bwrap", command: ["id"] }))).status, "allowed");
  });
  const brokerDenials: Array<[string, ActionRequest["execute"], string]> = [
    ["nono is not allowed for ops-1", { broker: "nono", command: ["id"] }, "broker_not_allowed"],
    ["an unknown broker", { broker: "ssh", command: ["id"] }, "broker_not_allowed"],
    ["network access", { broker: "bwrap", command: ["id"], network: true }, "broker_not_allowed"],
    ["another image", { broker: "docker", image: "alpine:latest", command: ["id"] }, "image_not_allowed"],
    ["no image", { broker: "docker", command: ["id"] }, "image_not_allowed"],
  ];
  for (const [when, execute, reason] of brokerDenials) {
    test(`broker rules: ${when} -> ${reason}`, () => assert.equal(decide(given(ops(execute))).reason, reason));
  }

  test("property: decide is deterministic and never allows with any failed permit fact", () => {
    fc.assert(
      fc.property(fc.boolean(), fc.boolean(), fc.boolean(), fc.integer({ min: -600, max: 600 }), (trusted, valid, seen, skew) => {
        const input = given({ permitFacts: { issuerTrusted: trusted, signatureValid: trusted && valid, nonceSeen: seen }, now: NOW + skew * 1000 });
        const first = decide(input);
        assert.deepEqual(decide(input), first);
        if (first.status === "allowed") {
          assert.ok(trusted && valid && !seen);
          assert.ok(NOW + skew * 1000 < Date.parse(PERMIT.expires_at));
        }
      }),
    );
  });
});
