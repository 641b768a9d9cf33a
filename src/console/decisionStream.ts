/**
 * The live decision stream of `GET /console/api/decisions/stream`, as server-sent events
 * (the WHATWG HTML "Server-sent events" format): first the cached decisions that match
 * (`backfill`), then every new one, sent in batches at most every BATCH_MS so that a
 * thousand decisions a second cost a browser ten messages, not a thousand.
 *
 *   event: decisions   data: [summary, ...]   id: the last summary's store position
 *   event: gap         data: {"skipped": n}   decisions this stream lost (it read too slowly)
 *   : ping                                    every PING_MS without decisions, for proxies
 *
 * The viewer's filter is applied here, on the server; an agent's filter always names
 * itself (the route sees to that).
 */
import { Chunk, Duration, Effect, Option, Queue, type Scope } from "effect";
import { DecisionFeed, type FeedItem } from "./DecisionFeed.ts";
import { matchesFilter, type DecisionFilter } from "./decisionSummary.ts";

export const BATCH_MS = 100;
export const PING_MS = 15_000;
const MAX_BATCH = 2000;

/** Writes one SSE message; false when the client's buffer is full (the message was not sent). */
export type SendEvent = (text: string) => boolean;

export function sseMessage(event: string, data: unknown, id?: number): string {
  return `event: ${event}\n${id === undefined ? "" : `id: ${id}\n`}data: ${JSON.stringify(data)}\n\n`;
}

export function streamDecisions(
  filter: DecisionFilter,
  options: { readonly backfill: number; readonly afterPosition?: number },
  send: SendEvent,
): Effect.Effect<never, never, DecisionFeed | Scope.Scope> {
  return Effect.gen(function* () {
    const feed = yield* DecisionFeed;
    // Subscribed before the backfill is read: nothing falls between the two.
    const queue = yield* feed.subscribe;
    const recent = yield* feed.recent(filter, { limit: options.backfill, ...(options.afterPosition === undefined ? {} : { afterPosition: options.afterPosition }) });
    let lastOrdinal = recent.lastOrdinal;
    let skipped = 0;
    const flush = (items: ReadonlyArray<FeedItem>) => {
      if (skipped > 0 && send(sseMessage("gap", { skipped }))) skipped = 0;
      if (items.length === 0) return;
      if (!send(sseMessage("decisions", items.map((item) => item.summary), items.at(-1)!.summary.position))) skipped += items.length;
    };
    send(`retry: 2000\n\n`);
    flush(recent.items);
    for (;;) {
      const first = yield* Queue.take(queue).pipe(Effect.timeoutOption(Duration.millis(PING_MS)));
      if (Option.isNone(first)) {
        send(": ping\n\n");
        continue;
      }
      yield* Effect.sleep(Duration.millis(BATCH_MS));
      const rest = Chunk.toReadonlyArray(yield* Queue.takeUpTo(queue, MAX_BATCH));
      const batch: FeedItem[] = [];
      for (const item of [first.value, ...rest]) {
        if (item.ordinal <= lastOrdinal) continue;
        // The sliding publication dropped what this stream did not read in time.
        skipped += item.ordinal - lastOrdinal - 1;
        lastOrdinal = item.ordinal;
        if (matchesFilter(filter, item.summary)) batch.push(item);
      }
      flush(batch);
    }
  });
}
