/**
 * EsdbEventStore: the EventStore port on EventStoreDB / KurrentDB over gRPC.
 *
 * Client: `@kurrent/kurrentdb-client`, not `@eventstore/db-client` (the name on the
 * design card). The latter is frozen at 6.2.1 (May 2024) since the product was renamed;
 * the former is the same codebase, maintained by Kurrent, with 2026 releases (1.3.1),
 * for servers from 20.x on and tested against the current LTS releases. It parses both
 * `esdb://` and `kurrentdb://`, which config.ts already accepts. Its cost: stream and
 * `$all` reads go through a native Rust addon (`@kurrent/bridge`, prebuilt for Linux
 * gnu/musl x64/arm64, macOS and Windows x64), so Deno needs `--allow-ffi` for this
 * adapter, and the addon loads when this module is imported (server.ts imports it lazily).
 *
 * How the port maps onto the server:
 * - Streams and revisions are the server's; expected states map one to one
 *   (`toStreamState`). Appends are atomic per stream and acknowledged once durable
 *   (fsynced; in a cluster, on a quorum).
 * - `position` is the event's commit position in `$all`: a byte offset in the transaction
 *   log, strictly increasing but not consecutive. (Events from legacy TCP explicit
 *   transactions share one commit position; this adapter never writes those.) The server
 *   reads `$all` only from record boundaries, so an `after` that is not a position this
 *   store returned (such as `position - 1`) is resolved by reading backwards to the
 *   nearest event at or before it (`startingPoint`). Stream reads carry positions on
 *   EventStoreDB 22.6 and later; earlier servers read as `corrupt`.
 * - `$all` holds more than this port's events: `readAll` and `subscribeAll` skip system
 *   events (`excludeSystemEvents()`, server-side), `$`-prefixed streams, and events that
 *   are not JSON objects (other clients' binary or non-object events). So `append` refuses
 *   `$` stream names and `$` event types: such events would never reach a projection.
 * - Event ids: the server stores UUIDs, so ids must be lowercase UUIDs (`invalid_event`
 *   otherwise). The server does not keep ids unique across streams, and it treats an
 *   append whose ids are already the stream's latest events as an idempotent replay:
 *   success, nothing written. This adapter detects such replays (the reported position is
 *   not beyond the end of `$all` read just before the append) and refuses them with
 *   `invalid_event` (SQLite refuses them too, with `wrong_expected_version` when the
 *   expected state fails first). It cannot detect an id reused in another stream: unlike
 *   SQLite, that append succeeds and the id is then in the store twice.
 * - `recordedAt` is the server's `created` timestamp, truncated to milliseconds.
 * - Error messages come from this adapter's vocabulary, never the client's: client
 *   messages can carry hosts, and connection strings carry credentials.
 * The pure mappings (expected states, positions, errors, decoding) are in esdbMapping.ts.
 */
import {
  BACKWARDS,
  END,
  FORWARDS,
  KurrentDBClient,
  START,
  excludeSystemEvents,
  jsonEvent,
  type AllStreamResolvedEvent,
  type Position,
  type ReadAllOptions,
  type ReadPosition,
} from "@kurrent/kurrentdb-client";
import { Effect, Layer, Option, type Scope, Stream } from "effect";
import { EventStore, EventStoreError, type EventStoreShape, type RecordedEvent } from "../EventStore.ts";
import { encodeEventBatch, type EncodedEvent } from "../encodeEventBatch.ts";
import {
  appendOutcome,
  clientConnectionString,
  decodeClientEvent,
  describeExpected,
  esdbBatchProblem,
  isBeyond,
  isStreamNotFound,
  readPositionFor,
  toStreamState,
  translateClientError,
  type Operation,
} from "./esdbMapping.ts";

export interface EsdbEventStoreOptions {
  /** `esdb://host:2113?tls=false` or `kurrentdb://…`; credentials, if any, in the userinfo. */
  readonly url: string;
}

export const READ_ALL_DEFAULT_LIMIT = 1000;
export const READ_ALL_MAX_LIMIT = 10000;
/** Events per backward page while resolving an `after` that is not a record boundary. */
const ANCHOR_PAGE_SIZE = 1000;
/** How long `ping` (readiness, and the layer's check on open) waits for the leader to answer. */
export const PING_TIMEOUT_MS = 5000;

