/**
 * Events of the budgets capability (contract section 11). What a budget has spent is the
 * stream of its id and the actor, `budget-<budget_id>-<actor>`: one `BudgetCharged.v1` for
 * each allowed call it covers, appended (in batches) expecting the revision the charging
 * instance folded, so that concurrent instances sharing a store never overspend it.
 *
 * A charge is made before its decision is recorded. When the decision never is (the
 * process died between the two appends, or the store failed), the charge is reclaimed:
 * the reclaimer first takes the decision's own stream with `DecisionAbandoned.v1`
 * (expecting no stream, so a decision that is still on its way can no longer be
 * recorded: it answers `audit_unavailable` and nothing runs), then appends
 * `BudgetChargeVoided.v1` to the budget stream.
 */
import { Schema } from "effect";
import { Identifier, Rfc3339Utc } from "../kernel/schemas.ts";

export const BUDGET_CHARGED = "BudgetCharged.v1";
export const BUDGET_CHARGE_VOIDED = "BudgetChargeVoided.v1";
/** The one event of the stream of a decision that was never recorded, whose charge was reclaimed. */
export const DECISION_ABANDONED = "DecisionAbandoned.v1";

/** Stream of one actor's charges under one budget. */
export function budgetStream(budgetId: string, actor: string): string {
  return `budget-${budgetId}-${actor}`;
}

const DecimalText = Schema.String.pipe(Schema.pattern(/^\d+(\.\d+)?$/));

export const BudgetCharged = Schema.Struct({
  budget_id: Identifier,
  actor: Identifier,
  action: Identifier,
  decision_id: Identifier,
  /** The call's notional in USD, when it was computed (always for a budget with `max_notional_usd`). */
  notional_usd: Schema.NullOr(DecimalText),
  charged_at: Rfc3339Utc,
  policy_hash: Schema.String,
});
export type BudgetCharged = typeof BudgetCharged.Type;

export const BudgetChargeVoided = Schema.Struct({
  budget_id: Identifier,
  actor: Identifier,
  decision_id: Identifier,
  /** The voided charge's time and amount, so that a fold that kept only sums can take it back out. */
  charged_at: Rfc3339Utc,
  notional_usd: Schema.NullOr(DecimalText),
  voided_at: Rfc3339Utc,
  reason: Schema.Literal("decision_not_recorded"),
});
export type BudgetChargeVoided = typeof BudgetChargeVoided.Type;

export const DecisionAbandoned = Schema.Struct({
  decision_id: Identifier,
  budget_id: Identifier,
  abandoned_at: Rfc3339Utc,
  reason: Schema.Literal("budget_charge_reclaimed"),
});
export type DecisionAbandoned = typeof DecisionAbandoned.Type;
