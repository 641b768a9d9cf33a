/**
 * Events of policy rollout (contract section 11): which bundles were put in force, and
 * where a candidate bundle evaluated beside the active one would have answered otherwise.
 *
 * - `PolicyActivated.v1` in `policy-activations`: at a start whose bundles differ from the
 *   last recorded activation, and at each reload that changes them; the old and new
 *   `policy_hash` of the active bundle and of the candidate, who asked, and each file's
 *   sha256 (never the policy text).
 * - `PolicyCandidateDisagreed.v1` in `policy-candidate-<candidate policy_hash>`: one per
 *   decision the candidate would have answered differently: the first check whose outcome
 *   differs, and both outcomes. The answer given is always the active bundle's.
 */
import { Schema } from "effect";

export const POLICY_ACTIVATED = "PolicyActivated.v1";
export const POLICY_CANDIDATE_DISAGREED = "PolicyCandidateDisagreed.v1";

export const POLICY_ACTIVATIONS_STREAM = "policy-activations";

/** Stream of the disagreements of one candidate bundle. */
export function candidateStream(candidatePolicyHash: string): string {
  return `policy-candidate-${candidatePolicyHash}`;
}

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));

export const PolicyActivated = Schema.Struct({
  policy_id: Schema.String,
  policy_hash: Hex64,
  previous_policy_id: Schema.NullOr(Schema.String),
  previous_policy_hash: Schema.NullOr(Hex64),
  candidate_policy_id: Schema.NullOr(Schema.String),
  candidate_policy_hash: Schema.NullOr(Hex64),
  previous_candidate_policy_hash: Schema.NullOr(Hex64),
  /** sha256 hex of each file of the active bundle, by path. */
  files: Schema.Record({ key: Schema.String, value: Hex64 }),
  activated_at: Schema.String,
  /** `startup`, `reload` (POST /policy/reload) or `signal` (SIGHUP). */
  trigger: Schema.Literal("startup", "reload", "signal"),
  /** The operator who asked (`operator:<name>`), or null for a start or a signal. */
  by: Schema.NullOr(Schema.String),
});
export type PolicyActivated = typeof PolicyActivated.Type;

/** What one bundle answered. */
export const CandidateOutcome = Schema.Struct({
  policy_id: Schema.String,
  policy_hash: Hex64,
  status: Schema.Literal("allowed", "denied", "pending_approval"),
  reason: Schema.NullOr(Schema.String),
  /** The outcome of the disagreeing check under this bundle, or null when it did not run here. */
  check_ok: Schema.NullOr(Schema.Boolean),
});
export type CandidateOutcome = typeof CandidateOutcome.Type;

export const PolicyCandidateDisagreed = Schema.Struct({
  decision_id: Schema.String,
  decided_at: Schema.String,
  actor: Schema.String,
  action: Schema.NullOr(Schema.String),
  resource: Schema.NullOr(Schema.String),
  /** The first check whose outcome differs between the bundles. */
  check: Schema.String,
  active: CandidateOutcome,
  candidate: CandidateOutcome,
});
export type PolicyCandidateDisagreed = typeof PolicyCandidateDisagreed.Type;
