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
import { evolveApproval, foldApproval, type Approval } from "../../src/approvals/Approval.ts";
import type { BudgetFacts } from "../../src/budgets/budgetStage.ts";
import { parseDecimal, ZERO_DECIMAL } from "../../src/kernel/decimal.ts";
import { decide, loseClaim, type DecideAction, type Decided } from "../../src/decisions/decide.ts";
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
/** The example bundle's desk-7 swap budget with an empty window. */
const NOTHING_SPENT: BudgetFacts = new Map([["desk-7-swaps-daily", { notionalUsd: ZERO_DECIMAL, calls: 0 }]]);

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
    budgets: NOTHING_SPENT,
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
  "budget",
  "approval_rule",
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
      approval_id: null,
      determining_policies: ["desk7-swap-solana-mainnet"],
      http_status: 200,
    };
    assert.deepEqual(decide(given()).events, [
      {
        stream: `permit-nonce-${PERMIT.nonce}`,
        expected: "no_stream",
        type: "NonceConsumed.v1",
        data: { nonce: PERMIT.nonce, permit_id: PERMIT.permit_id, key_id: PERMIT.key_id, decision_id: DECISION_ID, consumed_at: DECIDED_AT },
        claim: { check: "nonce_consumed", reason: "nonce_replay_detected", detail: "the permit's nonce was consumed by a concurrent request" },
      },
      { stream: `decision-${DECISION_ID}`, expected: "no_stream", type: "ActionDecided.v1", data: decision },
    ]);
    // Charged to the example bundle's daily budget, which the service appends before the claims.
    assert.deepEqual(decide(given()).charges, [
      { budgetId: "desk-7-swaps-daily", actor: "agent:desk-7", action: "swap.execute", stream: "budget-desk-7-swaps-daily-agent:desk-7", windowSeconds: 86400, notionalUsd: "1776.25" },
    ]);
  });

  test("given an allowed swap whose nonce a concurrent decision won, when the race is lost, then one ActionDecided.v1: nonce_replay_detected at nonce_consumed", () => {
    const decided = decide(given());
    const lost = loseClaim(decided, decided.events[0]!);
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

describe("decide: human approval (contract section 9)", () => {
  // 100 SOL x 142.1 = 14210 USD: over the example rule's 10,000, under this permit's limit.
  const BIG_PERMIT: Permit = { ...PERMIT, constraints: { ...PERMIT.constraints, max_notional_usd: 50000 } };
  const BIG_INTENT = { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 };
  const bigSwap = (overrides: Partial<ActionRequest> = {}) => swap({ intent: BIG_INTENT, permit: BIG_PERMIT, ...overrides });
  const digestOf = (request: ActionRequest) => {
    const { permit: _p, approval_id: _a, ...call } = request;
    return sha256(jcs(call));
  };
  const facts = (request: ActionRequest, sameRequest: ReadonlyArray<Approval> = [], presented?: Approval) => ({ digest: digestOf(request), presented, sameRequest });
  // Still inside PERMIT's window (it expires at 18:41:00).
  const LATER = NOW + 20_000;
  /** BIG_PERMIT valid around `now` (seconds, as permits are stamped). */
  const permitAround = (now: number): Permit => ({
    ...BIG_PERMIT,
    issued_at: new Date(now - 10_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
    expires_at: new Date(now + 30_000).toISOString().replace(/\.\d{3}Z$/, "Z"),
  });
  const snapshotAt = (now: number): MarketSnapshot => ({ ...SNAPSHOT, as_of: new Date(now - 5_000).toISOString() });
  const APPROVAL_ID = "apr_01J9QJ00000000000000000000";

  /** The approval a pending decision opened, as the log folds it. */
  const opened = (decided: Decided): Approval => foldApproval([{ ...decided.events[0]!, revision: 0 }])!;
  const vote = (approval: Approval, type: "ApprovalGranted.v1" | "ApprovalRejected.v1", operator: string): Approval =>
    evolveApproval(approval, {
      type,
      stream: `approval-${approval.requested.approval_id}`,
      revision: approval.revision + 1,
      data: { approval_id: approval.requested.approval_id, operator, note: null, [type === "ApprovalGranted.v1" ? "granted_at" : "rejected_at"]: "2026-02-23T18:41:00Z" },
    })!;
  const pendingOne = () => opened(decide(given({ request: bigSwap(), approvals: facts(bigSwap()) })));

  test("given a swap over 10,000 USD that passes every check, when decided, then ApprovalRequested.v1 then ActionDecided.v1 (pending_approval, 202), and no nonce is spent", () => {
    const request = bigSwap();
    const decided = decide(given({ request, approvals: facts(request) }));
    const digest = digestOf(request);
    assert.deepEqual(decided.events[0], {
      stream: `approval-${APPROVAL_ID}`,
      expected: "no_stream",
      type: "ApprovalRequested.v1",
      data: {
        approval_id: APPROVAL_ID,
        decision_id: DECISION_ID,
        request_digest: digest,
        request: { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", intent: BIG_INTENT },
        notional_usd: "14210",
        rule_id: "desk-7-large-swaps",
        quorum: 1,
        requested_at: DECIDED_AT,
        expires_at: "2026-02-23T19:40:30.000Z",
        policy_id: "policy_mainnet_v1",
        policy_hash: policy.policyHash,
      },
    });
    assert.deepEqual(decided.events.map((e) => e.type), ["ApprovalRequested.v1", "ActionDecided.v1"]);
    const data = decided.events[1]!.data as unknown as ActionDecided;
    assert.equal(data.status, "pending_approval");
    assert.equal(data.reason, "approval_required");
    assert.equal(data.http_status, 202);
    assert.equal(data.approval_id, APPROVAL_ID);
    assert.deepEqual(data.invariant_checks.slice(-3), [{ name: "budget", ok: true }, { name: "approval_rule", ok: true }, { name: "approval_present", ok: false }]);
    assert.equal(data.receipt_hash, receipt(data));
    assert.deepEqual(decided.pending, { approval_id: APPROVAL_ID, request_digest: digest, expires_at: "2026-02-23T19:40:30.000Z", quorum: 1, granted_by: [] });
  });

  test("the digest is sha256 of the JCS of {actor, action, resource, context, intent, execute}, never the permit or approval id", () => {
    const request = bigSwap({ context: { desk: "7" } });
    const pending = decide(given({ request, approvals: facts(request) }));
    const expected = sha256(jcs({ actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", context: { desk: "7" }, intent: BIG_INTENT }));
    assert.equal(pending.pending?.request_digest, expected);
  });

  test("a request that would be denied anyway is denied, never queued", () => {
    const decided = decide(given({ request: bigSwap(), approvals: facts(bigSwap()), permitFacts: { ...GOOD_FACTS, signatureValid: false } }));
    assert.equal(decided.decision.reason, "invalid_signature");
    assert.equal(decided.pending, null);
    assert.deepEqual(decided.events.map((e) => e.type), ["ActionDecided.v1"]);
  });

  test("at or under the threshold no approval is asked: approval_rule passes and the swap is allowed", () => {
    // 70.37 SOL x 142.1 = 9999.577 USD.
    const decided = decide(given({ request: swap({ intent: { ...BIG_INTENT, amount: "70.37" }, permit: BIG_PERMIT }) }));
    assert.equal(decided.decision.status, "allowed");
    assert.deepEqual(decided.decision.invariant_checks.slice(-2), [{ name: "approval_rule", ok: true }, { name: "nonce_consumed", ok: true }]);
  });

  test("given the same request already waiting, when repeated without approval_id, then pending on that approval, with no new request", () => {
    const waiting = pendingOne();
    const again = decide(given({ decisionId: "dec_01J9QJ00000000000000000001", request: bigSwap(), approvals: facts(bigSwap(), [waiting]) }));
    assert.deepEqual(again.events.map((e) => e.type), ["ActionDecided.v1"]);
    assert.equal(again.decision.status, "pending_approval");
    assert.equal(again.pending?.approval_id, APPROVAL_ID);
  });

  test("given a granted approval, when the identical request names it, then ApprovalConsumed.v1, NonceConsumed.v1, ActionDecided.v1 (allowed)", () => {
    const granted = vote(pendingOne(), "ApprovalGranted.v1", "operator:alice");
    const request = bigSwap({ approval_id: APPROVAL_ID });
    const decided = decide(given({ decisionId: "dec_01J9QJ00000000000000000002", now: LATER, request, approvals: facts(request, [], granted) }));
    assert.equal(decided.decision.status, "allowed", decided.decision.detail);
    assert.deepEqual(decided.events[0], {
      stream: `approval-consumed-${APPROVAL_ID}`,
      expected: "no_stream",
      type: "ApprovalConsumed.v1",
      data: { approval_id: APPROVAL_ID, decision_id: "dec_01J9QJ00000000000000000002", request_digest: digestOf(request), consumed_at: "2026-02-23T18:40:50.000Z" },
      claim: { check: "approval_consumed", reason: "approval_consumed", detail: "the approval was used by a concurrent request" },
    });
    assert.deepEqual(decided.events.map((e) => e.type), ["ApprovalConsumed.v1", "NonceConsumed.v1", "ActionDecided.v1"]);
    assert.deepEqual(decided.decision.invariant_checks.slice(-6).map((c) => c.name), ["budget", "approval_rule", "approval_match", "approval_status", "approval_consumed", "nonce_consumed"]);
    assert.ok(decided.decision.invariant_checks.every((c) => c.ok));
    assert.equal(decided.decision.approval_id, APPROVAL_ID);
    assert.equal((decided.decision.request as Record<string, unknown>)["approval_id"], undefined, "the recorded request holds the call, the approval id beside it");
  });

  test("given a granted approval, the identical request without approval_id (as an MCP repeat) finds and uses it", () => {
    const granted = vote(pendingOne(), "ApprovalGranted.v1", "operator:alice");
    const decided = decide(given({ now: LATER, request: bigSwap(), approvals: facts(bigSwap(), [granted]) }));
    assert.equal(decided.decision.status, "allowed");
    assert.equal(decided.events[0]!.type, "ApprovalConsumed.v1");
  });

  test("a quorum of two needs two distinct operators", () => {
    const quorumTwo = (approval: Approval): Approval => ({ ...approval, requested: { ...approval.requested, quorum: 2 } });
    const request = bigSwap({ approval_id: APPROVAL_ID });
    const once = vote(quorumTwo(pendingOne()), "ApprovalGranted.v1", "operator:alice");
    const twiceBySame = vote(once, "ApprovalGranted.v1", "operator:alice");
    const byTwo = vote(once, "ApprovalGranted.v1", "operator:bob");
    assert.equal(decide(given({ now: LATER, request, approvals: facts(request, [], once) })).decision.reason, "approval_pending");
    assert.equal(decide(given({ now: LATER, request, approvals: facts(request, [], twiceBySame) })).decision.reason, "approval_pending");
    assert.equal(decide(given({ now: LATER, request, approvals: facts(request, [], byTwo) })).decision.status, "allowed");
  });

  const refusals: Array<[string, () => { request: ActionRequest; presented: Approval | undefined; now?: number }, string, string]> = [
    ["an approval_id that names nothing", () => ({ request: bigSwap({ approval_id: APPROVAL_ID }), presented: undefined }), "approval_mismatch", "approval_match"],
    ["a changed amount", () => ({ request: bigSwap({ approval_id: APPROVAL_ID, intent: { ...BIG_INTENT, amount: "101" } }), presented: vote(pendingOne(), "ApprovalGranted.v1", "operator:alice") }), "approval_mismatch", "approval_match"],
    ["an approval not yet granted", () => ({ request: bigSwap({ approval_id: APPROVAL_ID }), presented: pendingOne() }), "approval_pending", "approval_status"],
    ["a rejected approval", () => ({ request: bigSwap({ approval_id: APPROVAL_ID }), presented: vote(vote(pendingOne(), "ApprovalGranted.v1", "operator:alice"), "ApprovalRejected.v1", "operator:bob") }), "approval_rejected", "approval_status"],
    ["a granted approval past its expires_at", () => ({ request: bigSwap({ approval_id: APPROVAL_ID }), presented: vote(pendingOne(), "ApprovalGranted.v1", "operator:alice"), now: Date.parse("2026-02-23T19:40:30Z") }), "approval_expired", "approval_status"],
    [
      "a used approval",
      () => {
        const granted = vote(pendingOne(), "ApprovalGranted.v1", "operator:alice");
        return { request: bigSwap({ approval_id: APPROVAL_ID }), presented: { ...granted, consumption: { approval_id: APPROVAL_ID, decision_id: "dec_01J9QJ00000000000000000002", request_digest: granted.requested.request_digest, consumed_at: "2026-02-23T18:41:30Z" } } };
      },
      "approval_consumed",
      "approval_status",
    ],
  ];
  for (const [when, setup, reason, check] of refusals) {
    test(`given ${when}, then denied ${reason} at ${check}, nothing consumed`, () => {
      const { request, presented, now = LATER } = setup();
      const decided = decide(given({ now, request: { ...request, permit: permitAround(now) }, market: snapshotAt(now), approvals: facts(request, [], presented) }));
      assert.equal(decided.decision.status, "denied");
      assert.equal(decided.decision.reason, reason, decided.decision.detail);
      assert.equal(decided.decision.http_status, 403);
      assert.equal(decided.decision.approval_id, APPROVAL_ID);
      assert.deepEqual(decided.decision.invariant_checks.at(-1), { name: check, ok: false });
      assert.ok(decided.decision.invariant_checks.slice(0, -1).every((c) => c.ok));
      assert.deepEqual(decided.events.map((e) => e.type), ["ActionDecided.v1"], "no nonce, no approval consumed");
    });
  }

  test("the identical request after a rejection is refused until the approval's expires_at, then asks again", () => {
    const rejected = vote(pendingOne(), "ApprovalRejected.v1", "operator:bob");
    assert.equal(decide(given({ now: LATER, request: bigSwap(), approvals: facts(bigSwap(), [rejected]) })).decision.reason, "approval_rejected");
    const later = Date.parse("2026-02-23T19:40:30Z");
    const after = decide(given({ now: later, request: bigSwap({ permit: permitAround(later) }), market: snapshotAt(later), approvals: facts(bigSwap(), [rejected]) }));
    assert.equal(after.decision.status, "pending_approval");
    assert.notEqual(after.pending?.approval_id, undefined);
    assert.deepEqual(after.events.map((e) => e.type), ["ApprovalRequested.v1", "ActionDecided.v1"]);
  });

  test("an approval claim lost to a concurrent repeat: denied approval_consumed at approval_consumed; its nonce claim is not made", () => {
    const granted = vote(pendingOne(), "ApprovalGranted.v1", "operator:alice");
    const request = bigSwap({ approval_id: APPROVAL_ID });
    const decided = decide(given({ now: LATER, request, approvals: facts(request, [], granted) }));
    const lost = loseClaim(decided, decided.events[0]!);
    assert.deepEqual(lost.events.map((e) => e.type), ["ActionDecided.v1"]);
    assert.equal(lost.decision.reason, "approval_consumed");
    assert.deepEqual(lost.decision.invariant_checks.slice(-2), [{ name: "approval_status", ok: true }, { name: "approval_consumed", ok: false }]);
    assert.equal(lost.decision.receipt_hash, receipt(lost.decision));
  });

  test("a rule that needs the notional fails closed when the snapshot cannot price it", () => {
    const manifest = JSON.parse(readFileSync(join(POLICY_DIR, "policy.json"), "utf8"));
    manifest.approvals.rules = [{ id: "big-quotes", action: "quote.read", notional_usd_over: 100, ttl_seconds: 60 }];
    const bundle = compilePolicyBundle([
      ...readdirSync(POLICY_DIR).filter((name) => name !== "policy.json" && name !== "images.lock.json").map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) })),
      { path: "policy.json", bytes: new TextEncoder().encode(JSON.stringify(manifest)) },
    ]);
    if (Either.isLeft(bundle)) throw new Error(JSON.stringify(bundle.left));
    const quote = { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", intent: { asset: "SOL", amount: "1" } };
    const stale = decide(given({ policy: bundle.right, request: quote, permitFacts: undefined, market: undefined, approvals: facts(quote) }));
    assert.equal(stale.decision.reason, "market_snapshot_stale");
    assert.deepEqual(stale.decision.invariant_checks.at(-1), { name: "approval_rule", ok: false });
    const unpriced = decide(given({ policy: bundle.right, request: { ...quote, intent: { asset: "BONK", amount: "1" } }, permitFacts: undefined, approvals: facts(quote) }));
    assert.equal(unpriced.decision.reason, "market_price_unknown");
    // 1 SOL = 142.1 USD > 100: the policy-only path waits too.
    assert.equal(decide(given({ policy: bundle.right, request: quote, permitFacts: undefined, approvals: facts(quote) })).decision.status, "pending_approval");
    // No amount: the notional is unbounded, so over any threshold.
    assert.equal(decide(given({ policy: bundle.right, request: { ...quote, intent: { asset: "SOL" } }, permitFacts: undefined, approvals: facts(quote) })).decision.status, "pending_approval");
  });

  test("property: an allow under an approval rule always consumes a granted, unexpired, unused approval of the same digest", () => {
    fc.assert(
      fc.property(fc.constantFrom("none", "pending", "granted", "rejected", "consumed"), fc.boolean(), fc.integer({ min: 0, max: 7200 }), (state, named, seconds) => {
        let approval: Approval | undefined = state === "none" ? undefined : pendingOne();
        if (approval && (state === "granted" || state === "consumed")) approval = vote(approval, "ApprovalGranted.v1", "operator:alice");
        if (approval && state === "rejected") approval = vote(approval, "ApprovalRejected.v1", "operator:alice");
        if (approval && state === "consumed") approval = { ...approval, consumption: { approval_id: APPROVAL_ID, decision_id: DECISION_ID, request_digest: approval.requested.request_digest, consumed_at: DECIDED_AT } };
        const now = NOW + seconds * 1000;
        const request = bigSwap({ permit: permitAround(now), ...(named ? { approval_id: APPROVAL_ID } : {}) });
        const decided = decide(given({ now, request, market: snapshotAt(now), approvals: facts(request, approval ? [approval] : [], named ? approval : undefined) }));
        if (state === "granted" && now < approval!.expiresAtMs) assert.equal(decided.decision.status, "allowed", "a usable grant is used");
        if (decided.decision.status === "allowed") {
          assert.equal(state, "granted");
          assert.ok(now < approval!.expiresAtMs);
          assert.equal(decided.events[0]!.type, "ApprovalConsumed.v1");
        }
      }),
    );
  });
});

describe("decide: budgets (contract section 11)", () => {
  const spent = (usd: string, calls = 0, id = "desk-7-swaps-daily"): BudgetFacts => new Map([[id, { notionalUsd: parseDecimal(usd)!, calls }]]);
  /** The example bundle with other budgets, and a policy that allows desk-7 every tool of a `github` server. */
  const bundleWithBudgets = (budgets: unknown[]) => {
    const manifest = JSON.parse(readFileSync(join(POLICY_DIR, "policy.json"), "utf8"));
    manifest.budgets = budgets;
    const bundle = compilePolicyBundle([
      ...readdirSync(POLICY_DIR).filter((name) => !["policy.json", "images.lock.json"].includes(name)).map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) })),
      { path: "policy.json", bytes: new TextEncoder().encode(JSON.stringify(manifest)) },
      { path: "github.cedar", bytes: new TextEncoder().encode('permit (principal == Agent::"agent:desk-7", action == Action::"mcp.tools_call", resource) when { resource.path like "mcp:github/*" };') },
    ]);
    if (Either.isLeft(bundle)) throw new Error(JSON.stringify(bundle.left));
    return bundle.right;
  };

  test("given a window that has room, the swap is allowed, checked at budget, and charged with its notional", () => {
    const decided = decide(given({ budgets: spent("998223.75") }));
    assert.equal(decided.decision.status, "allowed");
    assert.deepEqual(decided.decision.invariant_checks.find((check) => check.name === "budget"), { name: "budget", ok: true });
    assert.deepEqual(decided.charges.map((charge) => [charge.stream, charge.notionalUsd]), [["budget-desk-7-swaps-daily-agent:desk-7", "1776.25"]]);
  });

  test("given a window one cent short, then denied budget_exceeded at budget with what remains, nothing consumed or charged", () => {
    const decided = decide(given({ budgets: spent("998223.76") }));
    const data = decided.events.at(-1)!.data as unknown as ActionDecided;
    assert.equal(data.status, "denied");
    assert.equal(data.reason, "budget_exceeded");
    assert.equal(data.http_status, 403);
    assert.equal(data.detail, "budget desk-7-swaps-daily: 1776.24 of 1000000 USD notional remain in its rolling 86400 s window; this call needs 1776.25 USD");
    assert.deepEqual(data.invariant_checks.at(-1), { name: "budget", ok: false });
    assert.deepEqual(decided.events.map((event) => event.type), ["ActionDecided.v1"]);
    assert.deepEqual(decided.charges, []);
    assert.equal(data.receipt_hash, receipt(data));
  });

  test("a call over budget is denied, never queued for approval", () => {
    const big = swap({ intent: { ...INTENT, amount: "100" }, permit: { ...PERMIT, constraints: { ...PERMIT.constraints, max_notional_usd: 100000 } } });
    const decided = decide(given({ request: big, budgets: spent("995000") }));
    assert.equal(decided.decision.reason, "budget_exceeded");
    assert.equal(decided.pending, null);
  });

  test("without what the window holds, a budgeted call fails closed (policy_unavailable)", () => {
    const decided = decide(given({ budgets: undefined }));
    assert.equal(decided.decision.reason, "policy_unavailable");
    assert.deepEqual(decided.decision.invariant_checks.at(-1), { name: "budget", ok: false });
  });

  test("a notional budget prices a call the permit did not, and fails closed when it cannot", () => {
    const policy = bundleWithBudgets([{ id: "quotes", actor: "agent:desk-7", action: "quote.read", window_seconds: 3600, max_notional_usd: 1000 }]);
    const quote = (intent?: unknown) => ({ actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/orca", ...(intent === undefined ? {} : { intent }) }) as ActionRequest;
    const run = (request: ActionRequest, facts: BudgetFacts | undefined, market: MarketSnapshot | null = SNAPSHOT) =>
      decide(given({ policy, request, permitFacts: undefined, market: market ?? undefined, budgets: facts })).decision;
    assert.equal(run(quote({ asset: "SOL", amount: "7" }), spent("0", 0, "quotes")).status, "allowed");
    assert.equal(run(quote({ asset: "SOL", amount: "8" }), spent("0", 0, "quotes")).reason, "budget_exceeded");
    assert.equal(run(quote({ asset: "SOL", amount: "1" }), spent("0", 0, "quotes"), null).reason, "market_snapshot_stale");
    assert.equal(run(quote({ asset: "BONK", amount: "1" }), spent("0", 0, "quotes")).reason, "market_price_unknown");
    const unbounded = run(quote({ asset: "SOL" }), spent("0", 0, "quotes"));
    assert.equal(unbounded.reason, "budget_exceeded");
    assert.match(unbounded.detail, /no amount/);
  });

  test("a count budget for MCP tool calls: the call that would be one too many is denied, naming what remains", () => {
    const policy = bundleWithBudgets([{ id: "github-calls", action: "mcp.tools_call", resource: "mcp:github/*", window_seconds: 3600, max_calls: 10 }]);
    const call = { actor: "agent:desk-7", action: "mcp.tools_call", resource: "mcp:github/create_issue", context: { arguments: {} } } as ActionRequest;
    const run = (calls: number) => decide(given({ policy, request: call, permitFacts: undefined, market: undefined, budgets: spent("0", calls, "github-calls") }));
    const ninth = run(9);
    assert.equal(ninth.decision.status, "allowed");
    assert.deepEqual(ninth.charges, [{ budgetId: "github-calls", actor: "agent:desk-7", action: "mcp.tools_call", stream: "budget-github-calls-agent:desk-7", windowSeconds: 3600, notionalUsd: null }]);
    const eleventh = run(10);
    assert.equal(eleventh.decision.reason, "budget_exceeded");
    assert.equal(eleventh.decision.detail, "budget github-calls: 0 of 10 calls remain in its rolling 3600 s window; this call needs one more");
    // Another tool server is not under this budget.
    assert.deepEqual(decide(given({ policy, request: { ...call, resource: "mcp:slack/post" }, permitFacts: undefined, market: undefined })).charges, []);
  });

  test("the manifest refuses a budget without a limit, and duplicate budget ids", () => {
    const compile = (budgets: unknown[]) => {
      const manifest = JSON.parse(readFileSync(join(POLICY_DIR, "policy.json"), "utf8"));
      manifest.budgets = budgets;
      return compilePolicyBundle([
        ...readdirSync(POLICY_DIR).filter((name) => name !== "policy.json" && name !== "images.lock.json").map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(POLICY_DIR, name))) })),
        { path: "policy.json", bytes: new TextEncoder().encode(JSON.stringify(manifest)) },
      ]);
    };
    const noLimit = compile([{ id: "b", action: "swap.execute", window_seconds: 60 }]);
    assert.ok(Either.isLeft(noLimit) && noLimit.left.some((problem) => problem.message.includes("max_notional_usd, max_calls or both")));
    const twice = compile([{ id: "b", action: "swap.execute", window_seconds: 60, max_calls: 1 }, { id: "b", action: "quote.read", window_seconds: 60, max_calls: 1 }]);
    assert.ok(Either.isLeft(twice) && twice.left.some((problem) => problem.message.includes('duplicate budget id "b"')));
  });
});
