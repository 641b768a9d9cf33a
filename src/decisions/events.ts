/**
 * Events of the decisions capability. Names are past tense and versioned; data is the
 * schema-encoded JSON stored in the event store. A decision lives in its own stream
 * (`decision-<id>`), which later also holds its execution events.
 */
import { Schema } from "effect";
import { APPROVAL_REQUIRED, DENY_REASONS, type DenyReason } from "../vocabulary/DenyReason.ts";

export const ACTION_DECIDED = "ActionDecided.v1";

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));
const Json = Schema.Unknown;

export const InvariantCheckSchema = Schema.Struct({ name: Schema.String, ok: Schema.Boolean });

export const ActionDecided = Schema.Struct({
  decision_id: Schema.String,
  /** `pending_approval` (with reason `approval_required`): the request waits for operators (contract section 9). */
  status: Schema.Literal("allowed", "denied", "pending_approval"),
  reason: Schema.NullOr(Schema.Literal(...(Object.keys(DENY_REASONS) as [DenyReason, ...DenyReason[]]), APPROVAL_REQUIRED.reason)),
  detail: Schema.String,
  invariant_checks: Schema.Array(InvariantCheckSchema),
  policy_id: Schema.String,
  policy_hash: Hex64,
  permit_id: Schema.NullOr(Schema.String),
  intent_hash: Schema.NullOr(Hex64),
  receipt_hash: Hex64,
  decided_at: Schema.String,
  /** The authenticated caller: the token's actor, or `operator`. */
  actor: Schema.String,
  /** sha256 of the raw request body; for a malformed request this is all that is kept of it. */
  request_sha256: Hex64,
  /** The validated request without its permit (which is summarised below), or null when malformed. */
  request: Schema.NullOr(
    Schema.Struct({
      actor: Schema.String,
      action: Schema.String,
      resource: Schema.String,
      context: Schema.optional(Json),
      intent: Schema.optional(Json),
      execute: Schema.optional(Json),
    }),
  ),
  /** Where a malformed request broke the schema (paths and kinds only, no values). */
  request_errors: Schema.optional(Schema.Array(Schema.Struct({ path: Schema.String, kind: Schema.String }))),
  /** The permit as presented, without its signature. */
  permit: Schema.NullOr(Json),
  notional_usd: Schema.NullOr(Schema.String),
  /** The approval the decision asked for (pending), used (allowed) or was refused over; absent before approvals existed. */
  approval_id: Schema.optional(Schema.NullOr(Schema.String)),
  determining_policies: Schema.Array(Schema.String),
  http_status: Schema.Int,
  /** The caller's W3C `traceparent` (contract section 11), as parsed; absent when it sent none or one that does not parse. */
  traceparent: Schema.optional(Schema.String.pipe(Schema.pattern(/^00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]$/))),
});
export type ActionDecided = typeof ActionDecided.Type;
