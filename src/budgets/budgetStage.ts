/**
 * The budget stage of the decision pipeline (contract section 11), pure: after the permit's
 * constraints and before the approval stage (a call over budget is denied, never queued for
 * approval). Every budget of the manifest whose actor, action and resource match the call
 * applies; the call fits when, for each, what the rolling window already holds plus this
 * call stays within `max_calls` and `max_notional_usd`. What the window holds is a fact the
 * service folded from the budget's stream (BudgetLedger); an allowed call is then charged
 * to every applicable budget, atomically with what was folded (see DecisionService).
 *
 * One check, `budget`, listed when a budget applies. A notional limit needs the call's
 * notional: when the permit's constraints did not compute it, it is priced here from the
 * trusted snapshot, failing closed with the market's reason; a call without an amount has
 * an unbounded notional and exceeds any notional limit.
 */
import { addDecimals, compareDecimals, decimalFromNumber, formatDecimal, parseDecimal, subtractDecimals, type Decimal } from "../kernel/decimal.ts";
import { notionalOf, snapshotFreshness } from "../policy/invariants.ts";
import type { BudgetRule, PolicyManifest } from "../policy/PolicyManifest.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import type { CheckFailure, InvariantCheck } from "../vocabulary/Check.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { resourceMatches } from "../vocabulary/Permit.ts";
import { budgetStream } from "./events.ts";

/** The budgets that apply to a call, in the manifest's order. */
export function budgetsForCall(manifest: PolicyManifest, actor: string, action: string, resource: string): ReadonlyArray<BudgetRule> {
  return manifest.budgets.filter((rule) => rule.action === action && (rule.actor === undefined || rule.actor === actor) && (rule.resource === undefined || resourceMatches(rule.resource, resource)));
}

/** What a budget's rolling window holds: the notional spent and the calls charged. */
export interface BudgetSpent {
  readonly notionalUsd: Decimal;
  readonly calls: number;
}

/** What the window of each applicable budget holds now, by budget id. */
export type BudgetFacts = ReadonlyMap<string, BudgetSpent>;

/** A charge an allowed call makes to one budget. */
export interface BudgetCharge {
  readonly budgetId: string;
  readonly actor: string;
  readonly action: string;
  /** `budget-<id>-<actor>`. */
  readonly stream: string;
  readonly windowSeconds: number;
  /** The call's notional, when computed. */
  readonly notionalUsd: string | null;
}

export type BudgetStage =
  | { readonly kind: "none" }
  | { readonly kind: "denied"; readonly failure: CheckFailure; readonly checks: ReadonlyArray<InvariantCheck>; readonly notionalUsd: string | null }
  | { readonly kind: "charge"; readonly charges: ReadonlyArray<BudgetCharge>; readonly checks: ReadonlyArray<InvariantCheck>; readonly notionalUsd: string | null };

export interface BudgetStageInput {
  readonly manifest: PolicyManifest;
  readonly actor: string;
  readonly request: ActionRequest;
  /** The notional the permit's constraints already computed, if they did. */
  readonly notionalUsd: string | null;
  readonly market: MarketSnapshot | undefined;
  readonly now: number;
  /** Present whenever a budget applies to the call. */
  readonly facts: BudgetFacts | undefined;
}

/** How much of a budget remains, for the denial's detail. */
function remaining(rule: BudgetRule, spent: BudgetSpent): string {
  const parts: string[] = [];
  if (rule.max_notional_usd !== undefined) {
    const limit = decimalFromNumber(rule.max_notional_usd)!;
    parts.push(`${formatDecimal(subtractDecimals(limit, spent.notionalUsd))} of ${formatDecimal(limit)} USD notional`);
  }
  if (rule.max_calls !== undefined) parts.push(`${Math.max(0, rule.max_calls - spent.calls)} of ${rule.max_calls} calls`);
  return `${parts.join(" and ")} remain in its rolling ${rule.window_seconds} s window`;
}

export function budgetStage(input: BudgetStageInput): BudgetStage {
  const rules = budgetsForCall(input.manifest, input.actor, input.request.action, input.request.resource);
  if (rules.length === 0) return { kind: "none" };
  let notionalUsd = input.notionalUsd;
  const fail = (failure: CheckFailure): BudgetStage => ({ kind: "denied", failure, checks: [{ name: "budget", ok: false }], notionalUsd });

  if (notionalUsd === null && rules.some((rule) => rule.max_notional_usd !== undefined)) {
    const stale = snapshotFreshness(input.market, input.manifest, input.now);
    if (stale) return fail(stale);
    const priced = notionalOf(input.request.intent, input.market);
    if ("reason" in priced) {
      const budget = rules.find((rule) => rule.max_notional_usd !== undefined)!;
      return fail(priced.reason === "max_notional_exceeded" ? { reason: "budget_exceeded", detail: `budget ${budget.id} limits notional and the call has no amount, so its notional is unbounded` } : priced);
    }
    notionalUsd = formatDecimal(priced.usd);
  }
  // Fail closed: a budget applies but the service folded nothing for it.
  const facts = input.facts;
  if (facts === undefined || rules.some((rule) => !facts.has(rule.id))) return fail({ reason: "policy_unavailable", detail: "the budgets of this call could not be read" });

  const notional = notionalUsd === null ? undefined : parseDecimal(notionalUsd);
  for (const rule of rules) {
    const spent = facts.get(rule.id)!;
    const overCalls = rule.max_calls !== undefined && spent.calls + 1 > rule.max_calls;
    const limit = rule.max_notional_usd === undefined ? undefined : decimalFromNumber(rule.max_notional_usd);
    const overNotional = limit !== undefined && (notional === undefined || compareDecimals(addDecimals(spent.notionalUsd, notional), limit) > 0);
    if (overCalls || overNotional) {
      const needs = overNotional && notionalUsd !== null ? `; this call needs ${notionalUsd} USD` : overCalls ? "; this call needs one more" : "";
      return fail({ reason: "budget_exceeded", detail: `budget ${rule.id}: ${remaining(rule, spent)}${needs}` });
    }
  }
  const charges = rules.map((rule) => ({
    budgetId: rule.id,
    actor: input.actor,
    action: input.request.action,
    stream: budgetStream(rule.id, input.actor),
    windowSeconds: rule.window_seconds,
    notionalUsd,
  }));
  return { kind: "charge", charges, checks: [{ name: "budget", ok: true }], notionalUsd };
}
