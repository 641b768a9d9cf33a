/**
 * The stable deny reasons of contract sections 4, 9 and 11, with the HTTP status each answers and
 * what it means. The deny reason table of docs/agents.md and the OpenAPI document follow this list.
 */

export const DENY_REASONS = {
  malformed_request: { status: 400, meaning: "The body is not JSON, breaks the request schema, or is over 64 KiB. Recorded with the request bytes hashed only." },
  actor_mismatch: { status: 403, meaning: "The body's `actor` is not the actor the bearer token is bound to." },
  policy_denied: { status: 403, meaning: "No Cedar policy permits this actor, action and resource (or a forbid policy matched)." },
  broker_not_allowed: { status: 403, meaning: "The policy does not let this actor run this action through the requested broker (or with network access, or with a `timeout_ms` over the rule's limit)." },
  image_not_allowed: { status: 403, meaning: "The Docker image is missing or not on the policy's image allowlist for this actor and action." },
  permit_required: { status: 403, meaning: "The policy requires a signed permit for this scope and none was presented." },
  unknown_issuer: { status: 403, meaning: "The permit's `key_id` is not a trusted permit-issuer key." },
  invalid_signature: { status: 403, meaning: "The permit's signature does not verify over the JCS of the permit without `signature`." },
  subject_mismatch: { status: 403, meaning: "The permit was issued to another actor than the one authenticated." },
  permit_constraint_missing: { status: 403, meaning: "The policy requires every permit of this scope to carry a constraint (or a resource binding) that this permit lacks." },
  scope_mismatch: { status: 403, meaning: "The permit's scope is not the requested action, or the resource it is bound to (exactly or by prefix) does not cover the requested resource." },
  policy_mismatch: { status: 403, meaning: "The permit names another policy than the active one." },
  permit_not_yet_valid: { status: 403, meaning: "The permit's `issued_at` is in the future by more than the allowed clock skew." },
  permit_expired: { status: 403, meaning: "The permit's `expires_at` has passed." },
  permit_ttl_too_long: { status: 403, meaning: "The permit lives longer than the policy's `max_ttl_seconds` (or expires before it was issued)." },
  nonce_replay_detected: { status: 403, meaning: "The permit's single-use nonce was already consumed by an earlier allowed action." },
  protocol_not_allowed: { status: 403, meaning: "The protocol the resource names (`<chain>/<protocol>`) or the intent's protocol is missing, not in the permit's `protocol_allowlist`, or the two differ." },
  market_snapshot_stale: { status: 403, meaning: "There is no trusted market snapshot, or it is older than the policy's `max_age_seconds` (or dated in the future)." },
  market_price_unknown: { status: 403, meaning: "The intent's asset is missing or has no price in the trusted snapshot, so the notional cannot be computed." },
  max_notional_exceeded: { status: 403, meaning: "amount x price (computed from the trusted snapshot) exceeds the permit's `max_notional_usd`, or the intent has no amount." },
  max_slippage_exceeded: { status: 403, meaning: "The intent's `slippage_bps` is missing or exceeds the permit's `max_slippage_bps`." },
  approval_mismatch: { status: 403, meaning: "The `approval_id` names no approval, or an approval of another request (its digest of actor, action, resource, context, intent and execute differs)." },
  approval_pending: { status: 403, meaning: "The approval the request names has not yet been granted by its quorum of operators." },
  approval_rejected: { status: 403, meaning: "An operator rejected the approval this request names (or, for a repeat without `approval_id`, this exact request, until the approval's `expires_at`)." },
  approval_expired: { status: 403, meaning: "The approval this request names is past its `expires_at` (granted or not)." },
  approval_consumed: { status: 403, meaning: "The approval this request names was already used by an allowed decision (each approval allows exactly one)." },
  budget_exceeded: { status: 403, meaning: "The call would take a budget of the policy (per actor and action over a rolling window: a notional USD sum, a number of calls, or both) past its limit. `detail` names the budget and what remains of it." },
  policy_unavailable: { status: 503, meaning: "The policy engine could not evaluate the request. Fail closed: nothing runs." },
  audit_unavailable: { status: 503, meaning: "The decision could not be durably recorded. Fail closed: nothing runs. A permit whose nonce was consumed just before the failure stays spent." },
} as const;

export type DenyReason = keyof typeof DENY_REASONS;

/** Not a denial: the request waits for human approval (contract section 9), answered 202. */
export const APPROVAL_REQUIRED = {
  reason: "approval_required",
  status: 202,
  meaning: "Every check passed and an approval rule matched: the request waits for operators to grant it; repeat it with the `approval_id` once they have.",
} as const;

/** The reason a recorded decision gives: a denial's, or `approval_required`. */
export type DecisionReason = DenyReason | typeof APPROVAL_REQUIRED.reason;

export function httpStatusOf(reason: DecisionReason | null): 200 | 202 | 400 | 403 | 503 {
  if (reason === null) return 200;
  return reason === APPROVAL_REQUIRED.reason ? APPROVAL_REQUIRED.status : DENY_REASONS[reason].status;
}
