/**
 * The decision pipeline of `POST /actions`, pure: given the validated request and the
 * facts gathered by the service (permit signature and nonce state, trusted snapshot,
 * the clock), run the checks in their fixed order and stop at the first failure.
 *
 * Order (documented in the README; the first failing check names the reason):
 *   actor_binding, cedar_policy, broker_allowed, image_allowed,
 *   permit_present, permit_issuer, permit_signature, permit_subject, permit_scope,
 *   permit_resource, permit_constraints, permit_policy, permit_not_before, permit_expiry, permit_ttl, nonce_unused,
 *   protocol_allowlist, market_snapshot_fresh, max_notional, max_slippage,
 * then, in the service, the atomic nonce_consumed. A check that does not apply (no
 * execute block, no permit where none is required, a constraint the permit lacks) is
 * not run and not listed.
 */
import type { CedarAnswer, CedarRequest } from "../policy/PolicyBundle.ts";
import type { PolicyManifest } from "../policy/PolicyManifest.ts";
import { brokerChecks } from "../policy/brokerChecks.ts";
import { constraintChecks } from "../policy/invariants.ts";
import type { MarketSnapshot } from "../market/MarketSnapshot.ts";
import { permitChecks, type PermitFacts } from "../permits/verifyPermit.ts";
import type { ActionRequest } from "./ActionRequest.ts";
import type { Check, InvariantCheck } from "./Check.ts";
import type { DenyReason } from "./DenyReason.ts";

export interface DecisionPolicy {
  readonly policyId: string;
  readonly manifest: PolicyManifest;
  readonly authorize: (request: CedarRequest) => CedarAnswer;
}

export interface DecideInput {
  readonly authenticatedActor: string;
  readonly request: ActionRequest;
  readonly policy: DecisionPolicy;
  /** Present exactly when the request carries a permit. */
  readonly permitFacts: PermitFacts | undefined;
  readonly market: MarketSnapshot | undefined;
  readonly now: number;
}

export interface Verdict {
  readonly status: "allowed" | "denied";
  readonly reason: DenyReason | null;
  /** Why, for people: the failing check's detail, or a summary when allowed. */
  readonly detail: string;
  readonly checks: ReadonlyArray<InvariantCheck>;
  /** amount x price when max_notional ran, as exact decimal text. */
  readonly notionalUsd: string | null;
  /** Cedar policies that determined the outcome. */
  readonly determiningPolicies: ReadonlyArray<string>;
  /** The nonce the service must consume atomically before the allow stands. */
  readonly nonceToConsume: string | null;
}

export function decide(input: DecideInput): Verdict {
  const { request, policy, now } = input;
  const actor = input.authenticatedActor;
  const manifest = policy.manifest;
  const ran: InvariantCheck[] = [];
  let determiningPolicies: ReadonlyArray<string> = [];
  let notional: () => string | null = () => null;

  const deny = (reason: DenyReason, detail: string): Verdict => ({
    status: "denied",
    reason,
    detail,
    checks: ran,
    notionalUsd: notional(),
    determiningPolicies,
    nonceToConsume: null,
  });

  /** Runs checks in order; returns the denial of the first that fails. */
  const runAll = (checks: ReadonlyArray<Check>): Verdict | null => {
    for (const check of checks) {
      const failure = check.run();
      ran.push({ name: check.name, ok: failure === null });
      if (failure) return deny(failure.reason, failure.detail);
    }
    return null;
  };

  const policyStage: Check[] = [
    {
      name: "actor_binding",
      run: () =>
        request.actor === actor ? null : { reason: "actor_mismatch", detail: `the token is bound to ${actor}, not to the actor the request names` },
    },
  ];
  const first = runAll(policyStage);
  if (first) return first;

  const answer = policy.authorize({ actor, action: request.action, resource: request.resource, context: request.context ?? {} });
  if (!answer.ok) {
    ran.push({ name: "cedar_policy", ok: false });
    return deny("policy_unavailable", answer.error);
  }
  determiningPolicies = answer.determiningPolicies;
  const cedarDenied = runAll([
    {
      name: "cedar_policy",
      run: () =>
        answer.allowed ? null : { reason: "policy_denied", detail: `no policy permits ${actor} this action on this resource` },
    },
  ]);
  if (cedarDenied) return cedarDenied;

  if (request.execute !== undefined) {
    const brokerDenied = runAll(brokerChecks(manifest, actor, request.action, request.execute));
    if (brokerDenied) return brokerDenied;
  }

  const permit = request.permit;
  const scopeRule = Object.hasOwn(manifest.permits.scopes, request.action) ? manifest.permits.scopes[request.action] : undefined;
  const required = scopeRule?.required === true;
  if (required) {
    const missing = runAll([
      { name: "permit_present", run: () => (permit ? null : { reason: "permit_required", detail: `${request.action} requires a signed permit` }) },
    ]);
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

  return {
    status: "allowed",
    reason: null,
    detail: permit ? `allowed by policy and permit ${permit.permit_id}` : "allowed by policy",
    checks: ran,
    notionalUsd: notional(),
    determiningPolicies,
    nonceToConsume: permit?.nonce ?? null,
  };
}

/** The verdict once the atomic nonce consumption has run: it stands, or becomes a replay denial. */
export function settleNonce(verdict: Verdict, consumed: boolean): Verdict {
  if (verdict.nonceToConsume === null) return verdict;
  const checks = [...verdict.checks, { name: "nonce_consumed", ok: consumed }];
  return consumed
    ? { ...verdict, checks, nonceToConsume: null }
    : {
        ...verdict,
        status: "denied",
        reason: "nonce_replay_detected",
        detail: "the permit's nonce was consumed by a concurrent request",
        checks,
        nonceToConsume: null,
      };
}
