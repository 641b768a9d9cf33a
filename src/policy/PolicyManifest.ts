/**
 * The policy manifest (`policy.json`) of a bundle: permit rules, market snapshot
 * freshness, broker rules, approval rules and budgets. Cedar answers "may this actor do
 * this action on this resource"; the manifest holds what Cedar cannot express as a plain
 * allow/deny with a reason of its own (permit requirements, constraint names, broker and
 * image allowlists, spending over time).
 */
import { Schema } from "effect";
import { ResourcePattern } from "../vocabulary/Permit.ts";

export const PERMIT_CONSTRAINT_NAMES = ["max_notional_usd", "max_slippage_bps", "protocol_allowlist"] as const;
export type PermitConstraintName = (typeof PERMIT_CONSTRAINT_NAMES)[number];

const Name = Schema.String.pipe(Schema.minLength(1), Schema.maxLength(256));
const PositiveSeconds = Schema.Int.pipe(Schema.greaterThan(0), Schema.lessThanOrEqualTo(86_400));

const ConstraintName = Schema.Literal(...PERMIT_CONSTRAINT_NAMES);

export const PermitScopeRule = Schema.Struct({
  /** A request for this action without a permit is denied with `permit_required`. */
  required: Schema.Boolean,
  /** Constraint names a permit for this scope may carry. */
  constraints: Schema.Array(ConstraintName),
  /**
   * Constraints every permit for this scope must carry: one without them is refused at
   * issue (400) and at use (`permit_constraint_missing`), so a permit with `constraints: {}`
   * cannot allow a swap of any size.
   */
  required_constraints: Schema.optionalWith(Schema.Array(ConstraintName), { default: () => [] }),
  /** Every permit for this scope must name the resource it is for (exact, or a prefix ending in `*`). */
  require_resource: Schema.optionalWith(Schema.Boolean, { default: () => false }),
}).pipe(
  Schema.filter((rule) => {
    const unknown = rule.required_constraints.findIndex((name) => !rule.constraints.includes(name));
    return unknown < 0 || { path: ["required_constraints", unknown], message: "a required constraint must also be listed in constraints" };
  }),
);
export type PermitScopeRule = typeof PermitScopeRule.Type;

/**
 * Resource limits of one broker rule; each has a build default (see commandSpec) so a rule
 * without `limits` still runs constrained. A request asking for a longer `timeout_ms`
 * than `timeout_ms` here is denied (`broker_not_allowed`), never silently shortened.
 */
export const BrokerLimits = Schema.Struct({
  /** The longest `execute.timeout_ms` a request may ask for. */
  timeout_ms: Schema.optional(Schema.Int.pipe(Schema.between(1, 300_000))),
  memory_mb: Schema.optional(Schema.Int.pipe(Schema.between(8, 65_536))),
  /** CPU share in cores. */
  cpus: Schema.optional(Schema.Number.pipe(Schema.between(0.01, 64))),
  pids: Schema.optional(Schema.Int.pipe(Schema.between(1, 32_768))),
  /** Bytes of stdout, and of stderr, returned to the caller. */
  output_bytes: Schema.optional(Schema.Int.pipe(Schema.between(0, 1_048_576))),
});
export type BrokerLimits = typeof BrokerLimits.Type;

/** A Docker image entry: `name:tag`, or `name:tag@sha256:<64 hex>` to pin the digest the tag must resolve to. */
export const ImageEntry = Name.pipe(
  Schema.pattern(/^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$/, {
    message: () => "must be a Docker image reference (name:tag), optionally pinned as name:tag@sha256:<64 hex>",
  }),
);

/** `images.lock.json`: the digest each image reference was built as. */
export const ImageLock = Schema.Record({
  key: Name.pipe(Schema.pattern(/^[a-z0-9][a-z0-9._/:-]*$/, { message: () => "must be a Docker image reference (name:tag)" })),
  value: Schema.String.pipe(Schema.pattern(/^sha256:[0-9a-f]{64}$/, { message: () => "must be sha256:<64 hex>" })),
});
export type ImageLock = typeof ImageLock.Type;

/** The manifest with every image entry that names no digest pinned to the lock's digest for it, where the lock has one. */
export function pinImages(manifest: PolicyManifest, lock: ImageLock): PolicyManifest {
  const pin = (entry: string) => (!entry.includes("@") && Object.hasOwn(lock, entry) ? `${entry}@${lock[entry]}` : entry);
  const pinRule = (rule: BrokerRule | undefined) => (rule?.images === undefined ? rule : { ...rule, images: rule.images.map(pin) });
  return {
    ...manifest,
    execution: {
      rules: manifest.execution.rules.map((rule) => ({
        ...rule,
        brokers: Object.fromEntries(Object.entries(rule.brokers).map(([name, brokerRule]) => [name, pinRule(brokerRule)])) as ExecutionRule["brokers"],
      })),
    },
  };
}

