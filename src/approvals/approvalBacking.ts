/**
 * The auditor's check of a decision that names an approval (`zt audit verify`), pure:
 * given the decision as recorded and the approval as its events before the decision
 * fold, what is wrong, or null. An allowed decision must have used (consumed) an approval
 * of its exact call, granted by its quorum of distinct operators, not rejected, before
 * its `expires_at`; a pending one must name an approval the log opened for its call.
 */
import { parseRfc3339Utc } from "../kernel/timestamp.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import { grantingOperators, type Approval } from "./Approval.ts";
import { approvedRequestOf, requestDigest } from "./approvalStage.ts";

export interface DecisionWithApproval {
  readonly decision_id: string;
  readonly status: "allowed" | "denied" | "pending_approval";
  readonly decided_at: string;
  readonly approval_id: string;
  /** The call as recorded (without its permit). */
  readonly request: Pick<ActionRequest, "actor" | "action" | "resource" | "context" | "intent" | "execute"> | null;
}

export function approvalBackingProblem(decision: DecisionWithApproval, approval: Approval | undefined): string | null {
  if (decision.status === "denied") return null;
  const what = `decision ${decision.decision_id} (${decision.status}) names approval ${decision.approval_id}`;
  if (approval === undefined) return `${what}, which no earlier ApprovalRequested.v1 opened`;
  if (decision.request === null || requestDigest(approvedRequestOf(decision.request)) !== approval.requested.request_digest) return `${what}, which is for another request (digest)`;
  if (decision.status === "pending_approval") return null;
  if (approval.consumption?.decision_id !== decision.decision_id) return `${what}, but no ApprovalConsumed.v1 before it records this decision's use`;
  const granted = grantingOperators(approval).length;
  if (granted < approval.requested.quorum) return `${what}, granted by ${granted} of the ${approval.requested.quorum} operators its quorum needs`;
  if (approval.rejection !== null) return `${what}, which ${approval.rejection.operator} had rejected`;
  if (!((parseRfc3339Utc(decision.decided_at) ?? Infinity) < approval.expiresAtMs)) return `${what}, used at or after its expires_at`;
  return null;
}
