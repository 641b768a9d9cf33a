/**
 * EsdbEventStore: the EventStore port on EventStoreDB / KurrentDB over gRPC.
 *
 * Client: `@kurrent/kurrentdb-client`, not `@eventstore/db-client` (the name on the
 * design card). The latter is frozen at 6.2.1 (May 2024) since the product was renamed;
 * the former is the same codebase, maintained by Kurrent, with 2026 releases (1.3.1),
 * for servers from 20.x on and tested against the current LTS releases. It parses
 * `esdb://`, `kurrentdb://` and their `+discover` forms, single hosts and seed lists. Its
 * cost: stream and `$all` reads go through a native Rust addon (`@kurrent/bridge`,
 * prebuilt for Linux gnu/musl x64/arm64, macOS and Windows x64), so Deno needs
 * `--allow-ffi` for this adapter, and the addon loads when this module is imported
 * (server.ts imports it lazily).
 *
 * How the port maps onto the server:
 * - Streams live behind a prefix (`zt.` by default, see DEFAULT_STREAM_PREFIX): `$all`
 *   reads and subscriptions ask the server for that prefix only, so other applications'
 *   events in the same database are never read or chained. Revisions are the server's;
 *   expected states map one to one (`toStreamState`). Appends are atomic per stream and
 *   acknowledged once durable (fsynced; in a cluster, on a quorum).
 * - An append the server does not answer for sure (its 2 s write timeout, a write a
 *   follower forwarded and lost, a connection dropped in flight, no answer within
 *   `callTimeoutMs`) may still commit. It is sent again, with the same event ids and
 *   expected state, until the server answers: the server takes a repeat of events already
 *   at that place in the stream as an idempotent replay and answers with the original
 *   revision and position (IndexWriter.CheckCommit), and drops a repeat of a write it has
 *   not finished replicating, which then times out and is sent again. So `append` answers
 *   only with what the log holds. With `any` or `stream_exists` the server recognises a
 *   repeat only among recently written ids; a repeat after a long outage could then be
 *   written twice.
 * - Event ids are lowercase UUIDs (`invalid_event` otherwise). The server does not keep
 *   ids unique across streams: an id already used in another stream is accepted.
 * - `position` is the event's commit position in `$all`: a byte offset in the transaction
 *   log, strictly increasing but not consecutive. The server reads `$all` only from record
 *   boundaries, so an `after` that is not a position this store returned (such as
 *   `position - 1`) is resolved by reading backwards to the nearest event at or before it
 *   (`startingPoint`). Subscriptions start after their position, reads at it. Stream
 *   reads carry positions on EventStoreDB 22.6 and later; earlier servers read as `corrupt`.
 * - Stream reads and `ping` require the leader (`requiresLeader`): what they return feeds
 *   revision-checked appends and answers right after a write, so a lagging follower must
 *   not answer them. A node that is not the leader refuses with NotLeader and the client
 *   reconnects to the leader it names; the call is then made once more. So a single-host
 *   URL that points at a follower or a load balancer still reaches the leader.
 * - Every call has a deadline (`callTimeoutMs`): the client's reads through the Rust
 *   bridge have none and would wait ~20 s for keep-alive on a dead node.
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
  jsonEvent,
  streamNameFilter,
  type AllStreamResolvedEvent,
  type Position,
  type ReadAllOptions,
  type ReadPosition,
} from "@kurrent/kurrentdb-client";
import { Duration, Effect, Either, Layer, Option, type Scope, Stream } from "effect";
import { EventStore, EventStoreError, type AppendResult, type EventStoreShape, type RecordedEvent } from "../EventStore.ts";
import { encodeEventBatch, type EncodedEvent } from "../encodeEventBatch.ts";
import {
  DEFAULT_STREAM_PREFIX,
  appendOutcome,
  clientConnectionString,
  decodeClientEvent,
  describeExpected,
  esdbBatchProblem,
  isBeyond,
  isNotLeader,
  isStreamNotFound,
  readPositionFor,
  streamPrefixProblem,
  toStreamState,
  translateClientError,
  type Operation,
} from "./esdbMapping.ts";

export interface EsdbStoreTuning {
  /** Prefix of this store's streams on the server (ZT_STORE_STREAM_PREFIX). */
  readonly streamPrefix?: string;
  /** Longest wait for one call: a read page, a ping, one append attempt. */
  readonly callTimeoutMs?: number;
  /** Backoff between re-sends of an append whose outcome is unknown. */
  readonly settleRetry?: { readonly baseMs: number; readonly maxMs: number };
}