export const BrokerRule = Schema.Struct({
  /** Docker images this actor may run; required for docker. */
  images: Schema.optional(Schema.Array(ImageEntry)),
  /** Whether the command may have network access; default false. */
  network: Schema.optional(Schema.Boolean),
  limits: Schema.optional(BrokerLimits),
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

/**
 * A rule that sends matching requests to human approval (contract section 9): every
 * condition it names must hold (`actor` and `action` exactly, `resource` exactly or by a
 * trailing-`*` prefix, `notional_usd_over`: amount x price from the trusted snapshot is
 * over this many USD), and then an allowed request waits for `quorum` distinct operators
 * to grant it, within `ttl_seconds`. The first matching rule in the manifest's order applies.
 */
/** The id of an approval rule or a budget: 1-64 of a-z, 0-9, _ and -. */
const RuleId = Name.pipe(Schema.pattern(/^[a-z0-9][a-z0-9_-]{0,63}$/, { message: () => "must be 1-64 of a-z, 0-9, _ and -, starting with a letter or digit" }));

export const ApprovalRule = Schema.Struct({
  id: RuleId,
  actor: Schema.optional(Name),
  action: Schema.optional(Name),
  resource: Schema.optional(ResourcePattern),
  notional_usd_over: Schema.optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())),
  /** How many distinct operators must grant (default 1). */
  quorum: Schema.optionalWith(Schema.Int.pipe(Schema.between(1, 16)), { default: () => 1 }),
  /** How long a request waits for its grants, and a grant for its use. */
  ttl_seconds: Schema.Int.pipe(Schema.between(1, 7 * 86_400)),
});
export type ApprovalRule = typeof ApprovalRule.Type;

/** An http(s) URL without credentials, at most 2048 characters. */
const HttpUrl = Schema.String.pipe(
  Schema.maxLength(2048),
  Schema.filter((text) => {
    const url = URL.canParse(text) ? new URL(text) : undefined;
    return (url !== undefined && (url.protocol === "http:" || url.protocol === "https:") && url.username === "" && url.password === "") || "must be an http(s) URL without user:password";
  }),
);

/** Where a pending approval is announced (never on the decision path). */
export const ApprovalWebhook = Schema.Struct({
  url: HttpUrl,
  /** The console's address: the notice links to `<console_url>?approval=<approval_id>`. */
  console_url: Schema.optional(HttpUrl),
});
export type ApprovalWebhook = typeof ApprovalWebhook.Type;

export const ApprovalSettings = Schema.Struct({
  rules: Schema.Array(ApprovalRule).pipe(Schema.maxItems(256)),
  webhook: Schema.optional(ApprovalWebhook),
}).pipe(
  Schema.filter((settings) => {
    const seen = new Set<string>();
    for (const [index, rule] of settings.rules.entries()) {
      if (seen.has(rule.id)) return { path: ["rules", index, "id"], message: `duplicate rule id "${rule.id}"` };
      seen.add(rule.id);
    }
    return true;
  }),
);
export type ApprovalSettings = typeof ApprovalSettings.Type;

/**
 * A budget (contract section 11): how much an actor may spend on an action over a rolling
 * window, as a sum of `notional_usd` (amount x price from the trusted snapshot), a number
 * of allowed calls, or both. `actor` names one actor; without it every actor has a budget
 * of its own under this rule. `resource` (exact, or a trailing-`*` prefix) narrows it.
 * Every budget that matches a call applies. The charges are events on the stream of the
 * budget's id and the actor (BudgetLedger), so keeping the id keeps what was spent when
 * the limits change, and a new id starts from nothing.
 */
export const BudgetRule = Schema.Struct({
  id: RuleId,
  actor: Schema.optional(Name),
  action: Name,
  resource: Schema.optional(ResourcePattern),
  window_seconds: Schema.Int.pipe(Schema.between(1, 31 * 86_400)),
  max_notional_usd: Schema.optional(Schema.Number.pipe(Schema.finite(), Schema.nonNegative())),
  max_calls: Schema.optional(Schema.Int.pipe(Schema.between(0, 1_000_000_000))),
}).pipe(Schema.filter((rule) => rule.max_notional_usd !== undefined || rule.max_calls !== undefined || { path: ["max_calls"], message: "a budget needs max_notional_usd, max_calls or both" }));
export type BudgetRule = typeof BudgetRule.Type;

const BudgetRules = Schema.Array(BudgetRule).pipe(
  Schema.maxItems(256),
  Schema.filter((rules) => {
    const seen = new Set<string>();
    for (const [index, rule] of rules.entries()) {
      if (seen.has(rule.id)) return { path: [index, "id"], message: `duplicate budget id "${rule.id}"` };
      seen.add(rule.id);
    }
    return true;
  }),
);

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
  approvals: Schema.optionalWith(ApprovalSettings, { default: () => ({ rules: [] }) }),
  budgets: Schema.optionalWith(BudgetRules, { default: () => [] }),
});
export type PolicyManifest = typeof PolicyManifest.Type;