const UTF8 = new TextEncoder();

function toEventData(event: EncodedEvent) {
  // Exactly the validated JSON: data re-parsed from its text (the client stringifies it
  // again, to the same text), metadata as the text's bytes (sent as they are).
  return jsonEvent({
    id: event.id,
    type: event.type,
    data: JSON.parse(event.data) as Record<string, unknown>,
    metadata: UTF8.encode(event.metadata),
  });
}

// --- options -----------------------------------------------------------------------------------

/** Read options out of range are caller bugs, not store failures: they die. */
function nonNegativeInteger(name: string, value: number | undefined, fallback: number): Effect.Effect<number> {
  if (value === undefined) return Effect.succeed(fallback);
  return Number.isSafeInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.dieMessage(`EsdbEventStore: ${name} must be a non-negative integer`);
}

function unpositioned(operation: Operation, stream: string): EventStoreError {
  return new EventStoreError({ reason: "corrupt", message: `EventStoreDB ${operation} returned an event without a $all position`, stream });
}

async function collect<A>(iterable: AsyncIterable<A>): Promise<Array<A>> {
  const items: Array<A> = [];
  for await (const item of iterable) items.push(item);
  return items;
}

// --- the store ----------------------------------------------------------------------------------

/** Creates the client, which connects on its first call; it is disposed when the scope closes. */
export const makeEsdbEventStore = (options: EsdbEventStoreOptions): Effect.Effect<EventStoreShape, EventStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const parsed = clientConnectionString(options.url);
    if ("problem" in parsed) {
      return yield* Effect.fail(new EventStoreError({ reason: "unavailable", message: `EventStoreDB open failed: the connection string is refused: ${parsed.problem}` }));
    }
    const client = yield* Effect.acquireRelease(
      Effect.try({
        try: () => KurrentDBClient.connectionString(parsed.connectionString),
        catch: (error) =>
          new EventStoreError({
            reason: "unavailable",
            message:
              error instanceof Error && error.name === "ParseError"
                ? "EventStoreDB open failed: the connection string does not parse"
                : "EventStoreDB open failed: the client could not be created",
          }),
      }),
      (client) => Effect.promise(() => client.dispose().catch(() => undefined)),
    );
    return esdbEventStoreOn(client);
  });

/** The client calls the store makes: the real client's, or a fake's in tests. */
export type EsdbClient = Pick<KurrentDBClient, "appendToStream" | "readStream" | "readAll" | "subscribeToAll">;

