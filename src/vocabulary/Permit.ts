/**
 * The permit (seed `atf-architecture.txt`, "Permit Schema Overview"): the minimum
 * execution authority for one intent domain, signed by a trusted issuer over the JCS of
 * the permit without its `signature`, short-lived and single-use through its nonce.
 */
import { Schema } from "effect";
import { isUuidV4 } from "../kernel/ids.ts";
import { Identifier, identifier, NonNegativeInt, Rfc3339Utc } from "../kernel/schemas.ts";

export const PermitConstraints = Schema.Struct({
  max_notional_usd: Schema.optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())),
  max_slippage_bps: Schema.optional(NonNegativeInt.pipe(Schema.lessThanOrEqualTo(10_000))),
  protocol_allowlist: Schema.optional(Schema.Array(Identifier).pipe(Schema.maxItems(64))),
});
export type PermitConstraints = typeof PermitConstraints.Type;

/**
 * The resource a permit is bound to: exactly one resource, or every resource that starts
 * with the text before a single trailing `*` (`solana:mainnet/*`).
 */
export const ResourcePattern = identifier(1024).pipe(
  Schema.filter((pattern) => !pattern.slice(0, -1).includes("*"), { message: () => "must be a resource, or a prefix followed by a single trailing *" }),
);

/** Whether `pattern` (a permit's `resource`) covers `resource`. */
export function resourceMatches(pattern: string, resource: string): boolean {
  return pattern.endsWith("*") ? resource.startsWith(pattern.slice(0, -1)) : resource === pattern;
}

/** The signed fields, in the form whose JCS is signed. */
export const UnsignedPermit = Schema.Struct({
  permit_id: Identifier,
  subject: Identifier,
  scope: Identifier,
  /** The resource (or resource prefix) the permit is for; absent: any resource the policy allows. */
  resource: Schema.optional(ResourcePattern),
  policy_id: Identifier,
  constraints: PermitConstraints,
  issued_at: Rfc3339Utc,
  expires_at: Rfc3339Utc,
  nonce: Schema.String.pipe(Schema.filter(isUuidV4, { message: () => "must be a lowercase UUID v4" })),
  key_id: Identifier,
});
export type UnsignedPermit = typeof UnsignedPermit.Type;

export const Permit = Schema.Struct({
  ...UnsignedPermit.fields,
  signature: Schema.String.pipe(
    Schema.pattern(/^ed25519:[A-Za-z0-9_-]{86}$/, { message: () => "must be \"ed25519:\" followed by a base64url 64-byte signature" }),
  ),
});
export type Permit = typeof Permit.Type;

/** The bytes an issuer signs and a verifier checks: everything but `signature`. */
export function unsignedPart(permit: Permit): UnsignedPermit {
  const { signature: _signature, ...unsigned } = permit;
  return unsigned;
}
