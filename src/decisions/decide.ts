/**
 * The decider of `POST /actions`, pure (emmett's shape: a command and the facts it needs
 * in, the events to append out). Given the parsed request, the caller, the facts the
 * service gathered (permit signature and nonce state, trusted snapshot, the approvals of
 * the request) and the time and decision id as inputs, it runs the checks in their fixed
 * order, stops at the first failure, and answers the events: for an allowed decision its
 * atomic claims, `ApprovalConsumed.v1` (when it uses an approval) and `NonceConsumed.v1`
 * (when it spends a permit's nonce), each appended expecting no stream so that exactly
 * one decision wins it; for a decision that waits for operators, `ApprovalRequested.v1`
 * (unless the same request already waits); then `ActionDecided.v1`. It never reads the
 * clock, makes ids or does I/O.
 *
 * Order (the first failing check names the reason):
 *   request_schema (only when the body is refused),
 *   actor_binding (the operator may not act; the body's actor is the token's),
 *   cedar_policy, broker_allowed, image_allowed,
 *   permit_present, permit_issuer, permit_signature, permit_subject, permit_scope,
 *   permit_resource, permit_constraints, permit_policy, permit_not_before,
 *   permit_expiry, permit_ttl, nonce_unused,
 *   protocol_allowlist, market_snapshot_fresh, max_notional, max_slippage,
 *   budget (see budgets/budgetStage.ts),
 *   approval_rule, approval_present (pending: `approval_required`, 202),
 *   approval_match, approval_status (see approvals/approvalStage.ts),
 * then approval_consumed and nonce_consumed: the atomic appends, whose loss `loseClaim`
 * folds in. A check that does not apply (no execute block, no permit where none is
 * required, a constraint the permit lacks, no budget, no approval rule) is not run and not
 * listed. An allowed call under budgets also answers its charges, which the service makes
 * before any claim (BudgetLedger): a charge is never lost to a claim, so a budget errs
 * towards having spent more, never more than its limit.
 */
import { approvalStage, approvedRequestOf, type ApprovalFacts, type ApprovalStage } from "../approvals/approvalStage.ts";
import {
  APPROVAL_CONSUMED,
  APPROVAL_REQUESTED,
  approvalConsumedStream,
  approvalStream,
  type ApprovalConsumed,
  type ApprovalRequested,
} from "../approvals/events.ts";
import { budgetStage, type BudgetCharge, type BudgetFacts } from "../budgets/budgetStage.ts";
import type { ExpectedState, JsonObject } from "../events/EventStore.ts";
import type { Principal } from "../identity/Credentials.ts";
import type { ParsedActionRequest, RequestProblem } from "./parseActionRequest.ts";
import type { CedarAnswer, CedarRequest } from "../policy/PolicyBundle.ts";
import type { PolicyManifest } from "../policy/PolicyManifest.ts";
import { brokerChecks } from "../policy/brokerChecks.ts";
import { constraintChecks } from "../policy/invariants.ts";
import { NONCE_CONSUMED, nonceStream, type NonceConsumed } from "../permits/events.ts";
import { permitChecks, type PermitFacts } from "../permits/verifyPermit.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import type { Check, InvariantCheck } from "../vocabulary/Check.ts";
import { decisionStream } from "../vocabulary/DecisionId.ts";
import { approvalIdOf } from "../vocabulary/ApprovalId.ts";
import { APPROVAL_REQUIRED, httpStatusOf, type DecisionReason, type DenyReason } from "../vocabulary/DenyReason.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { unsignedPart } from "../vocabulary/Permit.ts";
import { receiptHash } from "../vocabulary/receipt.ts";
import { formatRfc3339Millis } from "../kernel/timestamp.ts";
import { ACTION_DECIDED, type ActionDecided } from "./events.ts";

