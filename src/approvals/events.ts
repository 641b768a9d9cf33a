/**
 * Events of the approvals capability (contract section 9). An approval lives in its own
 * stream, `approval-<approval_id>`: `ApprovalRequested.v1` first (appended with the
 * pending decision, expecting no stream), then `ApprovalGranted.v1` by each granting
 * operator, `ApprovalRejected.v1` or `ApprovalExpired.v1`, each appended expecting the
 * revision its writer read. Its use is the single event of `approval-consumed-<id>`,
 * appended with expected state "no stream" exactly as a permit nonce is consumed, so that
 * of any number of concurrent repeats exactly one wins it.
 */
import { Schema } from "effect";
import { Identifier, identifier, Rfc3339Utc } from "../kernel/schemas.ts";
import { ApprovalId } from "../vocabulary/ApprovalId.ts";

export function approvalStream(approvalId: string): string {
  return `approval-${approvalId}`;
}

/** Stream of the single event that consumes an approval; appended with `no_stream`. */
export function approvalConsumedStream(approvalId: string): string {
  return `approval-consumed-${approvalId}`;
}

export const APPROVAL_REQUESTED = "ApprovalRequested.v1";
export const APPROVAL_GRANTED = "ApprovalGranted.v1";
export const APPROVAL_REJECTED = "ApprovalRejected.v1";
export const APPROVAL_EXPIRED = "ApprovalExpired.v1";
export const APPROVAL_CONSUMED = "ApprovalConsumed.v1";

export const APPROVAL_EVENT_TYPES: ReadonlySet<string> = new Set([APPROVAL_REQUESTED, APPROVAL_GRANTED, APPROVAL_REJECTED, APPROVAL_EXPIRED, APPROVAL_CONSUMED]);

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));

/** The call an approval is for: the fields its digest covers, as the agent sent them. */
export const ApprovedRequest = Schema.Struct({
  actor: Identifier,
  action: Identifier,
  resource: identifier(1024),
  context: Schema.optional(Schema.Unknown),
  intent: Schema.optional(Schema.Unknown),
  execute: Schema.optional(Schema.Unknown),
});
export type ApprovedRequest = typeof ApprovedRequest.Type;

export const ApprovalRequested = Schema.Struct({
  approval_id: ApprovalId,
  /** The pending decision that asked. */
  decision_id: Schema.String,
  /** sha256 of the JCS of `request`. */
  request_digest: Hex64,
  request: ApprovedRequest,
  /** amount x price when the rule or the permit computed it, else null. */
  notional_usd: Schema.NullOr(Schema.String),
  rule_id: Schema.String,
  quorum: Schema.Int,
  requested_at: Rfc3339Utc,
  expires_at: Rfc3339Utc,
  policy_id: Schema.String,
  policy_hash: Hex64,
});
export type ApprovalRequested = typeof ApprovalRequested.Type;

/** An operator's note: free text, bounded. */
export const ApprovalNote = Schema.String.pipe(
  Schema.maxLength(1024),
  Schema.filter((text) => text.isWellFormed() || "must be text (no lone surrogate)"),
);

const Vote = {
  approval_id: ApprovalId,
  /** The authenticated operator, `operator:<name>`; never taken from a body. */
  operator: Schema.String,
  note: Schema.NullOr(ApprovalNote),
};

export const ApprovalGranted = Schema.Struct({ ...Vote, granted_at: Rfc3339Utc });
export type ApprovalGranted = typeof ApprovalGranted.Type;

export const ApprovalRejected = Schema.Struct({ ...Vote, rejected_at: Rfc3339Utc });
export type ApprovalRejected = typeof ApprovalRejected.Type;

export const ApprovalExpired = Schema.Struct({ approval_id: ApprovalId, expired_at: Rfc3339Utc });
export type ApprovalExpired = typeof ApprovalExpired.Type;

export const ApprovalConsumed = Schema.Struct({
  approval_id: ApprovalId,
  /** The allowed decision that used it. */
  decision_id: Schema.String,
  request_digest: Hex64,
  consumed_at: Rfc3339Utc,
});
export type ApprovalConsumed = typeof ApprovalConsumed.Type;