export interface EsdbEventStoreOptions extends EsdbStoreTuning {
  /** `esdb://host:2113?tls=false`, `kurrentdb+discover://…`, a seed list; credentials, if any, in the userinfo. */
  readonly url: string;
}

export const READ_ALL_DEFAULT_LIMIT = 1000;
export const READ_ALL_MAX_LIMIT = 10000;
/** Events per backward page while resolving an `after` that is not a record boundary. */
const ANCHOR_PAGE_SIZE = 1000;
/** The client's own default deadline (`defaultDeadline`), which the server also applies to a batch append. */
export const DEFAULT_CALL_TIMEOUT_MS = 10_000;
const DEFAULT_SETTLE_RETRY = { baseMs: 100, maxMs: 2000 };
/** How long closing the store waits for the client to cancel its open calls. */
const DISPOSE_TIMEOUT_MS = 5000;
/** The ordinary stream `ping` reads (it need not exist): a read any user with access to this store's streams may make. */
const READINESS_STREAM = "readiness-probe";

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
    const prefixProblem = streamPrefixProblem(options.streamPrefix ?? DEFAULT_STREAM_PREFIX);
    if (prefixProblem !== undefined) return yield* Effect.fail(new EventStoreError({ reason: "unavailable", message: `EventStoreDB open failed: ${prefixProblem}` }));
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
      // dispose() cancels the client's open gRPC streams and waits for each to finish;
      // bounded, so a stream that never finishes cannot hold up shutdown.
      (client) => Effect.promise(() => client.dispose().catch(() => undefined)).pipe(Effect.timeout(Duration.millis(DISPOSE_TIMEOUT_MS)), Effect.ignore),
    );
    return esdbEventStoreOn(client, options);
  });

/** The client calls the store makes: the real client's, or a fake's in tests. */
export type EsdbClient = Pick<KurrentDBClient, "appendToStream" | "readStream" | "readAll" | "subscribeToAll">;