export interface DecisionPolicy {
  readonly policyId: string;
  readonly policyHash: string;
  readonly manifest: PolicyManifest;
  readonly authorize: (request: CedarRequest) => CedarAnswer;
}

export interface DecideAction {
  readonly decisionId: string;
  /** The decision time, ms since the epoch. */
  readonly now: number;
  readonly caller: Principal;
  /** sha256 of the raw body: for a refused body, all that is kept of it. */
  readonly bodySha256: string;
  readonly parsed: ParsedActionRequest;
  readonly policy: DecisionPolicy;
  /** Present exactly when the request carries a permit (and the caller is an agent). */
  readonly permitFacts: PermitFacts | undefined;
  /** The trusted snapshot, when a notional limit or an approval rule's threshold needs it. */
  readonly market: MarketSnapshot | undefined;
  /** Present when the request names an approval or an approval rule applies to it. */
  readonly approvals?: ApprovalFacts | undefined;
  /** What the window of each budget that applies to the call holds; present when one applies. */
  readonly budgets?: BudgetFacts | undefined;
  /** The caller's W3C `traceparent`, parsed and normalised, recorded with the decision. */
  readonly traceparent?: string | undefined;
}

/** An event the decision appends: its stream, the state the stream must be in, its type and data. */
export interface DecisionEvent {
  readonly stream: string;
  readonly expected: ExpectedState;
  readonly type: string;
  readonly data: JsonObject;
  /**
   * Set on an atomic claim (a single-use thing the allow spends, appended expecting no
   * stream): the check whose failure a lost race is, and the denial it becomes.
   */
  readonly claim?: { readonly check: string; readonly reason: DenyReason; readonly detail: string };
}

/** What a pending answer says of the approval it waits on (contract section 9). */
export interface PendingApproval {
  readonly approval_id: string;
  readonly request_digest: string;
  readonly expires_at: string;
  readonly quorum: number;
  /** Operators who granted it so far. */
  readonly granted_by: ReadonlyArray<string>;
}

export interface Decided {
  /** The recorded decision (the data of its ActionDecided.v1). */
  readonly decision: ActionDecided;
  /**
   * What to append, in order: an allow's claims (ApprovalConsumed.v1, NonceConsumed.v1),
   * or a new pending request's ApprovalRequested.v1; then ActionDecided.v1.
   */
  readonly events: ReadonlyArray<DecisionEvent>;
  /** Where a refused body broke the rules (empty otherwise). */
  readonly problems: ReadonlyArray<RequestProblem>;
  /** The approval a `pending_approval` decision waits on; null for every other status. */
  readonly pending: PendingApproval | null;
  /** The budget charges of an allowed call, made before its events are appended; empty for every other status. */
  readonly charges: ReadonlyArray<BudgetCharge>;
}

interface Verdict {
  readonly status: "allowed" | "denied" | "pending_approval";
  readonly reason: DecisionReason | null;
  readonly detail: string;
  readonly checks: ReadonlyArray<InvariantCheck>;
  readonly notionalUsd: string | null;
  readonly determiningPolicies: ReadonlyArray<string>;
  /** The approval stage's outcome, when the request got that far. */
  readonly stage?: ApprovalStage;
  readonly charges?: ReadonlyArray<BudgetCharge>;
}

