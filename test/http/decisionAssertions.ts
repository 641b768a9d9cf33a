/**
 * Assertions on `POST /actions` answers, written from contract section 4 alone: the
 * stable deny reasons and their statuses, and the intent and receipt hashes recomputed
 * with the `canonicalize` package and node:crypto, never with project code.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type { Reply } from "../support/harness.ts";

/** Contract section 4, "Stable deny reasons", with the status each answers. */
export const CONTRACT_DENY_STATUS: Readonly<Record<string, number>> = {
  actor_mismatch: 403,
  malformed_request: 400,
  policy_denied: 403,
  permit_required: 403,
  invalid_signature: 403,
  unknown_issuer: 403,
  permit_expired: 403,
  permit_not_yet_valid: 403,
  permit_ttl_too_long: 403,
  nonce_replay_detected: 403,
  subject_mismatch: 403,
  scope_mismatch: 403,
  policy_mismatch: 403,
  protocol_not_allowed: 403,
  max_notional_exceeded: 403,
  max_slippage_exceeded: 403,
  market_snapshot_stale: 403,
  market_price_unknown: 403,
  broker_not_allowed: 403,
  image_not_allowed: 403,
  // Contract section 7 (v2).
  permit_constraint_missing: 403,
  audit_unavailable: 503,
  policy_unavailable: 503,
};

export const HEX64 = /^[0-9a-f]{64}$/;
export const DECISION_ID = /^dec_[0-9A-HJKMNP-TV-Z]{26}$/;

export function sha256Hex(text: string | Uint8Array): string {
  return createHash("sha256").update(text).digest("hex");
}

export function jcs(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error("value has no JCS form");
  return text;
}

/** sha256 of the JCS of the intent, as contract section 4 defines `intent_hash`. */
export function intentHashOf(intent: unknown): string {
  return sha256Hex(jcs(intent));
}

/** The receipt hash recomputed from a response body's own fields (contract section 4). */
export function receiptHashOf(body: Record<string, any>): string {
  return sha256Hex(
    jcs({
      policy_id: body["policy_id"],
      permit_id: body["permit_id"],
      intent_hash: body["intent_hash"],
      decision: body["status"],
      invariant_checks: body["invariant_checks"],
      timestamp: body["decided_at"],
    }),
  );
}

/** The shape every recorded decision answer has, allowed or denied. */
export function assertDecisionShape(body: Record<string, any>): void {
  assert.match(String(body["decision_id"]), DECISION_ID);
  assert.ok(body["status"] === "allowed" || body["status"] === "denied", `status ${String(body["status"])}`);
  assert.ok(Array.isArray(body["invariant_checks"]) && body["invariant_checks"].length > 0, "invariant_checks is a non-empty list");
  for (const check of body["invariant_checks"]) {
    assert.deepEqual(Object.keys(check).sort(), ["name", "ok"]);
    assert.equal(typeof check.name, "string");
    assert.equal(typeof check.ok, "boolean");
  }
  assert.match(String(body["policy_hash"]), HEX64);
  assert.match(String(body["receipt_hash"]), HEX64);
  assert.ok(body["intent_hash"] === null || HEX64.test(body["intent_hash"]), "intent_hash is null or 64 hex");
  assert.ok(!Number.isNaN(Date.parse(body["decided_at"])), "decided_at is a timestamp");
  assertExecutionShape(body);
  assert.equal(body["receipt_hash"], receiptHashOf(body), "receipt_hash recomputes from the response fields");
}

/**
 * A recorded denial: the contract status for the reason, `status: "denied"`, every check
 * but the last passed, and the last one (named `lastCheck` when given) failed.
 */
export function assertDenied(reply: Reply, reason: string, lastCheck?: string): void {
  const expected = CONTRACT_DENY_STATUS[reason];
  assert.ok(expected !== undefined, `${reason} is a contract deny reason`);
  const wanted = reason === "malformed_request" && reply.status === 413 ? 413 : expected;
  assert.equal(reply.status, wanted, reply.text);
  assert.equal(reply.json?.status, "denied", reply.text);
  assert.equal(reply.json?.reason, reason, reply.text);
  assertDecisionShape(reply.json);
  const checks: Array<{ name: string; ok: boolean }> = reply.json.invariant_checks;
  const last = checks.at(-1);
  assert.equal(last?.ok, false, `last check fails: ${JSON.stringify(checks)}`);
  if (lastCheck !== undefined) assert.equal(last?.name, lastCheck, JSON.stringify(checks));
  assert.ok(checks.slice(0, -1).every((check) => check.ok), `only the last check fails: ${JSON.stringify(checks)}`);
}

export function assertAllowed(reply: Reply): void {
  assert.equal(reply.status, 200, reply.text);
  assert.equal(reply.json?.status, "allowed", reply.text);
  assert.equal(reply.json?.reason, null);
  assertDecisionShape(reply.json);
  assert.ok(reply.json.invariant_checks.every((check: { ok: boolean }) => check.ok), reply.text);
}

/** `execution` is null, or the contract's object (only an allowed decision with `execute` carries one). */
export function assertExecutionShape(body: Record<string, any>): void {
  const execution = body["execution"];
  if (execution === null) return;
  assert.equal(body["status"], "allowed", "only an allowed decision executes");
  const keys = ["broker", "status", "exit_code", "stdout", "stderr", "stdout_sha256", "stderr_sha256", "truncated", "duration_ms"];
  // `error` (unless completed) and `image_id` (docker) come beside the contract's keys.
  assert.deepEqual(Object.keys(execution).filter((key) => key !== "error" && key !== "image_id").sort(), [...keys].sort());
  assert.ok(["completed", "failed", "timeout"].includes(execution.status), `execution status ${String(execution.status)}`);
  if (execution.status !== "completed") assert.equal(typeof execution.error?.reason, "string");
}
