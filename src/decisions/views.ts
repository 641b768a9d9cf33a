/**
 * What `POST /actions` and `GET /decisions/:id` answer (contract sections 4 and 9): the
 * decision's public view; for a request that waits for approval, `202` with the view and
 * the approval it waits on; for every other answer but an allow, the same body as an RFC
 * 9457 problem (`type` and `title` added, served as `application/problem+json`; the
 * contract's `status` stays `"denied"`).
 */
import type { ExecutionView } from "../execution/ExecutionService.ts";
import { denialTitle, PROBLEM_CONTENT_TYPE, problemType } from "../http/problem.ts";
import type { DecisionOutcome } from "./DecisionService.ts";
import type { ActionDecided } from "./events.ts";

/** The public view of a recorded decision. */
export function decisionView(record: ActionDecided, execution: ExecutionView | null = null): Record<string, unknown> {
  return {
    decision_id: record.decision_id,
    status: record.status,
    reason: record.reason,
    detail: record.detail,
    invariant_checks: record.invariant_checks,
    policy_id: record.policy_id,
    policy_hash: record.policy_hash,
    permit_id: record.permit_id,
    intent_hash: record.intent_hash,
    receipt_hash: record.receipt_hash,
    notional_usd: record.notional_usd,
    approval_id: record.approval_id ?? null,
    decided_at: record.decided_at,
    execution,
  };
}

export interface ActionAnswer {
  readonly status: 200 | 202 | 400 | 403 | 413 | 503;
  readonly body: Record<string, unknown>;
  readonly contentType: string;
}

/** The answer to a `POST /actions` call. */
export function actionAnswer(outcome: DecisionOutcome): ActionAnswer {
  if (outcome._tag === "PendingApproval") {
    const { approval_id, request_digest, expires_at, quorum, granted_by } = outcome.approval;
    return { status: 202, contentType: "application/json", body: { ...decisionView(outcome.decided.decision), approval_id, request_digest, expires_at, quorum, granted_by } };
  }
  if (outcome._tag === "Unrecorded") {
    return {
      status: 503,
      contentType: PROBLEM_CONTENT_TYPE,
      body: {
        type: problemType("audit_unavailable"),
        title: denialTitle("audit_unavailable"),
        decision_id: outcome.decisionId,
        status: "denied",
        reason: "audit_unavailable",
        detail: `the decision could not be durably recorded (${outcome.reason}); nothing runs`,
        execution: null,
      },
    };
  }
  const { decision, problems } = outcome.decided;
  const view = decisionView(decision, outcome.execution);
  if (decision.reason === null) return { status: 200, contentType: "application/json", body: view };
  // A Decided outcome is an allow or a denial; approval_required comes as PendingApproval.
  if (decision.reason === "approval_required") throw new Error("a decision that waits for approval must come as PendingApproval");
  return {
    status: decision.http_status as ActionAnswer["status"],
    contentType: PROBLEM_CONTENT_TYPE,
    body: { type: problemType(decision.reason), title: denialTitle(decision.reason), ...view, ...(problems.length > 0 ? { errors: problems } : {}) },
  };
}