/** The port on an open client; the caller owns (and disposes) the client. */
export const esdbEventStoreOn = (client: EsdbClient): EventStoreShape => {
  const systemEventsExcluded = excludeSystemEvents();

  const readAllRaw = (
    operation: Operation,
    read: ReadAllOptions,
    stream?: string,
  ): Effect.Effect<ReadonlyArray<AllStreamResolvedEvent>, EventStoreError> =>
    Effect.tryPromise({ try: () => collect(client.readAll(read)), catch: (error) => translateClientError(operation, stream, error) });

  /** Commit position of the last event in `$all` (0 when empty), read from the leader. */
  const endOfAll = (operation: Operation, stream?: string): Effect.Effect<bigint, EventStoreError> =>
    Effect.map(
      readAllRaw(operation, { direction: BACKWARDS, fromPosition: END, maxCount: 1, requiresLeader: true }, stream),
      (page) => page[0]?.event?.position.commit ?? 0n,
    );

  /** The position of the last port event at or before `after`, found backwards from the end; the start when none. */
  const anchorAtOrBefore = (operation: Operation, after: bigint): Effect.Effect<ReadPosition, EventStoreError> =>
    Effect.gen(function* () {
      let from: ReadPosition = END;
      for (;;) {
        const pageFrom: ReadPosition = from;
        const page: ReadonlyArray<AllStreamResolvedEvent> = yield* readAllRaw(operation, {
          direction: BACKWARDS,
          fromPosition: from,
          maxCount: ANCHOR_PAGE_SIZE,
          filter: systemEventsExcluded,
        });
        for (const resolved of page) {
          const position = resolved.event?.position;
          if (position === undefined) continue;
          if (position.commit <= after) return position;
          from = position;
        }
        if (page.length < ANCHOR_PAGE_SIZE || from === pageFrom) return START;
      }
    });

  /**
   * Where a forward read for "after `after`" starts. A position this store returned is a
   * record boundary and is used as it is (the read includes it; callers drop it); any
   * other value makes the server refuse the read, and is replaced by the nearest event
   * at or before it.
   */
  const startingPoint = (operation: Operation, after: number): Effect.Effect<ReadPosition, EventStoreError> => {
    const exact = readPositionFor(after);
    if (exact === START) return Effect.succeed(exact);
    return readAllRaw(operation, { direction: FORWARDS, fromPosition: exact, maxCount: 1 }).pipe(
      Effect.as(exact),
      Effect.orElse(() => anchorAtOrBefore(operation, BigInt(after))),
    );
  };

  const append: EventStoreShape["append"] = (stream, events, expected) =>
    Effect.gen(function* () {
      const encoded = encodeEventBatch(stream, events);
      if (encoded instanceof EventStoreError) return yield* Effect.fail(encoded);
      const problem = esdbBatchProblem(stream, encoded);
      if (problem !== undefined) return yield* Effect.fail(new EventStoreError({ reason: "invalid_event", message: problem, stream }));
      const state = toStreamState(expected);
      if (state === undefined) {
        return yield* Effect.fail(
          new EventStoreError({ reason: "wrong_expected_version", message: `expected ${describeExpected(expected)}, which no stream can be at`, stream }),
        );
      }
      const endBefore = yield* endOfAll("append", stream);
      const result = yield* Effect.tryPromise({
        try: () => client.appendToStream(stream, encoded.map(toEventData), { streamState: state }),
        catch: (error) => translateClientError("append", stream, error),
      });
      const outcome = appendOutcome(stream, expected, result, endBefore);
      return outcome instanceof EventStoreError ? yield* Effect.fail(outcome) : outcome;
    });

  const readStream: EventStoreShape["readStream"] = (stream, options) =>
    Effect.gen(function* () {
      const fromRevision = yield* nonNegativeInteger("fromRevision", options?.fromRevision, 0);
      const limit = yield* nonNegativeInteger("limit", options?.limit, -1);
      if (limit === 0) return [];
      const read = yield* Effect.tryPromise({
        try: () =>
          collect(client.readStream(stream, { direction: FORWARDS, fromRevision: BigInt(fromRevision), ...(limit === -1 ? {} : { maxCount: limit }) })),
        catch: (error) => error,
      }).pipe(
        Effect.catchAll((error) =>
          isStreamNotFound(error) ? Effect.succeed([]) : Effect.fail(translateClientError("readStream", stream, error)),
        ),
      );
      const events: Array<RecordedEvent> = [];
      for (const resolved of read) {
        if (resolved.event === undefined) continue;
        const decoded = decodeClientEvent(resolved.event);
        if ("event" in decoded) events.push(decoded.event);
        else {
          const message = "foreign" in decoded ? `${decoded.foreign}: not an event this store wrote` : decoded.corrupt;
          return yield* Effect.fail(new EventStoreError({ reason: "corrupt", message, stream }));
        }
      }
      return events;
    });

  const readAll: EventStoreShape["readAll"] = (options) =>
    Effect.gen(function* () {
      const after = yield* nonNegativeInteger("after", options?.after, 0);
      const limit = Math.min(yield* nonNegativeInteger("limit", options?.limit, READ_ALL_DEFAULT_LIMIT), READ_ALL_MAX_LIMIT);
      if (limit === 0) return [];
      const afterCommit = BigInt(after);
      let from = yield* startingPoint("readAll", after);
      let cursor: Position | undefined;
      const events: Array<RecordedEvent> = [];
      for (;;) {
        // One more than needed: a read from a position includes the event there.
        const wanted = limit - events.length + 1;
        const pageFrom = cursor;
        const page = yield* readAllRaw("readAll", { direction: FORWARDS, fromPosition: from, maxCount: wanted, filter: systemEventsExcluded });
        for (const resolved of page) {
          const recorded = resolved.event;
          if (recorded === undefined) continue;
          const position: Position | undefined = recorded.position;
          if (position === undefined) return yield* Effect.fail(unpositioned("readAll", recorded.streamId));
          if (cursor !== undefined && !isBeyond(position, cursor)) continue;
          cursor = position;
          if (position.commit <= afterCommit) continue;
          const decoded = decodeClientEvent(recorded);
          if ("corrupt" in decoded) return yield* Effect.fail(new EventStoreError({ reason: "corrupt", message: decoded.corrupt, stream: recorded.streamId }));
          if ("foreign" in decoded) continue;
          events.push(decoded.event);
          if (events.length === limit) return events;
        }
        // The server fills a filtered page unless `$all` ends first.
        if (page.length < wanted || cursor === undefined || cursor === pageFrom) return events;
        from = cursor;
      }
    });

  const subscribeAll: EventStoreShape["subscribeAll"] = (options) =>
    Stream.unwrapScoped(
      Effect.gen(function* () {
        const after = yield* nonNegativeInteger("after", options?.after, 0);
        const from = yield* startingPoint("subscribeAll", after);
        const subscription = yield* Effect.acquireRelease(
          Effect.try({
            try: () => {
              const created = client.subscribeToAll({ fromPosition: from, filter: systemEventsExcluded });
              // The client emits errors without destroying the stream: an error emitted
              // before iteration starts would be lost and one after it ends would be
              // unhandled. Destroying with it makes the iterator see it at any time.
              created.on("error", (error) => {
                if (!created.destroyed) created.destroy(error);
              });
              return created;
            },
            catch: (error) => translateClientError("subscribeAll", undefined, error),
          }),
          (subscription) => Effect.promise(() => subscription.unsubscribe().catch(() => undefined)),
        );
        let delivered = BigInt(after);
        const ended = new EventStoreError({ reason: "unavailable", message: "EventStoreDB subscribeAll failed: the server ended the subscription" });
        return Stream.fromAsyncIterable(subscription, (error) => translateClientError("subscribeAll", undefined, error)).pipe(
          Stream.concat(Stream.fail(ended)),
          Stream.mapEffect((resolved): Effect.Effect<Option.Option<RecordedEvent>, EventStoreError> => {
            const recorded = resolved.event;
            if (recorded === undefined) return Effect.succeed(Option.none());
            const position: Position | undefined = recorded.position;
            if (position === undefined) return Effect.fail(unpositioned("subscribeAll", recorded.streamId));
            if (position.commit <= delivered) return Effect.succeed(Option.none());
            const decoded = decodeClientEvent(recorded);
            if ("corrupt" in decoded) return Effect.fail(new EventStoreError({ reason: "corrupt", message: decoded.corrupt, stream: recorded.streamId }));
            delivered = position.commit;
            return Effect.succeed("event" in decoded ? Option.some(decoded.event) : Option.none());
          }),
          Stream.filterMap((event) => event),
        );
      }),
    );

  const ping: EventStoreShape["ping"] = endOfAll("ping").pipe(
    Effect.asVoid,
    Effect.timeoutFail({
      duration: PING_TIMEOUT_MS,
      onTimeout: () => new EventStoreError({ reason: "unavailable", message: `EventStoreDB ping failed: no answer within ${PING_TIMEOUT_MS} ms` }),
    }),
  );

  return { append, readStream, readAll, subscribeAll, ping } satisfies EventStoreShape;
};

export const EsdbEventStore = {
  /**
   * The EventStore on the EventStoreDB / KurrentDB server at `options.url`, its client open
   * for the layer's lifetime. Building it pings the server, so an unreachable server fails
   * `unavailable` at startup, as an unopenable file does for SQLite; later calls reconnect.
   */
  layer: (options: EsdbEventStoreOptions): Layer.Layer<EventStore, EventStoreError> =>
    Layer.scoped(EventStore, Effect.tap(makeEsdbEventStore(options), (store) => store.ping)),
} as const;
