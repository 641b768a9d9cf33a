/**
 * Issuing permits, pure: check a request against what the policy could ever honour,
 * then build and sign the permit (ed25519 over the JCS of the permit without
 * `signature`). Used by `POST /permits` and by `zt permit issue` offline.
 */
import { Either, ParseResult, Schema } from "effect";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { encodeSignature, sign } from "../kernel/ed25519.ts";
import { formatRfc3339Seconds } from "../kernel/timestamp.ts";
import { Identifier } from "../kernel/schemas.ts";
import type { SigningKey } from "../identity/KeyFile.ts";
import type { PolicyManifest } from "../policy/PolicyManifest.ts";
import { PermitConstraints, type Permit, type UnsignedPermit } from "./Permit.ts";

export const DEFAULT_PERMIT_TTL_SECONDS = 60;

export const PermitRequest = Schema.Struct({
  subject: Identifier,
  scope: Identifier,
  constraints: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  ttl_seconds: Schema.optional(Schema.Int.pipe(Schema.positive())),
});
export type PermitRequest = typeof PermitRequest.Type;

export type PermitRejectionReason = "malformed_request" | "unknown_scope" | "unknown_constraint" | "permit_ttl_too_long";

export interface PermitRejection {
  readonly reason: PermitRejectionReason;
  readonly message: string;
}

export interface CheckedPermitRequest {
  readonly subject: string;
  readonly scope: string;
  readonly constraints: PermitConstraints;
  readonly ttlSeconds: number;
}

/** Refuses what the policy could never honour: unknown scope or constraint, TTL over the maximum. */
export function checkPermitRequest(manifest: Pick<PolicyManifest, "permits">, input: unknown): Either.Either<CheckedPermitRequest, PermitRejection> {
  const decoded = Schema.decodeUnknownEither(PermitRequest)(input, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left);
    return Either.left({ reason: "malformed_request", message: issues.map((i) => `${["$", ...i.path].join(".")}: ${i.message}`).join("; ") });
  }
  const request = decoded.right;
  const scopeRule = Object.hasOwn(manifest.permits.scopes, request.scope) ? manifest.permits.scopes[request.scope] : undefined;
  if (scopeRule === undefined) {
    return Either.left({ reason: "unknown_scope", message: `the policy issues no permits for scope ${request.scope}` });
  }
  // Names are read from the parsed input: decoding a Record turns a "__proto__" key into the
  // decoded object's prototype, which would hide it (and everything under it) from this check.
  const rawConstraints = (input as { readonly constraints?: unknown }).constraints;
  const names = typeof rawConstraints === "object" && rawConstraints !== null ? Object.keys(rawConstraints) : [];
  const unknown = names.filter((name) => !(scopeRule.constraints as ReadonlyArray<string>).includes(name));
  if (unknown.length > 0) {
    return Either.left({ reason: "unknown_constraint", message: `constraints not allowed for ${request.scope}: ${unknown.join(", ")}` });
  }
  const constraints = Schema.decodeUnknownEither(PermitConstraints)(request.constraints, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(constraints)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(constraints.left);
    return Either.left({ reason: "malformed_request", message: issues.map((i) => `$.constraints.${i.path.join(".")}: ${i.message}`).join("; ") });
  }
  const ttlSeconds = request.ttl_seconds ?? Math.min(DEFAULT_PERMIT_TTL_SECONDS, manifest.permits.max_ttl_seconds);
  if (ttlSeconds > manifest.permits.max_ttl_seconds) {
    return Either.left({ reason: "permit_ttl_too_long", message: `ttl_seconds ${ttlSeconds} exceeds the policy maximum ${manifest.permits.max_ttl_seconds}` });
  }
  return Either.right({ subject: request.subject, scope: request.scope, constraints: constraints.right, ttlSeconds });
}

export interface PermitIssueInput {
  readonly subject: string;
  readonly scope: string;
  readonly policyId: string;
  readonly constraints: PermitConstraints;
  /** Issue time; permits are stamped to the second. */
  readonly now: number;
  readonly ttlSeconds: number;
  readonly permitId: string;
  readonly nonce: string;
  readonly key: SigningKey;
}

/** The signed permit. `issued_at` is `now` truncated to the second; `expires_at` is ttl later. */
export function signPermit(input: PermitIssueInput): Permit {
  const issuedAt = Math.floor(input.now / 1000) * 1000;
  const unsigned: UnsignedPermit = {
    permit_id: input.permitId,
    subject: input.subject,
    scope: input.scope,
    policy_id: input.policyId,
    constraints: input.constraints,
    issued_at: formatRfc3339Seconds(issuedAt),
    expires_at: formatRfc3339Seconds(issuedAt + input.ttlSeconds * 1000),
    nonce: input.nonce,
    key_id: input.key.keyId,
  };
  const signature = sign(new TextEncoder().encode(canonicalJsonTrusted(unsigned)), input.key.seed);
  return { ...unsigned, signature: encodeSignature(signature) };
}