/** The checks of a valid request, in order, to the first failure. */
function verdictOf(input: DecideAction, request: ActionRequest): Verdict {
  const { policy, now } = input;
  const manifest = policy.manifest;
  const ran: InvariantCheck[] = [];
  let determiningPolicies: ReadonlyArray<string> = [];
  let notional: () => string | null = () => null;

  const deny = (reason: DenyReason, detail: string): Verdict => ({ status: "denied", reason, detail, checks: ran, notionalUsd: notional(), determiningPolicies });
  /** Runs checks in order; the denial of the first that fails. */
  const runAll = (checks: ReadonlyArray<Check>): Verdict | null => {
    for (const check of checks) {
      const failure = check.run();
      ran.push({ name: check.name, ok: failure === null });
      if (failure) return deny(failure.reason, failure.detail);
    }
    return null;
  };

  const caller = input.caller;
  const actor = caller.role === "agent" ? caller.actor : "operator";
  const bound = runAll([
    {
      name: "actor_binding",
      run: () =>
        caller.role !== "agent"
          ? { reason: "actor_mismatch", detail: "the operator token may not post actions" }
          : request.actor === actor
            ? null
            : { reason: "actor_mismatch", detail: `the token is bound to ${actor}, not to the actor the request names` },
    },
  ]);
  if (bound) return bound;

  const answer = policy.authorize({ actor, action: request.action, resource: request.resource, context: request.context ?? {} });
  if (!answer.ok) {
    ran.push({ name: "cedar_policy", ok: false });
    return deny("policy_unavailable", answer.error);
  }
  determiningPolicies = answer.determiningPolicies;
  const cedarDenied = runAll([
    { name: "cedar_policy", run: () => (answer.allowed ? null : { reason: "policy_denied", detail: `no policy permits ${actor} this action on this resource` }) },
  ]);
  if (cedarDenied) return cedarDenied;

  if (request.execute !== undefined) {
    const brokerDenied = runAll(brokerChecks(manifest, actor, request.action, request.execute));
    if (brokerDenied) return brokerDenied;
  }

  const permit = request.permit;
  const scopeRule = Object.hasOwn(manifest.permits.scopes, request.action) ? manifest.permits.scopes[request.action] : undefined;
  if (scopeRule?.required === true) {
    const missing = runAll([{ name: "permit_present", run: () => (permit ? null : { reason: "permit_required", detail: `${request.action} requires a signed permit` }) }]);
    if (missing) return missing;
  }

  if (permit !== undefined) {
    // A presented permit is always verified, even where the scope does not require one.
    const facts = input.permitFacts ?? { issuerTrusted: false, signatureValid: false, nonceSeen: true };
    const permitDenied = runAll(
      permitChecks({ permit, facts, actor, action: request.action, resource: request.resource, scopeRule, policyId: policy.policyId, permits: manifest.permits, now }),
    );
    if (permitDenied) return permitDenied;
    const constraints = constraintChecks({ constraints: permit.constraints, resource: request.resource, intent: request.intent, market: input.market, policy: manifest, now });
    notional = () => constraints.notionalUsd;
    const constraintDenied = runAll(constraints.checks);
    if (constraintDenied) return constraintDenied;
  }

  const budgets = budgetStage({ manifest, actor, request, notionalUsd: notional(), market: input.market, now, facts: input.budgets });
  if (budgets.kind !== "none") {
    ran.push(...budgets.checks);
    notional = () => budgets.notionalUsd;
    if (budgets.kind === "denied") return deny(budgets.failure.reason, budgets.failure.detail);
  }
  const charges = budgets.kind === "charge" ? budgets.charges : [];

  // Last: a request that would be denied anyway is denied, never queued for approval.
  const stage = approvalStage({ manifest, actor, request, notionalUsd: notional(), market: input.market, now, facts: input.approvals });
  ran.push(...stage.checks);
  notional = () => stage.notionalUsd;
  switch (stage.kind) {
    case "denied":
      return { ...deny(stage.failure.reason, stage.failure.detail), stage };
    case "pending":
      return { status: "pending_approval", reason: APPROVAL_REQUIRED.reason, detail: `waits for approval under rule ${stage.rule.id}`, checks: ran, notionalUsd: stage.notionalUsd, determiningPolicies, stage };
    case "use":
    case "none": {
      const by = [permit ? `permit ${permit.permit_id}` : undefined, stage.kind === "use" ? `approval ${stage.approval.requested.approval_id}` : undefined].filter(Boolean);
      return { status: "allowed", reason: null, detail: `allowed by policy${by.length > 0 ? ` and ${by.join(" and ")}` : ""}`, checks: ran, notionalUsd: stage.notionalUsd, determiningPolicies, stage, charges };
    }
  }
}

