/**
 * The trusted market snapshot as a service. Replacing it appends
 * `MarketSnapshotReplaced.v1` to the `market-snapshot` stream and only then makes it
 * current; at startup the current snapshot is the last one recorded.
 */
import { Context, Effect, Layer, Option, Ref, Schema } from "effect";
import { EventStore, type EventStoreError, type JsonObject } from "../events/EventStore.ts";
import { Ids } from "../platform/Ids.ts";
import { MARKET_SNAPSHOT_REPLACED, MARKET_SNAPSHOT_STREAM, MarketSnapshotReplaced, type MarketSnapshot } from "./MarketSnapshot.ts";

export interface MarketSnapshotsShape {
  readonly current: Effect.Effect<MarketSnapshot | undefined>;
  /** Records the snapshot durably, then makes it current. */
  readonly replace: (snapshot: MarketSnapshot, replacedBy: string) => Effect.Effect<{ readonly position: number }, EventStoreError>;
}

const PAGE = 1000;

export class MarketSnapshots extends Context.Tag("zt/MarketSnapshots")<MarketSnapshots, MarketSnapshotsShape>() {
  static readonly layer: Layer.Layer<MarketSnapshots, EventStoreError, EventStore | Ids> = Layer.effect(
    MarketSnapshots,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      let last: MarketSnapshot | undefined;
      for (let from = 0; ; from += PAGE) {
        const page = yield* store.readStream(MARKET_SNAPSHOT_STREAM, { fromRevision: from, limit: PAGE });
        const latest = page.at(-1);
        if (latest) {
          const decoded = Schema.decodeUnknownOption(MarketSnapshotReplaced)(latest.data).pipe(Option.map((event) => event.snapshot));
          // A recorded snapshot that no longer decodes is not trusted: nothing is current.
          last = Option.getOrUndefined(decoded);
        }
        if (page.length < PAGE) break;
      }
      const current = yield* Ref.make(last);
      // Serialises replacements so the current snapshot is always the last one recorded.
      const writer = yield* Effect.makeSemaphore(1);
      return {
        current: Ref.get(current),
        replace: (snapshot, replacedBy) =>
          writer.withPermits(1)(Effect.gen(function* () {
            const id = yield* ids.uuid;
            const data = Schema.encodeSync(MarketSnapshotReplaced)({ snapshot, replaced_by: replacedBy }) as unknown as JsonObject;
            const appended = yield* store.append(MARKET_SNAPSHOT_STREAM, [{ id, type: MARKET_SNAPSHOT_REPLACED, data }], "any");
            yield* Ref.set(current, snapshot);
            return { position: appended.position };
          })),
      };
    }),
  );
}
