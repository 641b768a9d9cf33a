/**
 * What the gateway answers a decided call (contract section 8), from one exhaustive
 * match: first what a recorded decision leads to (forward the call, or answer it here),
 * then the MCP answer of each outcome. Pure.
 *
 * A `tools/call` that is not forwarded is answered with a tool result the model reads:
 * `isError: true`, a text line naming the reason and the decision id, and
 * `structuredContent: {decision_id, status, reason, policy_id}`. `resources/read` and
 * `prompts/get` have no error result in MCP, so theirs is a JSON-RPC error with the same
 * object as `data`. A call the decider refused as malformed is `-32602 Invalid params`
 * with the paths and kinds of its problems. A call that waits for human approval
 * (contract section 9) is answered the same way with `status: "pending_approval"` and
 * its `approval_id`: once operators grant it, the identical call goes through (the
 * decider finds the approval by the call's digest) and uses it. An upstream's own
 * answer, result or error, is passed on unchanged.
 */
import type { PendingApproval } from "../decisions/decide.ts";
import type { DecisionOutcome } from "../decisions/DecisionService.ts";
import type { ActionDecided } from "../decisions/events.ts";
import type { RequestProblem } from "../decisions/parseActionRequest.ts";
import type { DecidedMethod } from "./mcpCall.ts";

/** JSON-RPC: the params of a request are not acceptable. */
export const INVALID_PARAMS = -32602;
/** The gateway answered in the upstream's stead (a denial, or no upstream answer); `data` says why. */
export const GATEWAY_ANSWERED = -32003;

/** An answer to a JSON-RPC request: a result, or an error object. */
export type McpAnswer =
  | { readonly result: Record<string, unknown> }
  | { readonly error: { readonly code: number; readonly message: string; readonly data?: Record<string, unknown> } };

/** How a decided call ended. */
export type CallOutcome =
  /** The store could not record the decision: nothing was forwarded (`audit_unavailable`). */
  | { readonly kind: "unrecorded"; readonly decisionId: string; readonly policyId: string }
  /** Recorded as `malformed_request`: the params could not be decided on. */
  | { readonly kind: "refused"; readonly decision: ActionDecided; readonly problems: ReadonlyArray<RequestProblem> }
  /** Recorded as denied: the upstream never saw the call. */
  | { readonly kind: "denied"; readonly decision: ActionDecided }
  /** Recorded as waiting for human approval: the upstream never saw the call. */
  | { readonly kind: "pending"; readonly decision: ActionDecided; readonly approval: PendingApproval }
  /** Allowed, forwarded, and the upstream answered. */
  | { readonly kind: "answered"; readonly answer: McpAnswer }
  /** Allowed, forwarded or not, and the upstream gave no answer. */
  | { readonly kind: "unanswered"; readonly decision: ActionDecided; readonly message: string };

/** What a decision leads to: forward the call (an allow, whose later events follow `revision`), or answer here. */
export type AfterDecision =
  | { readonly next: "forward"; readonly decision: ActionDecided; readonly revision: number }
  | { readonly next: "answer"; readonly outcome: CallOutcome };

export function afterDecision(outcome: DecisionOutcome, policyId: string): AfterDecision {
  switch (outcome._tag) {
    case "Unrecorded":
      return { next: "answer", outcome: { kind: "unrecorded", decisionId: outcome.decisionId, policyId } };
    case "PendingApproval":
      return { next: "answer", outcome: { kind: "pending", decision: outcome.decided.decision, approval: outcome.approval } };
    case "Decided": {
      const { decision, problems } = outcome.decided;
      if (decision.status === "allowed") return { next: "forward", decision, revision: outcome.revision };
      return { next: "answer", outcome: decision.reason === "malformed_request" ? { kind: "refused", decision, problems } : { kind: "denied", decision } };
    }
    default:
      return outcome satisfies never;
  }
}

/** The object every answer in the upstream's stead carries (`structuredContent`, or the error's `data`). */
function standIn(decisionId: string, status: "denied" | "failed" | "pending_approval", reason: string, policyId: string): Record<string, unknown> {
  return { decision_id: decisionId, status, reason, policy_id: policyId };
}

function inStead(method: DecidedMethod, fields: Record<string, unknown>, text: string): McpAnswer {
  if (method === "tools/call") return { result: { content: [{ type: "text", text }], isError: true, structuredContent: fields } };
  return { error: { code: GATEWAY_ANSWERED, message: text, data: fields } };
}

/** The MCP answer of a decided call's outcome. */
export function mcpAnswer(method: DecidedMethod, outcome: CallOutcome): McpAnswer {
  switch (outcome.kind) {
    case "answered":
      return outcome.answer;
    case "refused": {
      const { decision, problems } = outcome;
      return {
        error: {
          code: INVALID_PARAMS,
          message: `Invalid params: ${decision.detail} (decision ${decision.decision_id})`,
          data: { ...standIn(decision.decision_id, "denied", "malformed_request", decision.policy_id), errors: problems.map(({ path, kind }) => ({ path, kind })) },
        },
      };
    }
    case "denied": {
      const { decision } = outcome;
      const reason = decision.reason ?? "policy_denied";
      return inStead(method, standIn(decision.decision_id, "denied", reason, decision.policy_id), `Denied by the zt-infra gateway: ${reason} (decision ${decision.decision_id}). ${decision.detail}`);
    }
    case "pending": {
      const { decision, approval } = outcome;
      return inStead(
        method,
        { ...standIn(decision.decision_id, "pending_approval", "approval_required", decision.policy_id), approval_id: approval.approval_id, request_digest: approval.request_digest, expires_at: approval.expires_at },
        `Waiting for human approval: approval ${approval.approval_id} (decision ${decision.decision_id}). Nothing was forwarded; once operators approve it, repeat the identical call before ${approval.expires_at}.`,
      );
    }
    case "unrecorded":
      return inStead(
        method,
        standIn(outcome.decisionId, "denied", "audit_unavailable", outcome.policyId),
        `Denied by the zt-infra gateway: audit_unavailable (decision ${outcome.decisionId}). The decision could not be durably recorded; nothing was forwarded.`,
      );
    case "unanswered": {
      const { decision } = outcome;
      return inStead(
        method,
        standIn(decision.decision_id, "failed", "upstream_unavailable", decision.policy_id),
        `Allowed, but the upstream server did not answer: upstream_unavailable (decision ${decision.decision_id}). ${outcome.message}`,
      );
    }
    default:
      return outcome satisfies never;
  }
}
