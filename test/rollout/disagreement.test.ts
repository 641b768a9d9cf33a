/**
 * Where a candidate bundle parts from the active one, and `zt policy diff`'s summary, pure.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { firstDifference, formatDisagreementSummary, summariseDisagreements, type Evaluated } from "../../src/rollout/disagreement.ts";
import type { PolicyCandidateDisagreed } from "../../src/rollout/events.ts";

const checks = (...entries: Array<[string, boolean]>) => entries.map(([name, ok]) => ({ name, ok }));
const allowed = (list = checks(["actor_binding", true], ["cedar_policy", true])): Evaluated => ({ status: "allowed", reason: null, invariant_checks: list });

test("the same answer is no disagreement, even when the checks that ran differ", () => {
  assert.equal(firstDifference(allowed(), allowed(checks(["actor_binding", true], ["cedar_policy", true], ["budget", true]))), undefined);
});

test("the first check whose outcome differs is named, with its outcome under each bundle", () => {
  const deniedByCedar: Evaluated = { status: "denied", reason: "policy_denied", invariant_checks: checks(["actor_binding", true], ["cedar_policy", false]) };
  assert.deepEqual(firstDifference(allowed(), deniedByCedar), { check: "cedar_policy", activeOk: true, candidateOk: false });
  // A check the candidate adds and fails: it did not run under the active bundle.
  const overBudget: Evaluated = { status: "denied", reason: "budget_exceeded", invariant_checks: checks(["actor_binding", true], ["cedar_policy", true], ["budget", false]) };
  assert.deepEqual(firstDifference(allowed(), overBudget), { check: "budget", activeOk: null, candidateOk: false });
  // The other way round: the active bundle denied, the candidate would allow.
  assert.deepEqual(firstDifference(overBudget, allowed()), { check: "budget", activeOk: false, candidateOk: null });
  // A candidate that asks for approval where the active allows: approval_present is where they part.
  const pending: Evaluated = { status: "pending_approval", reason: "approval_required", invariant_checks: checks(["actor_binding", true], ["cedar_policy", true], ["approval_rule", true], ["approval_present", false]) };
  assert.deepEqual(firstDifference(allowed(), pending), { check: "approval_present", activeOk: null, candidateOk: false });
  // Both deny, for different reasons: the earlier failure names it.
  const slippage: Evaluated = { status: "denied", reason: "max_slippage_exceeded", invariant_checks: checks(["actor_binding", true], ["cedar_policy", true], ["max_slippage", false]) };
  assert.deepEqual(firstDifference(slippage, overBudget), { check: "max_slippage", activeOk: false, candidateOk: null });
});

test("the summary groups by check, action and both answers, largest first, with up to five examples", () => {
  const event = (n: number, check: string, candidateReason: string, at: string): PolicyCandidateDisagreed => ({
    decision_id: `dec_${n}`,
    decided_at: at,
    actor: "agent:desk-7",
    action: "quote.read",
    resource: "solana:mainnet/orca",
    check,
    active: { policy_id: "p", policy_hash: "a".repeat(64), status: "allowed", reason: null, check_ok: true },
    candidate: { policy_id: "p", policy_hash: "c".repeat(64), status: "denied", reason: candidateReason, check_ok: false },
  });
  const events = [
    ...Array.from({ length: 7 }, (_, n) => event(n, "cedar_policy", "policy_denied", `2026-01-01T00:00:0${n}Z`)),
    event(9, "budget", "budget_exceeded", "2026-01-01T00:00:09Z"),
  ];
  const summary = summariseDisagreements(events);
  assert.equal(summary.total, 8);
  assert.equal(summary.candidate_policy_hash, "c".repeat(64));
  assert.deepEqual(summary.groups.map((group) => [group.check, group.active, group.candidate, group.count, group.examples.length, group.first_decided_at, group.last_decided_at]), [
    ["cedar_policy", "allowed", "policy_denied", 7, 5, "2026-01-01T00:00:00Z", "2026-01-01T00:00:06Z"],
    ["budget", "allowed", "budget_exceeded", 1, 1, "2026-01-01T00:00:09Z", "2026-01-01T00:00:09Z"],
  ]);
  assert.match(formatDisagreementSummary(summary), /^7\s+cedar_policy\s+quote\.read\s+allowed -> policy_denied\s/m);
  assert.match(formatDisagreementSummary(summariseDisagreements([])), /^no disagreements recorded/);
});
