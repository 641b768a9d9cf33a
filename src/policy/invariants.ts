/**
 * Permit constraint invariants (seed "Deterministic Invariant Evaluation"): pure,
 * deterministic functions of the permit constraints, the intent, the trusted market
 * snapshot and an injected clock. A constraint that cannot be evaluated because the
 * intent lacks the field it bounds fails closed with that constraint's reason.
 */
import { compareDecimals, decimalFromNumber, formatDecimal, multiplyDecimals, parseDecimal, type Decimal } from "../kernel/decimal.ts";
import { parseRfc3339Utc } from "../kernel/timestamp.ts";
import type { Check, CheckFailure } from "../vocabulary/Check.ts";
import type { Intent } from "../vocabulary/ActionRequest.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import type { PermitConstraints } from "../vocabulary/Permit.ts";
import type { PolicyManifest } from "./PolicyManifest.ts";

export interface ConstraintCheckInput {
  readonly constraints: PermitConstraints;
  /** The requested resource, e.g. `solana:mainnet/jupiter`. */
  readonly resource: string;
  readonly intent: Intent | undefined;
  readonly market: MarketSnapshot | undefined;
  readonly policy: Pick<PolicyManifest, "market" | "permits">;
  readonly now: number;
}

export type Notional = { readonly usd: Decimal } | CheckFailure;

function amountOf(intent: Intent | undefined): Decimal | undefined {
  const amount = intent?.amount;
  if (amount === undefined) return undefined;
  return typeof amount === "number" ? decimalFromNumber(amount) : parseDecimal(amount);
}

/** notional_usd = amount x price(asset) from the trusted snapshot, exactly. */
export function notionalOf(intent: Intent | undefined, market: MarketSnapshot | undefined): Notional {
  const asset = intent?.asset;
  if (asset === undefined) return { reason: "market_price_unknown", detail: "intent.asset is missing" };
  const price = market && Object.hasOwn(market.prices, asset) ? market.prices[asset] : undefined;
  const priceDecimal = price === undefined ? undefined : decimalFromNumber(price);
  if (priceDecimal === undefined) return { reason: "market_price_unknown", detail: "the trusted snapshot has no price for the intent's asset" };
  const amount = amountOf(intent);
  if (amount === undefined) return { reason: "max_notional_exceeded", detail: "intent.amount is missing, so the notional is unbounded" };
  return { usd: multiplyDecimals(amount, priceDecimal) };
}

/**
 * The protocol a resource names: the path segment after the chain, `jupiter` in
 * `solana:mainnet/jupiter` (and in `solana:mainnet/jupiter/v6`); undefined when the
 * resource has no such segment.
 */
export function resourceProtocol(resource: string): string | undefined {
  const segment = resource.split("/", 2)[1];
  return segment === undefined || segment === "" ? undefined : segment;
}

/** Whether the trusted snapshot can price a notional now: recorded, not older than `max_age_seconds`, not dated in the future. */
export function snapshotFreshness(market: MarketSnapshot | undefined, policy: Pick<PolicyManifest, "market" | "permits">, now: number): CheckFailure | null {
  if (market === undefined) return { reason: "market_snapshot_stale", detail: "no trusted market snapshot has been recorded" };
  const asOf = parseRfc3339Utc(market.as_of) ?? Number.NaN;
  const maxAge = policy.market.max_age_seconds;
  if (asOf > now + policy.permits.clock_skew_seconds * 1000) {
    return { reason: "market_snapshot_stale", detail: `the snapshot's as_of ${market.as_of} is in the future` };
  }
  if (!(now - asOf <= maxAge * 1000)) {
    return { reason: "market_snapshot_stale", detail: `the snapshot's as_of ${market.as_of} is older than ${maxAge}s` };
  }
  return null;
}

/**
 * The constraint checks in their fixed order: protocol_allowlist, market_snapshot_fresh,
 * max_notional, max_slippage. A check runs only when its constraint is present.
 */
export function constraintChecks(input: ConstraintCheckInput): { checks: ReadonlyArray<Check>; notionalUsd: string | null } {
  const { constraints, intent } = input;
  const checks: Check[] = [];
  let notionalUsd: string | null = null;

  // The agent's claim (intent.protocol) and what the resource names must agree and both
  // be allowed: the policy decided on the resource, an executor may act on either.
  const allowlist = constraints.protocol_allowlist;
  if (allowlist !== undefined) {
    checks.push({
      name: "protocol_allowlist",
      run: () => {
        const named = resourceProtocol(input.resource);
        if (named === undefined) return { reason: "protocol_not_allowed", detail: "the resource names no protocol (<chain>/<protocol>)" };
        if (!allowlist.includes(named)) return { reason: "protocol_not_allowed", detail: "the resource's protocol is not in the permit's allowlist" };
        if (intent?.protocol === undefined) return { reason: "protocol_not_allowed", detail: "intent.protocol is missing" };
        if (intent.protocol !== named) return { reason: "protocol_not_allowed", detail: "the intent's protocol is not the protocol the resource names" };
        return null;
      },
    });
  }

  const maxNotional = constraints.max_notional_usd;
  if (maxNotional !== undefined) {
    checks.push({ name: "market_snapshot_fresh", run: () => snapshotFreshness(input.market, input.policy, input.now) });
    checks.push({
      name: "max_notional",
      run: () => {
        const notional = notionalOf(intent, input.market);
        if ("reason" in notional) return notional;
        notionalUsd = formatDecimal(notional.usd);
        // A max_notional_usd that is a valid finite JSON number always parses.
        const limit = decimalFromNumber(maxNotional) ?? { coefficient: 0n, scale: 0 };
        return compareDecimals(notional.usd, limit) <= 0
          ? null
          : { reason: "max_notional_exceeded", detail: `notional ${notionalUsd} USD exceeds ${maxNotional} USD` };
      },
    });
  }

  const maxSlippage = constraints.max_slippage_bps;
  if (maxSlippage !== undefined) {
    checks.push({
      name: "max_slippage",
      run: () =>
        intent?.slippage_bps !== undefined && intent.slippage_bps <= maxSlippage
          ? null
          : { reason: "max_slippage_exceeded", detail: intent?.slippage_bps === undefined ? "intent.slippage_bps is missing" : `the intent's slippage exceeds ${maxSlippage} bps` },
    });
  }

  return {
    checks,
    get notionalUsd() {
      return notionalUsd;
    },
  };
}
