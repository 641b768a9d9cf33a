/**
 * Every error answer of the HTTP API, from one table: RFC 9457 problem details
 * (`application/problem+json`) with `type` (a URN naming the problem), `title`, `status`
 * and `detail`, plus the contract's `reason` (the stable reason code) and, for v1 clients,
 * `error` (the same code) and `message` (the same text as `detail`). A detail names what
 * is wrong and where, never a submitted value. Decision denials of `POST /actions` are
 * problems too (decisions/views.ts): their body keeps the contract's decision shape, in
 * which `status` is `"denied"` (RFC 9457 section 3.1: a member of another type than the
 * specification's is ignored by problem consumers).
 */
import type { Context } from "hono";
import { DENY_REASONS, type DenyReason } from "../vocabulary/DenyReason.ts";

export const PROBLEM_CONTENT_TYPE = "application/problem+json";

/** `type` of a problem: `urn:zt-infra:problem:<reason>`. */
export function problemType(reason: string): string {
  return `urn:zt-infra:problem:${reason}`;
}

/** The problems other than decision denials: status and title. */
export const PROBLEMS = {
  unauthorized: { status: 401, title: "A valid bearer token is required" },
  forbidden: { status: 403, title: "This token may not call this endpoint" },
  not_found: { status: 404, title: "Not found, or not visible to this token" },
  malformed_request: { status: 400, title: "The request body is not acceptable" },
  invalid_parameter: { status: 400, title: "A query or path parameter is not acceptable" },
  unknown_scope: { status: 400, title: "The policy issues no permits for this scope" },
  unknown_constraint: { status: 400, title: "A constraint is not allowed for this scope" },
  permit_constraint_missing: { status: 400, title: "The policy requires a constraint or binding this permit request lacks" },
  permit_ttl_too_long: { status: 400, title: "The permit would live longer than the policy allows" },
  bad_range: { status: 400, title: "No proof exists between these tree sizes" },
  not_yet_sealed: { status: 409, title: "No sealed checkpoint covers this decision yet" },
  approval_closed: { status: 409, title: "The approval is rejected, expired or used and takes no more votes" },
  approval_already_granted: { status: 409, title: "The approval's quorum already granted it" },
  approval_duplicate_grant: { status: 409, title: "This operator already granted the approval" },
  policy_invalid: { status: 422, title: "The policy bundle on disk does not load; the bundles in force stay" },
  too_many_streams: { status: 429, title: "Too many console streams are open for this token" },
  corrupt_record: { status: 500, title: "A stored record does not decode" },
  audit_unavailable: { status: 503, title: "The event store or audit trail cannot be read or written" },
  console_unavailable: { status: 503, title: "This runtime cannot serve the console's browser code" },
  internal_error: { status: 500, title: "Internal error" },
} as const;

export type ProblemReason = keyof typeof PROBLEMS;

/** The problem body of `reason` with a detail and extension members. */
export function problemBody(reason: ProblemReason, detail: string, extensions: Record<string, unknown> = {}): Record<string, unknown> {
  const { status, title } = PROBLEMS[reason];
  return { type: problemType(reason), title, status, detail, reason, error: reason, message: detail, ...extensions };
}

/** Answers `reason` as problem+json. `status` overrides the table's (a 413 that is the contract's malformed_request). */
export function problem(c: Context, reason: ProblemReason, detail: string, extensions: Record<string, unknown> = {}, status?: number): Response {
  const body = problemBody(reason, detail, extensions);
  const code = status ?? PROBLEMS[reason].status;
  return c.body(JSON.stringify({ ...body, status: code }), code as 400, { "content-type": PROBLEM_CONTENT_TYPE });
}

/** The title of a decision's deny reason (its meaning's first sentence). */
export function denialTitle(reason: DenyReason): string {
  return DENY_REASONS[reason].meaning.split(". ")[0]!.replace(/\.$/, "");
}
