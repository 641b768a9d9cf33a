/**
 * The body of `POST /actions` (contract section 4). Agents are untrusted: every field is
 * bounded, unknown fields are refused, and the free-form `context` must be a value Cedar
 * can take as request context (no nulls, no fractions, no `__entity`/`__extn` escapes that
 * would let an agent smuggle entity references into the policy evaluation).
 */
import { Schema } from "effect";
import { DecimalAmount, Identifier, identifier, NonNegativeInt } from "../kernel/schemas.ts";
import { ApprovalId } from "./ApprovalId.ts";
import { Permit } from "./Permit.ts";

const MAX_CONTEXT_DEPTH = 8;

/** Where and why a value cannot be Cedar context (a path inside `context`, a message without the value), or undefined when it can. */
function cedarContextProblem(value: unknown, path: ReadonlyArray<PropertyKey>): Schema.FilterIssue | undefined {
  if (path.length > MAX_CONTEXT_DEPTH) return { path, message: `nested deeper than ${MAX_CONTEXT_DEPTH} levels` };
  if (typeof value === "string") return value.isWellFormed() ? undefined : { path, message: "a string with a lone surrogate is not text" };
  if (typeof value === "boolean") return undefined;
  if (typeof value === "number") {
    return Number.isSafeInteger(value) ? undefined : { path, message: "Cedar numbers are 64-bit integers; a fraction or an unsafe integer is not one" };
  }
  if (value === null) return { path, message: "null is not a Cedar value" };
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const problem = cedarContextProblem(item, [...path, index]);
      if (problem) return problem;
    }
    return undefined;
  }
  if (typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key.startsWith("__")) return { path: [...path, key], message: 'keys starting with "__" are reserved by Cedar' };
      if (!key.isWellFormed()) return { path, message: "a key with a lone surrogate is not text" };
      const problem = cedarContextProblem(item, [...path, key]);
      if (problem) return problem;
    }
    return undefined;
  }
  return { path, message: "not a JSON value" };
}

export const CedarContext = Schema.Record({ key: Schema.String, value: Schema.Unknown }).pipe(
  Schema.filter((context) => cedarContextProblem(context, []) ?? true),
);

/** What the agent intends to do; hashed as `intent_hash`. Known fields are typed, others pass through. */
export const Intent = Schema.Struct(
  {
    protocol: Schema.optional(Identifier),
    asset: Schema.optional(Identifier),
    amount: Schema.optional(DecimalAmount),
    slippage_bps: Schema.optional(NonNegativeInt.pipe(Schema.lessThanOrEqualTo(10_000))),
  },
  Schema.Record({ key: Schema.String, value: Schema.Unknown }),
);
export type Intent = typeof Intent.Type;

export const BROKERS = ["docker", "bwrap", "nono"] as const;

/** A command for an execution broker: argv, never a shell string. */
export const ExecuteSpec = Schema.Struct({
  /** Any name is accepted here; the policy decides (`broker_not_allowed`). */
  broker: Identifier,
  image: Schema.optional(Identifier),
  command: Schema.NonEmptyArray(Schema.String.pipe(Schema.maxLength(4096))).pipe(Schema.maxItems(128)),
  timeout_ms: Schema.optional(Schema.Int.pipe(Schema.between(1, 300_000))),
  network: Schema.optional(Schema.Boolean),
});
export type ExecuteSpec = typeof ExecuteSpec.Type;

export const ActionRequest = Schema.Struct({
  actor: Identifier,
  action: Identifier,
  resource: identifier(1024),
  context: Schema.optional(CedarContext),
  intent: Schema.optional(Intent),
  permit: Schema.optional(Permit),
  execute: Schema.optional(ExecuteSpec),
  /** The approval this repeat of a request that waited for one uses (contract section 9); not part of the request's digest. */
  approval_id: Schema.optional(ApprovalId),
});
export type ActionRequest = typeof ActionRequest.Type;

/** Largest accepted `POST /actions` body (contract section 4). */
export const MAX_ACTION_BODY_BYTES = 64 * 1024;
