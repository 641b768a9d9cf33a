/**
 * The trusted market snapshot (`PUT /market/snapshot`): prices in USD per asset as of a
 * time. `notional_usd` is computed from it by the control plane, never taken from the agent.
 */
import { Schema } from "effect";
import { Identifier, Rfc3339Utc } from "../kernel/schemas.ts";

export const MarketSnapshot = Schema.Struct({
  as_of: Rfc3339Utc,
  prices: Schema.Record({
    key: Identifier,
    value: Schema.Number.pipe(Schema.finite(), Schema.positive()),
  }).pipe(Schema.filter((prices) => Object.keys(prices).length <= 10_000 || "at most 10000 assets")),
});
export type MarketSnapshot = typeof MarketSnapshot.Type;
