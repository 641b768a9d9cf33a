/**
 * The decider of an operator's grant or rejection, and of an approval's expiry, pure:
 * the approval as folded, the command and the time in, the event to append (expecting
 * the approval's revision, so concurrent votes serialise) or the refusal out.
 *
 * A grant counts only while the approval is pending, once per operator; a rejection
 * closes it while it is pending or granted but unused (any one operator can veto until
 * it is used). An approval past its `expires_at` takes neither and gets its
 * `ApprovalExpired.v1` recorded instead, if no one recorded it yet.
 */
import { formatRfc3339Millis } from "../kernel/timestamp.ts";
import { approvalStatus, grantingOperators, type Approval, type ApprovalStatus } from "./Approval.ts";
import { APPROVAL_EXPIRED, APPROVAL_GRANTED, APPROVAL_REJECTED, type ApprovalExpired, type ApprovalGranted, type ApprovalRejected } from "./events.ts";

export interface Vote {
  readonly kind: "grant" | "reject";
  /** The authenticated operator. */
  readonly operator: string;
  readonly note: string | null;
  readonly now: number;
}

export type VoteEvent =
  | { readonly type: typeof APPROVAL_GRANTED; readonly data: ApprovalGranted }
  | { readonly type: typeof APPROVAL_REJECTED; readonly data: ApprovalRejected }
  | { readonly type: typeof APPROVAL_EXPIRED; readonly data: ApprovalExpired };

export type VoteRefusalReason =
  /** Rejected, expired or used: it takes no more votes. */
  | "approval_closed"
  /** Its quorum already granted it. */
  | "approval_already_granted"
  /** This operator already granted it. */
  | "approval_duplicate_grant";

export type VoteDecision =
  | { readonly ok: true; readonly event: VoteEvent }
  | { readonly ok: false; readonly reason: VoteRefusalReason; readonly status: ApprovalStatus; readonly detail: string; readonly record: VoteEvent | null };

/** The expiry to record for an approval that ran out of time unused and unrejected, once. */
export function expiryOf(approval: Approval, now: number): VoteEvent | null {
  if (approvalStatus(approval, now) !== "expired" || approval.expiry !== null) return null;
  return { type: APPROVAL_EXPIRED, data: { approval_id: approval.requested.approval_id, expired_at: formatRfc3339Millis(Math.max(now, approval.expiresAtMs)) } };
}

export function decideVote(approval: Approval, vote: Vote): VoteDecision {
  const status = approvalStatus(approval, vote.now);
  const at = formatRfc3339Millis(vote.now);
  const id = approval.requested.approval_id;
  if (status === "rejected" || status === "expired" || status === "consumed") {
    return { ok: false, reason: "approval_closed", status, detail: `the approval is ${status} and takes no more votes`, record: expiryOf(approval, vote.now) };
  }
  if (vote.kind === "reject") return { ok: true, event: { type: APPROVAL_REJECTED, data: { approval_id: id, operator: vote.operator, note: vote.note, rejected_at: at } } };
  if (grantingOperators(approval).includes(vote.operator)) {
    return { ok: false, reason: "approval_duplicate_grant", status, detail: "this operator already granted the approval; a quorum needs distinct operators", record: null };
  }
  if (status === "granted") return { ok: false, reason: "approval_already_granted", status, detail: "the approval's quorum already granted it", record: null };
  return { ok: true, event: { type: APPROVAL_GRANTED, data: { approval_id: id, operator: vote.operator, note: vote.note, granted_at: at } } };
}
