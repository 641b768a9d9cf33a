/**
 * The approval stage of the decision pipeline (contract section 9), pure: it runs after
 * every other check has passed, so a request that would be denied anyway is denied, not
 * queued. It answers whether the request may go on (and which approval it uses), waits
 * for operators (pending), or is denied with an approval reason.
 *
 * Checks, in order (each listed only when it runs):
 *   approval_rule      a rule's actor, action and resource match: its conditions are
 *                      evaluated (a notional it cannot price fails closed with the
 *                      market's reason)
 *   approval_present   a rule applies and the request neither names an approval nor has a
 *                      usable one: not a denial, the request waits (`approval_required`)
 *   approval_match     the named approval exists and is for this exact request (digest)
 *   approval_status    it is granted, and not rejected, expired or used
 * then the decider's approval_consumed: the atomic use, like a permit nonce's.
 *
 * A presented `approval_id` is always checked and used, whether or not a rule applies
 * now (the notional may have moved under the threshold since). A repeat without one
 * (an MCP client cannot add fields to a tool call) finds the approvals of the same
 * request by its digest: a usable grant is used; a pending one is answered again; one an
 * operator rejected denies the request until its `expires_at`; otherwise a new one opens.
 */
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { compareDecimals, decimalFromNumber, formatDecimal, parseDecimal } from "../kernel/decimal.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { notionalOf, snapshotFreshness } from "../policy/invariants.ts";
import type { ApprovalRule, PolicyManifest } from "../policy/PolicyManifest.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import type { CheckFailure, InvariantCheck } from "../vocabulary/Check.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { resourceMatches } from "../vocabulary/Permit.ts";
import { approvalStatus, type Approval } from "./Approval.ts";
import type { ApprovedRequest } from "./events.ts";

/** The fields an approval is bound to, as sent (absent ones left out): never the permit or the approval id. */
export function approvedRequestOf(request: ActionRequest): ApprovedRequest {
  const { actor, action, resource, context, intent, execute } = request;
  return {
    actor,
    action,
    resource,
    ...(context === undefined ? {} : { context }),
    ...(intent === undefined ? {} : { intent }),
    ...(execute === undefined ? {} : { execute }),
  };
}

/** `request_digest`: sha256 of the JCS of `{actor, action, resource, context, intent, execute}`. */
export function requestDigest(request: ApprovedRequest): string {
  // A parsed request is JCS-representable: its whole body was canonicalised when parsed.
  return sha256Hex(canonicalJsonTrusted(request));
}

/** The rules whose actor, action and resource conditions hold for a call, in the manifest's order. */
export function rulesForCall(manifest: PolicyManifest, actor: string, action: string, resource: string): ReadonlyArray<ApprovalRule> {
  return manifest.approvals.rules.filter(
    (rule) => (rule.actor === undefined || rule.actor === actor) && (rule.action === undefined || rule.action === action) && (rule.resource === undefined || resourceMatches(rule.resource, resource)),
  );
}

export interface RuleInput {
  readonly manifest: PolicyManifest;
  readonly actor: string;
  readonly request: ActionRequest;
  /** The notional the permit's constraints already computed, if they did. */
  readonly notionalUsd: string | null;
  readonly market: MarketSnapshot | undefined;
  readonly now: number;
}

/** The rule that applies (with the notional it priced), none, or why its notional condition cannot be evaluated. */
export type RuleOutcome = { readonly rule: ApprovalRule; readonly notionalUsd: string | null } | { readonly rule: undefined; readonly notionalUsd: string | null } | CheckFailure;

/** The first rule whose every condition holds. */
export function applicableRule(input: RuleInput): RuleOutcome {
  let notionalUsd = input.notionalUsd;
  for (const rule of rulesForCall(input.manifest, input.actor, input.request.action, input.request.resource)) {
    const threshold = rule.notional_usd_over;
    if (threshold === undefined) return { rule, notionalUsd };
    if (notionalUsd === null) {
      const stale = snapshotFreshness(input.market, input.manifest, input.now);
      if (stale) return stale;
      const priced = notionalOf(input.request.intent, input.market);
      if ("reason" in priced) {
        // Without an amount the notional is unbounded: over any threshold.
        if (priced.reason === "max_notional_exceeded") return { rule, notionalUsd };
        return priced;
      }
      notionalUsd = formatDecimal(priced.usd);
    }
    const notional = parseDecimal(notionalUsd);
    const limit = decimalFromNumber(threshold);
    if (notional === undefined || limit === undefined || compareDecimals(notional, limit) > 0) return { rule, notionalUsd };
  }
  return { rule: undefined, notionalUsd };
}

