/**
 * Permit checks (seed "Replay Protection + TTL"), pure and in a fixed order. Signature
 * validity and nonce use are facts established by the caller (one needs WebCrypto, the
 * other the event store) and passed in, so the order and the verdicts stay here.
 */
import { parseRfc3339Utc } from "../kernel/timestamp.ts";
import type { PermitScopeRule, PolicyManifest } from "../policy/PolicyManifest.ts";
import type { Check } from "../vocabulary/Check.ts";
import { resourceMatches, type Permit } from "../vocabulary/Permit.ts";

export interface PermitFacts {
  /** The permit's key_id names a trusted permit-issuer key. */
  readonly issuerTrusted: boolean;
  /** The signature verifies over the JCS of the permit without `signature` (false if the issuer is unknown). */
  readonly signatureValid: boolean;
  /** A NonceConsumed event already exists for the permit's nonce. */
  readonly nonceSeen: boolean;
}

export interface PermitCheckInput {
  readonly permit: Permit;
  readonly facts: PermitFacts;
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  /** The manifest's rule for the requested action, if it has one. */
  readonly scopeRule: PermitScopeRule | undefined;
  readonly policyId: string;
  readonly permits: PolicyManifest["permits"];
  readonly now: number;
}

/** The permit checks in order; the caller stops at the first failure. */
export function permitChecks(input: PermitCheckInput): ReadonlyArray<Check> {
  const { permit, facts, permits, now } = input;
  // Both parse: the Permit schema only admits valid RFC 3339 UTC timestamps.
  const issuedAt = parseRfc3339Utc(permit.issued_at) ?? Number.NaN;
  const expiresAt = parseRfc3339Utc(permit.expires_at) ?? Number.NaN;
  const ttlMillis = expiresAt - issuedAt;
  return [
    {
      name: "permit_issuer",
      run: () => (facts.issuerTrusted ? null : { reason: "unknown_issuer", detail: "the permit's key_id is not a trusted permit issuer" }),
    },
    {
      name: "permit_signature",
      run: () => (facts.signatureValid ? null : { reason: "invalid_signature", detail: "signature does not verify over the JCS of the permit without signature" }),
    },
    {
      name: "permit_subject",
      run: () => (permit.subject === input.actor ? null : { reason: "subject_mismatch", detail: `the permit was issued to another subject than ${input.actor}` }),
    },
    {
      name: "permit_scope",
      run: () => (permit.scope === input.action ? null : { reason: "scope_mismatch", detail: `the permit's scope is not ${input.action}` }),
    },
    {
      name: "permit_resource",
      run: () => {
        if (permit.resource === undefined) {
          return input.scopeRule?.require_resource === true
            ? { reason: "permit_constraint_missing", detail: `the policy requires every ${input.action} permit to name its resource` }
            : null;
        }
        return resourceMatches(permit.resource, input.resource) ? null : { reason: "scope_mismatch", detail: `the permit is bound to ${permit.resource}, which does not cover the requested resource` };
      },
    },
    {
      name: "permit_constraints",
      run: () => {
        const missing = (input.scopeRule?.required_constraints ?? []).filter((name) => permit.constraints[name] === undefined);
        return missing.length === 0 ? null : { reason: "permit_constraint_missing", detail: `the policy requires ${missing.join(", ")} on every ${input.action} permit` };
      },
    },
    {
      name: "permit_policy",
      run: () =>
        permit.policy_id === input.policyId ? null : { reason: "policy_mismatch", detail: `the permit names another policy than the active ${input.policyId}` },
    },
    {
      name: "permit_not_before",
      run: () =>
        issuedAt <= now + permits.clock_skew_seconds * 1000
          ? null
          : { reason: "permit_not_yet_valid", detail: `issued_at ${permit.issued_at} is more than ${permits.clock_skew_seconds}s in the future` },
    },
    {
      name: "permit_expiry",
      run: () => (now < expiresAt ? null : { reason: "permit_expired", detail: `expired at ${permit.expires_at}` }),
    },
    {
      name: "permit_ttl",
      run: () =>
        ttlMillis > 0 && ttlMillis <= permits.max_ttl_seconds * 1000
          ? null
          : { reason: "permit_ttl_too_long", detail: `lifetime ${ttlMillis / 1000}s is not within (0, ${permits.max_ttl_seconds}]s` },
    },
    {
      name: "nonce_unused",
      run: () => (facts.nonceSeen ? { reason: "nonce_replay_detected", detail: "the permit's nonce was already consumed" } : null),
    },
  ];
}