/** The port on an open client; the caller owns (and disposes) the client. */
export const esdbEventStoreOn = (client: EsdbClient, tuning: EsdbStoreTuning = {}): EventStoreShape => {
  const prefix = tuning.streamPrefix ?? DEFAULT_STREAM_PREFIX;
  const callTimeoutMs = tuning.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  const settleRetry = tuning.settleRetry ?? DEFAULT_SETTLE_RETRY;
  const onServer = (stream: string) => `${prefix}${stream}`;
  const ownStreams = streamNameFilter({ prefixes: [prefix] });

  const noAnswer = (operation: Operation, stream: string | undefined) =>
    new EventStoreError({
      ...(stream === undefined ? {} : { stream }),
      ...(operation === "append"
        ? { reason: "unknown_outcome", message: `EventStoreDB append failed: no answer within ${callTimeoutMs} ms; it may still commit` }
        : { reason: "unavailable", message: `EventStoreDB ${operation} failed: no answer within ${callTimeoutMs} ms` }),
    });

  /**
   * One client call within the deadline, made once more when the node answered NotLeader
   * (the client has then switched to the leader). Errors stay the client's; `call` translates.
   */
  const raw = <A>(operation: Operation, stream: string | undefined, run: () => Promise<A>): Effect.Effect<A, unknown> => {
    const attempt = Effect.tryPromise({ try: run, catch: (error) => error }).pipe(
      Effect.timeoutFail({ duration: Duration.millis(callTimeoutMs), onTimeout: () => noAnswer(operation, stream) }),
    );
    return attempt.pipe(Effect.catchIf(isNotLeader, () => attempt));
  };

  const call = <A>(operation: Operation, stream: string | undefined, run: () => Promise<A>): Effect.Effect<A, EventStoreError> =>
    raw(operation, stream, run).pipe(Effect.mapError((error) => (error instanceof EventStoreError ? error : translateClientError(operation, stream, error))));

  const readAllRaw = (operation: Operation, read: ReadAllOptions): Effect.Effect<ReadonlyArray<AllStreamResolvedEvent>, EventStoreError> =>
    call(operation, undefined, () => collect(client.readAll({ ...read, filter: ownStreams })));

  /** The position of the last port event at or before `after`, found backwards from the end; the start when none. */
  const anchorAtOrBefore = (operation: Operation, after: bigint): Effect.Effect<ReadPosition, EventStoreError> =>
    Effect.gen(function* () {
      let from: ReadPosition = END;
      for (;;) {
        const pageFrom: ReadPosition = from;
        const page: ReadonlyArray<AllStreamResolvedEvent> = yield* readAllRaw(operation, { direction: BACKWARDS, fromPosition: from, maxCount: ANCHOR_PAGE_SIZE });
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
   * Where a read or subscription for "after `after`" starts. A position this store
   * returned is a record boundary and is used as it is (a read includes it, a
   * subscription starts after it; callers drop it either way); any other value makes the
   * server refuse the read, and is replaced by the nearest event at or before it.
   */
  const startingPoint = (operation: Operation, after: number): Effect.Effect<ReadPosition, EventStoreError> => {
    const exact = readPositionFor(after);
    if (exact === START) return Effect.succeed(exact);
    return readAllRaw(operation, { direction: FORWARDS, fromPosition: exact, maxCount: 1 }).pipe(
      Effect.as(exact),
      Effect.orElse(() => anchorAtOrBefore(operation, BigInt(after))),
    );
  };

  /**
   * Sends one append until the server settles it. A first attempt that fails for sure is
   * that failure; once an attempt's outcome is unknown, only a definite answer (success,
   * a refusal) ends the loop, since until then the first write may still commit.
   */
  const settledAppend = (stream: string, attempt: Effect.Effect<AppendOutcome, EventStoreError>): Effect.Effect<AppendOutcome, EventStoreError> =>
    Effect.gen(function* () {
      let outcome = yield* Effect.either(attempt);
      let delay = settleRetry.baseMs;
      for (let resend = 1; Either.isLeft(outcome) && outcome.left.reason === "unknown_outcome"; resend++) {
        yield* Effect.logWarning("EventStoreDB append outcome unknown; sending the same events again").pipe(Effect.annotateLogs({ resend, detail: outcome.left.message }));
        yield* Effect.sleep(Duration.millis(delay));
        delay = Math.min(settleRetry.maxMs, delay * 2);
        const next = yield* Effect.either(attempt);
        // A re-send that did not reach the server settles nothing: the first may still commit.
        if (Either.isRight(next) || next.left.reason !== "unavailable") outcome = next;
      }
      return yield* outcome;
    }).pipe(Effect.annotateLogs({ stream }));

  type AppendOutcome = { readonly revision: number; readonly position: number | undefined };

  const append: EventStoreShape["append"] = (stream, events, expected) =>
    Effect.gen(function* () {
      const encoded = encodeEventBatch(stream, events);
      if (encoded instanceof EventStoreError) return yield* Effect.fail(encoded);
      const problem = esdbBatchProblem(encoded);
      if (problem !== undefined) return yield* Effect.fail(new EventStoreError({ reason: "invalid_event", message: problem, stream }));
      const state = toStreamState(expected);
      if (state === undefined) {
        return yield* Effect.fail(
          new EventStoreError({ reason: "wrong_expected_version", message: `expected ${describeExpected(expected)}, which no stream can be at`, stream }),
        );
      }
      // The same proposed events (same ids) on every attempt: that is what lets the server
      // recognise a repeat.
      const proposed = encoded.map(toEventData);
      const attempt = call("append", stream, () => client.appendToStream(onServer(stream), proposed, { streamState: state })).pipe(
        Effect.flatMap((result) => {
          const outcome = appendOutcome(stream, expected, result);
          return outcome instanceof EventStoreError ? Effect.fail(outcome) : Effect.succeed(outcome);
        }),
      );
      const { revision, position } = yield* settledAppend(stream, attempt);
      if (position !== undefined) return { revision, position } satisfies AppendResult;
      // A replay whose original position the server did not report: read it from the stream.
      const [last] = yield* readStream(stream, { fromRevision: revision, limit: 1 });
      if (last === undefined) return yield* Effect.fail(new EventStoreError({ reason: "corrupt", message: "EventStoreDB append succeeded but its last event cannot be read", stream }));
      return { revision, position: last.position } satisfies AppendResult;
    });

  // One stream after the other, stopping at the first refusal (the port's documented
  // difference from SQLite): KurrentDB's multi-stream append (25.1) is not used until it
  // can be tested against a server here.
  const appendMany: EventStoreShape["appendMany"] = (appends) =>
    appends.length === 0
      ? Effect.fail(new EventStoreError({ reason: "invalid_event", message: "an append names no stream" }))
      : Effect.forEach(appends, ({ stream, events, expected }) => append(stream, events, expected));

  const readStream: EventStoreShape["readStream"] = (stream, options) =>
    Effect.gen(function* () {
      const fromRevision = yield* nonNegativeInteger("fromRevision", options?.fromRevision, 0);
      const limit = yield* nonNegativeInteger("limit", options?.limit, -1);
      if (limit === 0) return [];
      const read = yield* raw("readStream", stream, () =>
        collect(
          client.readStream(onServer(stream), {
            direction: FORWARDS,
            fromRevision: BigInt(fromRevision),
            requiresLeader: true,
            ...(limit === -1 ? {} : { maxCount: limit }),
          }),
        ),
      ).pipe(
        Effect.catchAll((error) =>
          error instanceof EventStoreError
            ? Effect.fail(error)
            : isStreamNotFound(error)
              ? Effect.succeed([])
              : Effect.fail(translateClientError("readStream", stream, error)),
        ),
      );
      const events: Array<RecordedEvent> = [];
      for (const resolved of read) {
        if (resolved.event === undefined) continue;
        const decoded = decodeClientEvent(resolved.event, prefix);
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
        const page = yield* readAllRaw("readAll", { direction: FORWARDS, fromPosition: from, maxCount: wanted });
        for (const resolved of page) {
          const recorded = resolved.event;
          if (recorded === undefined) continue;
          const position: Position | undefined = recorded.position;
          if (position === undefined) return yield* Effect.fail(unpositioned("readAll", recorded.streamId));
          if (cursor !== undefined && !isBeyond(position, cursor)) continue;
          cursor = position;
          if (position.commit <= afterCommit) continue;
          const decoded = decodeClientEvent(recorded, prefix);
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
              const created = client.subscribeToAll({ fromPosition: from, filter: ownStreams });
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
            const decoded = decodeClientEvent(recorded, prefix);
            if ("corrupt" in decoded) return Effect.fail(new EventStoreError({ reason: "corrupt", message: decoded.corrupt, stream: recorded.streamId }));
            delivered = position.commit;
            return Effect.succeed("event" in decoded ? Option.some(decoded.event) : Option.none());
          }),
          Stream.filterMap((event) => event),
        );
      }),
    );

  // A leader-required read of an ordinary stream of this store (absent is fine): the
  // leader answers, and this user may read this store's streams. `$all` is not read: a
  // user without rights on it must still be able to append.
  const ping: EventStoreShape["ping"] = raw("ping", undefined, () => collect(client.readStream(onServer(READINESS_STREAM), { maxCount: 1, requiresLeader: true }))).pipe(
    Effect.asVoid,
    Effect.catchAll((error) =>
      error instanceof EventStoreError ? Effect.fail(error) : isStreamNotFound(error) ? Effect.void : Effect.fail(translateClientError("ping", undefined, error)),
    ),
  );

  return { append, appendMany, readStream, readAll, subscribeAll, ping } satisfies EventStoreShape;
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
