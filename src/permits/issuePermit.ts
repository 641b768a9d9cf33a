/**
 * Issuing permits, pure: check a request against what the policy could ever honour,
 * then build and sign the permit (ed25519 over the JCS of the permit without
 * `signature`). Used by `POST /permits` and by `zt permit issue` offline.
 */
import { Either, Schema } from "effect";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { encodeSignature, sign } from "../kernel/ed25519.ts";
import { formatRfc3339Seconds } from "../kernel/timestamp.ts";
import { Identifier } from "../kernel/schemas.ts";
import { jsonPath } from "../kernel/jsonPath.ts";
import { schemaProblems, type SchemaProblem } from "../kernel/schemaProblems.ts";
import type { SigningKey } from "../identity/KeyFile.ts";
import type { PolicyManifest } from "../policy/PolicyManifest.ts";
import { PermitConstraints, ResourcePattern, type Permit, type UnsignedPermit } from "../vocabulary/Permit.ts";

export const DEFAULT_PERMIT_TTL_SECONDS = 60;

export const PermitRequest = Schema.Struct({
  subject: Identifier,
  scope: Identifier,
  resource: Schema.optional(ResourcePattern),
  constraints: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  ttl_seconds: Schema.optional(Schema.Int.pipe(Schema.positive())),
});
export type PermitRequest = typeof PermitRequest.Type;

export type PermitRejectionReason = "malformed_request" | "unknown_scope" | "unknown_constraint" | "permit_constraint_missing" | "permit_ttl_too_long";

export interface PermitRejection {
  readonly reason: PermitRejectionReason;
  /** What is wrong, naming fields and policy limits, never a submitted value. */
  readonly message: string;
  /** Each problem's path and kind. */
  readonly problems: ReadonlyArray<SchemaProblem>;
}

export interface CheckedPermitRequest {
  readonly subject: string;
  readonly scope: string;
  readonly resource?: string;
  readonly constraints: PermitConstraints;
  readonly ttlSeconds: number;
}

const reject = (reason: PermitRejectionReason, message: string, problems: ReadonlyArray<SchemaProblem>) => Either.left({ reason, message, problems });

/**
 * Refuses what the policy could never honour: an unknown scope or constraint, a missing
 * required constraint or resource binding, a TTL over the maximum.
 */
export function checkPermitRequest(manifest: Pick<PolicyManifest, "permits">, input: unknown): Either.Either<CheckedPermitRequest, PermitRejection> {
  const decoded = Schema.decodeUnknownEither(PermitRequest)(input, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    const problems = schemaProblems(decoded.left);
    return reject("malformed_request", `the permit request is not acceptable at ${[...new Set(problems.map((p) => p.path))].join(", ")}`, problems);
  }
  const request = decoded.right;
  const scopeRule = Object.hasOwn(manifest.permits.scopes, request.scope) ? manifest.permits.scopes[request.scope] : undefined;
  if (scopeRule === undefined) {
    return reject("unknown_scope", "the policy issues no permits for this scope", [{ path: "$.scope", kind: "unknown_scope", message: "the policy issues no permits for this scope" }]);
  }
  // Names are read from the parsed input: decoding a Record turns a "__proto__" key into the
  // decoded object's prototype, which would hide it (and everything under it) from this check.
  const rawConstraints = (input as { readonly constraints?: unknown }).constraints;
  const names = typeof rawConstraints === "object" && rawConstraints !== null ? Object.keys(rawConstraints) : [];
  const unknown = names.filter((name) => !(scopeRule.constraints as ReadonlyArray<string>).includes(name));
  if (unknown.length > 0) {
    const problems = unknown.map((name) => ({ path: jsonPath(["constraints", name]), kind: "unknown_constraint", message: `not a constraint of scope ${request.scope}` }));
    return reject("unknown_constraint", `constraints not allowed for ${request.scope} at ${problems.map((p) => p.path).join(", ")}`, problems);
  }
  const constraints = Schema.decodeUnknownEither(PermitConstraints)(request.constraints, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(constraints)) {
    const problems = schemaProblems(constraints.left).map((problem) => ({ ...problem, path: problem.path.replace(/^\$/, "$.constraints") }));
    return reject("malformed_request", `the constraints are not acceptable at ${[...new Set(problems.map((p) => p.path))].join(", ")}`, problems);
  }
  const missing = scopeRule.required_constraints.filter((name) => constraints.right[name] === undefined);
  if (missing.length > 0) {
    const problems = missing.map((name) => ({ path: `$.constraints.${name}`, kind: "Missing", message: `required for ${request.scope} by the policy` }));
    return reject("permit_constraint_missing", `the policy requires ${missing.join(", ")} on every ${request.scope} permit`, problems);
  }
  if (scopeRule.require_resource && request.resource === undefined) {
    return reject("permit_constraint_missing", `the policy requires every ${request.scope} permit to name its resource`, [
      { path: "$.resource", kind: "Missing", message: `required for ${request.scope} by the policy` },
    ]);
  }
  const ttlSeconds = request.ttl_seconds ?? Math.min(DEFAULT_PERMIT_TTL_SECONDS, manifest.permits.max_ttl_seconds);
  if (ttlSeconds > manifest.permits.max_ttl_seconds) {
    return reject("permit_ttl_too_long", `ttl_seconds exceeds the policy maximum ${manifest.permits.max_ttl_seconds}`, [
      { path: "$.ttl_seconds", kind: "permit_ttl_too_long", message: `at most ${manifest.permits.max_ttl_seconds}` },
    ]);
  }
  return Either.right({
    subject: request.subject,
    scope: request.scope,
    ...(request.resource === undefined ? {} : { resource: request.resource }),
    constraints: constraints.right,
    ttlSeconds,
  });
}

export interface PermitIssueInput {
  readonly subject: string;
  readonly scope: string;
  readonly resource?: string;
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
    ...(input.resource === undefined ? {} : { resource: input.resource }),
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