/** What the decision path read of approvals for this request. */
export interface ApprovalFacts {
  /** `request_digest` of the request. */
  readonly digest: string;
  /** The approval `approval_id` names, when the request names one and it exists. */
  readonly presented: Approval | undefined;
  /** The approvals asked for this same request (same digest), oldest first. */
  readonly sameRequest: ReadonlyArray<Approval>;
}

export interface StageInput extends RuleInput {
  /** Present whenever the request names an approval or a rule could apply to its call. */
  readonly facts: ApprovalFacts | undefined;
}

export type ApprovalStage =
  /** No rule applies and no approval is named: the request goes on. */
  | { readonly kind: "none"; readonly checks: ReadonlyArray<InvariantCheck>; readonly notionalUsd: string | null }
  | { readonly kind: "denied"; readonly failure: CheckFailure; readonly checks: ReadonlyArray<InvariantCheck>; readonly approvalId: string | null; readonly notionalUsd: string | null }
  /** Waits for operators: on an approval of this request already pending, or on a new one under `rule`. */
  | { readonly kind: "pending"; readonly existing: Approval | undefined; readonly rule: ApprovalRule; readonly digest: string; readonly checks: ReadonlyArray<InvariantCheck>; readonly notionalUsd: string | null }
  /** Goes on by using this granted approval (once the decider's atomic claim wins). */
  | { readonly kind: "use"; readonly approval: Approval; readonly checks: ReadonlyArray<InvariantCheck>; readonly notionalUsd: string | null };

const STATUS_FAILURES = {
  pending: { reason: "approval_pending", detail: "the approval has not yet been granted by its quorum of operators" },
  rejected: { reason: "approval_rejected", detail: "an operator rejected the approval" },
  expired: { reason: "approval_expired", detail: "the approval is past its expires_at" },
  consumed: { reason: "approval_consumed", detail: "the approval was already used by an allowed decision" },
} as const satisfies Record<string, CheckFailure>;

export function approvalStage(input: StageInput): ApprovalStage {
  const checks: InvariantCheck[] = [];
  const candidates = rulesForCall(input.manifest, input.actor, input.request.action, input.request.resource);
  let notionalUsd = input.notionalUsd;
  let rule: ApprovalRule | undefined;
  if (candidates.length > 0) {
    const outcome = applicableRule(input);
    checks.push({ name: "approval_rule", ok: !("reason" in outcome) });
    if ("reason" in outcome) return { kind: "denied", failure: outcome, checks, approvalId: input.request.approval_id ?? null, notionalUsd };
    rule = outcome.rule;
    notionalUsd = outcome.notionalUsd;
  }

  const named = input.request.approval_id;
  const facts = input.facts;
  const now = input.now;
  const use = (approval: Approval): ApprovalStage => {
    checks.push({ name: "approval_match", ok: true });
    const status = approvalStatus(approval, now);
    checks.push({ name: "approval_status", ok: status === "granted" });
    if (status !== "granted") return { kind: "denied", failure: STATUS_FAILURES[status], checks, approvalId: approval.requested.approval_id, notionalUsd };
    return { kind: "use", approval, checks, notionalUsd };
  };

  if (named !== undefined) {
    const approval = facts?.presented;
    if (approval === undefined || approval.requested.approval_id !== named || approval.requested.request_digest !== facts?.digest) {
      checks.push({ name: "approval_match", ok: false });
      const detail = approval === undefined ? "no approval has this approval_id" : "the approval is for another request (its digest differs)";
      return { kind: "denied", failure: { reason: "approval_mismatch", detail }, checks, approvalId: named, notionalUsd };
    }
    return use(approval);
  }
  if (rule === undefined) return { kind: "none", checks, notionalUsd };

  const sameRequest = facts?.sameRequest ?? [];
  const granted = sameRequest.find((approval) => approvalStatus(approval, now) === "granted");
  if (granted !== undefined) return use(granted);
  const latest = sameRequest.at(-1);
  const latestStatus = latest === undefined ? undefined : approvalStatus(latest, now);
  if (latest !== undefined && latestStatus === "rejected" && now < latest.expiresAtMs) return use(latest);
  checks.push({ name: "approval_present", ok: false });
  // Fail closed: a rule applies but the service read nothing of approvals.
  if (facts === undefined) return { kind: "denied", failure: { reason: "policy_unavailable", detail: "the approvals of this request could not be read" }, checks, approvalId: null, notionalUsd };
  const existing = latestStatus === "pending" ? latest : undefined;
  return { kind: "pending", existing, rule, digest: facts.digest, checks, notionalUsd };
}
