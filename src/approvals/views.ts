/**
 * What the approvals endpoints answer (contract section 9): an approval's public view,
 * with the full call it is for when read alone.
 */
import { approvalStatus, grantingOperators, type Approval } from "./Approval.ts";

export function approvalView(approval: Approval, now: number, options: { readonly withRequest?: boolean } = {}): Record<string, unknown> {
  const requested = approval.requested;
  return {
    approval_id: requested.approval_id,
    status: approvalStatus(approval, now),
    decision_id: requested.decision_id,
    request_digest: requested.request_digest,
    actor: requested.request.actor,
    action: requested.request.action,
    resource: requested.request.resource,
    ...(options.withRequest ? { request: requested.request } : {}),
    notional_usd: requested.notional_usd,
    rule_id: requested.rule_id,
    quorum: requested.quorum,
    granted_by: grantingOperators(approval),
    grants: approval.grants.map(({ operator, note, granted_at }) => ({ operator, note, granted_at })),
    rejection: approval.rejection === null ? null : { operator: approval.rejection.operator, note: approval.rejection.note, rejected_at: approval.rejection.rejected_at },
    requested_at: requested.requested_at,
    expires_at: requested.expires_at,
    expired_at: approval.expiry?.expired_at ?? null,
    consumed_by: approval.consumption?.decision_id ?? null,
    consumed_at: approval.consumption?.consumed_at ?? null,
    policy_id: requested.policy_id,
  };
}