/** The ActionDecided.v1 event of a decision. */
function decisionEvent(decision: ActionDecided): DecisionEvent {
  return { stream: decisionStream(decision.decision_id), expected: "no_stream", type: ACTION_DECIDED, data: decision as unknown as JsonObject };
}

/** Decides one `POST /actions` call: the decision and the events that record it. */
export function decide(input: DecideAction): Decided {
  const decidedAt = formatRfc3339Millis(input.now);
  const base = {
    decision_id: input.decisionId,
    policy_id: input.policy.policyId,
    policy_hash: input.policy.policyHash,
    decided_at: decidedAt,
    actor: input.caller.role === "agent" ? input.caller.actor : "operator",
    request_sha256: input.bodySha256,
    ...(input.traceparent === undefined ? {} : { traceparent: input.traceparent }),
  };
  const receipt = (status: ActionDecided["status"], checks: ReadonlyArray<InvariantCheck>, permitId: string | null, intentHash: string | null) =>
    receiptHash({ policy_id: input.policy.policyId, permit_id: permitId, intent_hash: intentHash, decision: status, invariant_checks: checks, timestamp: decidedAt });

  const parsed = input.parsed;
  if (!parsed.ok) {
    const checks = [{ name: "request_schema", ok: false }];
    const decision: ActionDecided = {
      ...base,
      status: "denied",
      reason: "malformed_request",
      // Paths only: the body is kept as its hash alone.
      detail: `request is not acceptable at ${[...new Set(parsed.problems.map((p) => p.path))].join(", ")}`,
      invariant_checks: checks,
      permit_id: null,
      intent_hash: null,
      receipt_hash: receipt("denied", checks, null, null),
      request: null,
      request_errors: parsed.problems.map(({ path, kind }) => ({ path, kind })),
      permit: null,
      notional_usd: null,
      determining_policies: [],
      http_status: parsed.httpStatus,
    };
    return { decision, events: [decisionEvent(decision)], problems: parsed.problems, pending: null, charges: [] };
  }

  const { request, intentHash } = parsed;
  const verdict = verdictOf(input, request);
  const permit = request.permit;
  const stage = verdict.stage;
  const { permit: _permit, approval_id: _approvalId, ...requestWithoutPermit } = request;
  const approvalId =
    stage === undefined ? (request.approval_id ?? null)
    : stage.kind === "denied" ? stage.approvalId
    : stage.kind === "use" ? stage.approval.requested.approval_id
    : stage.kind === "pending" ? (stage.existing?.requested.approval_id ?? approvalIdOf(input.decisionId))
    : null;

  // An allow's single-use claims, approval first: of concurrent repeats of one approved
  // request, the one that wins the approval goes on to spend the nonce.
  const claims: DecisionEvent[] = [];
  if (verdict.status === "allowed" && stage?.kind === "use") {
    const consumed: ApprovalConsumed = { approval_id: stage.approval.requested.approval_id, decision_id: input.decisionId, request_digest: stage.approval.requested.request_digest, consumed_at: decidedAt };
    claims.push({
      stream: approvalConsumedStream(consumed.approval_id),
      expected: "no_stream",
      type: APPROVAL_CONSUMED,
      data: consumed as unknown as JsonObject,
      claim: { check: "approval_consumed", reason: "approval_consumed", detail: "the approval was used by a concurrent request" },
    });
  }
  if (verdict.status === "allowed" && permit !== undefined) {
    const consumed: NonceConsumed = { nonce: permit.nonce, permit_id: permit.permit_id, key_id: permit.key_id, decision_id: input.decisionId, consumed_at: decidedAt };
    claims.push({
      stream: nonceStream(permit.nonce),
      expected: "no_stream",
      type: NONCE_CONSUMED,
      data: consumed as unknown as JsonObject,
      claim: { check: "nonce_consumed", reason: "nonce_replay_detected", detail: "the permit's nonce was consumed by a concurrent request" },
    });
  }

  const decision: ActionDecided = {
    ...base,
    status: verdict.status,
    reason: verdict.reason,
    detail: verdict.detail,
    invariant_checks: [...verdict.checks, ...claims.map((event) => ({ name: event.claim!.check, ok: true }))],
    permit_id: permit?.permit_id ?? null,
    intent_hash: intentHash,
    receipt_hash: "",
    request: requestWithoutPermit,
    permit: permit === undefined ? null : (unsignedPart(permit) as unknown),
    notional_usd: verdict.notionalUsd,
    approval_id: approvalId,
    determining_policies: verdict.determiningPolicies,
    http_status: httpStatusOf(verdict.reason),
  };
  const sealed = { ...decision, receipt_hash: receipt(decision.status, decision.invariant_checks, decision.permit_id, intentHash) };
  if (stage?.kind !== "pending" || verdict.status !== "pending_approval") return { decision: sealed, events: [...claims, decisionEvent(sealed)], problems: [], pending: null, charges: verdict.charges ?? [] };

  if (stage.existing !== undefined) {
    const waiting = stage.existing.requested;
    const pending = { approval_id: waiting.approval_id, request_digest: waiting.request_digest, expires_at: waiting.expires_at, quorum: waiting.quorum, granted_by: [...new Set(stage.existing.grants.map((grant) => grant.operator))] };
    return { decision: sealed, events: [decisionEvent(sealed)], problems: [], pending, charges: [] };
  }
  const requested: ApprovalRequested = {
    approval_id: approvalIdOf(input.decisionId),
    decision_id: input.decisionId,
    request_digest: stage.digest,
    request: approvedRequestOf(request),
    notional_usd: verdict.notionalUsd,
    rule_id: stage.rule.id,
    quorum: stage.rule.quorum,
    requested_at: decidedAt,
    expires_at: formatRfc3339Millis(input.now + stage.rule.ttl_seconds * 1000),
    policy_id: input.policy.policyId,
    policy_hash: input.policy.policyHash,
  };
  return {
    decision: sealed,
    events: [{ stream: approvalStream(requested.approval_id), expected: "no_stream", type: APPROVAL_REQUESTED, data: requested as unknown as JsonObject }, decisionEvent(sealed)],
    problems: [],
    pending: { approval_id: requested.approval_id, request_digest: requested.request_digest, expires_at: requested.expires_at, quorum: requested.quorum, granted_by: [] },
    charges: [],
  };
}

/**
 * The decision once one of its claims lost the race to a concurrent decision (its
 * no-stream append was refused): denied with the claim's reason at the claim's check
 * (the claims after it never ran), with only its ActionDecided.v1 left to append.
 */
export function loseClaim(decided: Decided, lost: DecisionEvent): Decided {
  const claim = lost.claim;
  if (claim === undefined) throw new Error("loseClaim: the event is not a claim");
  const at = decided.decision.invariant_checks.findIndex((check) => check.name === claim.check);
  const checks = [...decided.decision.invariant_checks.slice(0, at < 0 ? undefined : at), { name: claim.check, ok: false }];
  const decision: ActionDecided = {
    ...decided.decision,
    status: "denied",
    reason: claim.reason,
    detail: claim.detail,
    invariant_checks: checks,
    receipt_hash: receiptHash({
      policy_id: decided.decision.policy_id,
      permit_id: decided.decision.permit_id,
      intent_hash: decided.decision.intent_hash,
      decision: "denied",
      invariant_checks: checks,
      timestamp: decided.decision.decided_at,
    }),
    http_status: httpStatusOf(claim.reason),
  };
  return { decision, events: [decisionEvent(decision)], problems: [], pending: null, charges: [] };
}
