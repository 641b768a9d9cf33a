/**
 * The trusted market snapshot as a service. Replacing it appends
 * `MarketSnapshotReplaced.v1` to the `market-snapshot` stream; the current snapshot is
 * always the last one recorded. Reading it catches up with the stream from the last
 * revision seen (an indexed read of nothing, usually), so instances sharing one store
 * agree on it, and a store that cannot be read fails the decision closed.
 */
import { Context, Effect, Layer, Option, Schema } from "effect";
import { EventStore, type EventStoreError, type JsonObject } from "../events/EventStore.ts";
import { Ids } from "../platform/Ids.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { MARKET_SNAPSHOT_REPLACED, MARKET_SNAPSHOT_STREAM, MarketSnapshotReplaced } from "./events.ts";

export interface MarketSnapshotsShape {
  /** The last recorded snapshot, or undefined when none was recorded (or the last does not decode). */
  readonly current: Effect.Effect<MarketSnapshot | undefined, EventStoreError>;
  /** Records the snapshot durably; it is current from then on. */
  readonly replace: (snapshot: MarketSnapshot, replacedBy: string) => Effect.Effect<{ readonly position: number }, EventStoreError>;
}

const PAGE = 1000;

export class MarketSnapshots extends Context.Tag("zt/MarketSnapshots")<MarketSnapshots, MarketSnapshotsShape>() {
  static readonly layer: Layer.Layer<MarketSnapshots, EventStoreError, EventStore | Ids> = Layer.effect(
    MarketSnapshots,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      let latest: MarketSnapshot | undefined;
      let nextRevision = 0;

      const current = Effect.gen(function* () {
        for (;;) {
          const page = yield* store.readStream(MARKET_SNAPSHOT_STREAM, { fromRevision: nextRevision, limit: PAGE });
          const last = page.at(-1);
          if (last === undefined) return latest;
          nextRevision = last.revision + 1;
          // A recorded snapshot that no longer decodes is not trusted: nothing is current.
          latest = Option.getOrUndefined(Schema.decodeUnknownOption(MarketSnapshotReplaced)(last.data).pipe(Option.map((event) => event.snapshot)));
          if (page.length < PAGE) return latest;
        }
      });

      yield* current;
      return {
        current,
        replace: (snapshot, replacedBy) =>
          Effect.gen(function* () {
            const id = yield* ids.uuid;
            const data = Schema.encodeSync(MarketSnapshotReplaced)({ snapshot, replaced_by: replacedBy }) as unknown as JsonObject;
            const appended = yield* store.append(MARKET_SNAPSHOT_STREAM, [{ id, type: MARKET_SNAPSHOT_REPLACED, data }], "any");
            return { position: appended.position };
          }),
      };
    }),
  );
}
