/**
 * Events of the market capability: replacing the trusted snapshot is an event in one
 * stream, and the current snapshot is the last one recorded.
 */
import { Schema } from "effect";
import { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";

export const MARKET_SNAPSHOT_STREAM = "market-snapshot";

/** `MarketSnapshotReplaced.v1`: the snapshot that became current, and who replaced it. */
export const MARKET_SNAPSHOT_REPLACED = "MarketSnapshotReplaced.v1";
export const MarketSnapshotReplaced = Schema.Struct({
  snapshot: MarketSnapshot,
  replaced_by: Schema.String,
});
