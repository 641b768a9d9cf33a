/**
 * What the console shows of a decision, and which decisions a viewer's filters select.
 * Pure. A summary carries the decision's public fields only (no intent, context, permit
 * or execution), each string cut to a bound, so a stream or a cache of summaries is
 * bounded in bytes whatever an agent put in its request.
 */
import type { RecordedEvent } from "../events/EventStore.ts";
import { isRecord } from "../kernel/isRecord.ts";
import { DENY_REASONS } from "../vocabulary/DenyReason.ts";

export interface DecisionSummary {
  /** Global store position of the ActionDecided event: the stream's resume point. */
  readonly position: number;
  readonly decision_id: string;
  readonly decided_at: string;
  /** The authenticated caller. */
  readonly actor: string;
  readonly action: string | null;
  readonly resource: string | null;
  readonly status: string;
  readonly reason: string | null;
  readonly policy_id: string;
  readonly notional_usd: string | null;
}

/** Strings of a summary are cut to this many characters (an ellipsis marks the cut). */
export const SUMMARY_TEXT_LIMIT = 200;

/** Statuses a filter may name: the contract's decisions (section 4) and approvals (section 9). */
export const DECISION_STATUSES = ["allowed", "denied", "pending_approval"] as const;

const cut = (text: string) => (text.length <= SUMMARY_TEXT_LIMIT ? text : `${text.slice(0, SUMMARY_TEXT_LIMIT - 1)}…`);
const textOr = (value: unknown, fallback: string | null) => (typeof value === "string" ? cut(value) : fallback);

/**
 * The summary of a stored ActionDecided event. Read field by field, not through the
 * decision schema, so that a decision recorded by another version (a status added later)
 * still shows; undefined when it has no decision id or status.
 */
export function decisionSummary(event: RecordedEvent): DecisionSummary | undefined {
  const data = event.data;
  const sentRequest = data["request"];
  const request = isRecord(sentRequest) ? sentRequest : {};
  if (typeof data["decision_id"] !== "string" || typeof data["status"] !== "string") return undefined;
  return {
    position: event.position,
    decision_id: cut(data["decision_id"]),
    decided_at: textOr(data["decided_at"], event.recordedAt)!,
    actor: textOr(data["actor"], "")!,
    action: textOr(request["action"], null),
    resource: textOr(request["resource"], null),
    status: cut(data["status"]),
    reason: textOr(data["reason"], null),
    policy_id: textOr(data["policy_id"], "")!,
    notional_usd: textOr(data["notional_usd"], null),
  };
}

export interface DecisionFilter {
  readonly actor?: string;
  readonly action?: string;
  readonly status?: string;
  readonly reason?: string;
}

export type FilterParse = { readonly ok: true; readonly filter: DecisionFilter } | { readonly ok: false; readonly detail: string };

// Printable ASCII without spaces, as actors, actions and the stable reason codes are.
const TERM = new RegExp(`^[\\x21-\\x7e]{1,${SUMMARY_TEXT_LIMIT}}$`);
const FILTERS = ["actor", "action", "status", "reason"] as const;

/**
 * The filters of a query (each at most once), refusing unknown parameters but `extra`,
 * statuses and reasons the contract does not name, and terms that are not printable ASCII
 * or are longer than a summary keeps. Details name the parameter, never its value.
 */
export function parseDecisionFilter(query: Record<string, ReadonlyArray<string>>, extra: ReadonlyArray<string> = []): FilterParse {
  const filter: Record<string, string> = {};
  for (const [name, values] of Object.entries(query)) {
    const known = (FILTERS as ReadonlyArray<string>).includes(name);
    if (!known && !extra.includes(name)) return { ok: false, detail: `unknown query parameter (expected ${[...FILTERS, ...extra].join(", ")})` };
    if (values.length !== 1) return { ok: false, detail: `${name} may be given once` };
    if (!known) continue;
    const value = values[0]!;
    if (value === "") continue;
    if (!TERM.test(value)) return { ok: false, detail: `${name} must be 1 to ${SUMMARY_TEXT_LIMIT} printable ASCII characters` };
    if (name === "status" && !(DECISION_STATUSES as ReadonlyArray<string>).includes(value)) return { ok: false, detail: `status must be one of ${DECISION_STATUSES.join(", ")}` };
    if (name === "reason" && !Object.hasOwn(DENY_REASONS, value)) return { ok: false, detail: "reason must be a stable deny reason" };
    filter[name] = value;
  }
  return { ok: true, filter };
}

export function matchesFilter(filter: DecisionFilter, summary: DecisionSummary): boolean {
  return (
    (filter.actor === undefined || summary.actor === filter.actor) &&
    (filter.action === undefined || summary.action === filter.action) &&
    (filter.status === undefined || summary.status === filter.status) &&
    (filter.reason === undefined || summary.reason === filter.reason)
  );
}
