/**
 * The policy manifest (`policy.json`) of a bundle: permit rules, market snapshot
 * freshness and broker rules. Cedar answers "may this actor do this action on this
 * resource"; the manifest holds what Cedar cannot express as a plain allow/deny with a
 * reason of its own (permit requirements, constraint names, broker and image allowlists).
 */
import { Schema } from "effect";

export const PERMIT_CONSTRAINT_NAMES = ["max_notional_usd", "max_slippage_bps", "protocol_allowlist"] as const;
export type PermitConstraintName = (typeof PERMIT_CONSTRAINT_NAMES)[number];

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256));
const PositiveSeconds = Schema.Int.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(86_400));

export const PermitScopeRule = Schema.Struct({
  /** A request for this action without a permit is denied with `permit_required`. */
  required: Schema.Boolean,
  /** Constraint names a permit for this scope may carry. */
  constraints: Schema.Array(Schema.Literal(...PERMIT_CONSTRAINT_NAMES)),
});
export type PermitScopeRule = typeof PermitScopeRule.Type;

export const BrokerRule = Schema.Struct({
  /** Docker images this actor may run (`name:tag` or `name@sha256:...`); required for docker. */
  images: Schema.optional(Schema.Array(Name)),
  /** Whether the command may have network access; default false. */
  network: Schema.optional(Schema.Boolean),
});
export type BrokerRule = typeof BrokerRule.Type;

export const ExecutionRule = Schema.Struct({
  actor: Name,
  action: Name,
  brokers: Schema.Struct({
    docker: Schema.optional(BrokerRule),
    bwrap: Schema.optional(BrokerRule),
    nono: Schema.optional(BrokerRule),
  }),
});
export type ExecutionRule = typeof ExecutionRule.Type;

export const PolicyManifest = Schema.Struct({
  policy_id: Name,
  description: Schema.optional(Schema.String),
  /** File name of the Cedar schema inside the bundle directory. */
  cedar_schema: Schema.optionalWith(Name, { default: () => "schema.cedarschema" }),
  permits: Schema.Struct({
    max_ttl_seconds: PositiveSeconds,
    clock_skew_seconds: Schema.Int.pipe(Schema.between(0, 300)),
    scopes: Schema.Record({ key: Name, value: PermitScopeRule }),
  }),
  market: Schema.Struct({
    max_age_seconds: PositiveSeconds,
  }),
  execution: Schema.optionalWith(
    Schema.Struct({ rules: Schema.Array(ExecutionRule) }),
    { default: () => ({ rules: [] }) },
  ),
});
export type PolicyManifest = typeof PolicyManifest.Type;
