/**
 * The console's view of decisions as they are recorded: one subscription to the store's
 * global order per instance (so it shows every instance's decisions), folded into a
 * cache of the latest decision summaries (bounded in entries and bytes), per-minute
 * denial counts, and a sliding publication that every open console stream reads.
 *
 * It starts following the store on its first use, from the beginning of the store (so
 * the chart and the cache fill with history first), and never blocks a decision: it only
 * reads. A stream that reads too slowly loses the oldest decisions it has not read, and
 * is told how many (each decision has an ordinal in the feed's order, so a reader sees the
 * gap). A failing subscription is logged and resumed from the last position read.
 */
import { Context, Effect, Layer, PubSub, Schedule, Stream, type Queue, type Scope } from "effect";
import { ACTION_DECIDED } from "../decisions/events.ts";
import { EventStore } from "../events/EventStore.ts";
import { DenialCounts, type DenialSeries } from "./DenialCounts.ts";
import { decisionSummary, matchesFilter, type DecisionFilter, type DecisionSummary } from "./decisionSummary.ts";

export interface FeedItem {
  /** 1, 2, 3... in the order the feed read decisions. */
  readonly ordinal: number;
  readonly summary: DecisionSummary;
}

export interface RecentDecisions {
  /** Oldest first. */
  readonly items: ReadonlyArray<FeedItem>;
  /** The feed's last ordinal when these were read: a stream opened before skips what it already sent. */
  readonly lastOrdinal: number;
}

export interface FeedOptions {
  /** Summaries kept for a new stream's backfill: at most this many... */
  readonly cacheEntries: number;
  /** ...and at most about this many bytes of JSON. */
  readonly cacheBytes: number;
  /** Decisions a stream may fall behind by before it loses the oldest. */
  readonly streamBacklog: number;
}

export const DEFAULT_FEED_OPTIONS: FeedOptions = { cacheEntries: 20_000, cacheBytes: 8 * 2 ** 20, streamBacklog: 8192 };

export interface DecisionFeedShape {
  /** The latest cached decisions matching `filter`, after store position `afterPosition` when given, at most `limit`. Starts the feed. */
  readonly recent: (filter: DecisionFilter, options: { readonly limit: number; readonly afterPosition?: number }) => Effect.Effect<RecentDecisions>;
  /** Every decision from now on, for as long as the scope lasts. Starts the feed. */
  readonly subscribe: Effect.Effect<Queue.Dequeue<FeedItem>, never, Scope.Scope>;
  /** Decisions and denials per minute, for one actor or all, over the last `minutes` up to `nowMs`. Starts the feed. */
  readonly denials: (actor: string | null, minutes: number, nowMs: number) => Effect.Effect<DenialSeries>;
}

export class DecisionFeed extends Context.Tag("zt/DecisionFeed")<DecisionFeed, DecisionFeedShape>() {
  static layer(options: FeedOptions = DEFAULT_FEED_OPTIONS): Layer.Layer<DecisionFeed, never, EventStore> {
    return Layer.scoped(DecisionFeed, makeDecisionFeed(options));
  }
}

/** The newest summaries, oldest evicted first once either bound is reached. */
class SummaryCache {
  readonly #items: Array<FeedItem & { readonly bytes: number }> = [];
  #head = 0;
  #bytes = 0;
  readonly #options: FeedOptions;

  constructor(options: FeedOptions) {
    this.#options = options;
  }

  push(item: FeedItem): void {
    const bytes = JSON.stringify(item.summary).length;
    this.#items.push({ ...item, bytes });
    this.#bytes += bytes;
    while (this.#items.length - this.#head > this.#options.cacheEntries || this.#bytes > this.#options.cacheBytes) {
      this.#bytes -= this.#items[this.#head]!.bytes;
      this.#head += 1;
    }
    // Compact now and then rather than shifting on every push.
    if (this.#head > 4096 && this.#head * 2 > this.#items.length) {
      this.#items.splice(0, this.#head);
      this.#head = 0;
    }
  }

  /** The newest `limit` items matching, oldest first. */
  latest(filter: DecisionFilter, limit: number, afterPosition: number): FeedItem[] {
    const found: FeedItem[] = [];
    for (let i = this.#items.length - 1; i >= this.#head && found.length < limit; i--) {
      const item = this.#items[i]!;
      if (item.summary.position <= afterPosition) break;
      if (matchesFilter(filter, item.summary)) found.push({ ordinal: item.ordinal, summary: item.summary });
    }
    return found.reverse();
  }
}

function makeDecisionFeed(options: FeedOptions) {
  return Effect.gen(function* () {
    const store = yield* EventStore;
    const scope = yield* Effect.scope;
    const published = yield* PubSub.sliding<FeedItem>(options.streamBacklog);
    const cache = new SummaryCache(options);
    const denials = new DenialCounts();
    let position = 0;
    let ordinal = 0;

    const ingest = (summary: DecisionSummary) => {
      ordinal += 1;
      const item = { ordinal, summary };
      cache.push(item);
      denials.add(Date.parse(summary.decided_at), summary.actor, summary.status === "denied" ? summary.reason : null);
      return PubSub.publish(published, item);
    };

    const follow = Effect.suspend(() =>
      store.subscribeAll({ after: position }).pipe(
        Stream.runForEach((event) => {
          position = event.position;
          if (event.type !== ACTION_DECIDED) return Effect.void;
          const summary = decisionSummary(event);
          return summary === undefined ? Effect.void : ingest(summary);
        }),
      ),
    ).pipe(
      Effect.tapError((error) => Effect.logWarning("the console's decision feed lost its store subscription; resuming").pipe(Effect.annotateLogs({ reason: error.reason, position }))),
      Effect.retry(Schedule.spaced("1 second")),
    );

    // Started once, by the first console request, and ended with the layer.
    const started = yield* Effect.cached(Effect.asVoid(Effect.forkIn(follow, scope)));

    return {
      recent: (filter, { limit, afterPosition = 0 }) => Effect.zipRight(started, Effect.sync(() => ({ items: cache.latest(filter, limit, afterPosition), lastOrdinal: ordinal }))),
      subscribe: Effect.zipRight(started, PubSub.subscribe(published)),
      denials: (actor, minutes, nowMs) => Effect.zipRight(started, Effect.sync(() => denials.series(actor, minutes, nowMs))),
    } satisfies DecisionFeedShape;
  });
}
