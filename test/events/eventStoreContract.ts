/**
 * The EventStore contract: the cases every adapter runs, so each behaves as the port says.
 *
 * Each case uses its own random stream names and event ids and never assumes the store is
 * empty: a shared server (EventStoreDB, whose `$all` holds other events) runs it too, so
 * global reads and subscriptions are filtered to the case's own streams.
 *
 * The port leaves one thing to the adapter, what a store does with an event id it already
 * holds (see `NewEvent.id`); the cases about it take the adapter's `eventIds`.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { describe, it } from "node:test";
import { Deferred, Effect, Either, Fiber, type Layer, Stream } from "effect";
import {
  EventStore,
  type EventStoreError,
  type EventStoreErrorReason,
  type JsonObject,
  type NewEvent,
  type RecordedEvent,
} from "../../src/events/EventStore.ts";

export type EventStoreLayer = Layer.Layer<EventStore, EventStoreError>;

export interface StoreSemantics {
  /**
   * `unique`: an id already in the store is refused anywhere (SQLite).
   * `per_stream`: a repeat of a stream's own events at the same place is an idempotent
   * replay answered with the original result, and an id used in another stream is
   * accepted (EventStoreDB); a batch holding one id twice is refused by both.
   */
  readonly eventIds: "unique" | "per_stream";
  /**
   * `atomic`: `appendMany` commits all its streams or none (SQLite). `in_order`: it appends
   * them one after the other and stops at the first refusal, the earlier ones staying
   * (EventStoreDB).
   */
  readonly appendMany: "atomic" | "in_order";
}

const CASE_TIMEOUT_MS = 30_000;
const SUBSCRIPTION_TIMEOUT = "5 seconds";
const RFC3339_UTC_MILLIS = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

const streamName = (label: string): string => `contract-${label}-${randomUUID()}`;

const newEvent = (data: JsonObject = { n: 1 }, metadata?: JsonObject): NewEvent => ({
  id: randomUUID(),
  type: "ContractTested.v1",
  data,
  ...(metadata === undefined ? {} : { metadata }),
});

const newEvents = (count: number): Array<NewEvent> => Array.from({ length: count }, (_, n) => newEvent({ n }));

/** Runs the effect's failure as the result; a success is a test failure. */
const failureOf = <A, R>(effect: Effect.Effect<A, EventStoreError, R>): Effect.Effect<EventStoreError, never, R> =>
  Effect.flatMap(Effect.either(effect), (result) =>
    Either.isLeft(result) ? Effect.succeed(result.left) : Effect.dieMessage("expected the effect to fail, but it succeeded"),
  );

const assertFailure = (error: EventStoreError, reason: EventStoreErrorReason, stream?: string): void => {
  assert.equal(error._tag, "EventStoreError");
  assert.equal(error.reason, reason, `expected reason ${reason}, got ${error.reason}: ${error.message}`);
  assert.equal(error.isRetryable, reason === "unavailable");
  assert.ok(error.message.length > 0);
  if (stream !== undefined) assert.equal(error.stream, stream);
};

const assertStrictlyIncreasing = (positions: ReadonlyArray<number>): void => {
  for (let i = 1; i < positions.length; i++) {
    assert.ok((positions[i] ?? 0) > (positions[i - 1] ?? 0), `positions not strictly increasing: ${positions.join(", ")}`);
  }
};

const ids = (events: ReadonlyArray<RecordedEvent | NewEvent>): Array<string> => events.map((event) => event.id);

export function eventStoreContract(
  name: string,
  makeLayer: () => EventStoreLayer | Promise<EventStoreLayer>,
  semantics: StoreSemantics = { eventIds: "unique", appendMany: "atomic" },
): void {
  const uniqueIds = semantics.eventIds === "unique";
  /** Runs one case against a freshly built layer, released when the case ends. */
  const run = async <A, E>(program: Effect.Effect<A, E, EventStore>): Promise<A> => {
    const layer = await makeLayer();
    return Effect.runPromise(Effect.provide(program, layer));
  };

  const test = (title: string, body: () => Promise<void>): void => {
    it(title, { timeout: CASE_TIMEOUT_MS }, body);
  };

  describe(`EventStore contract: ${name}`, () => {
    describe("append and readStream", () => {
      test("returns the events with revisions 0..n-1, increasing positions and the appended content", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("append");
            const batch = [newEvent({ n: 0, nested: { list: [1, "two", null, true] } }, { causation: "c-1" }), newEvent({ n: 1 }), newEvent({ n: 2 })];
            const result = yield* store.append(stream, batch, "no_stream");
            const read = yield* store.readStream(stream);

            assert.deepEqual(ids(read), ids(batch));
            assert.deepEqual(read.map((event) => event.revision), [0, 1, 2]);
            assertStrictlyIncreasing(read.map((event) => event.position));
            assert.ok((read[0]?.position ?? 0) >= 1);
            assert.deepEqual(result, { revision: 2, position: read[2]?.position });
            for (const [index, event] of read.entries()) {
              assert.equal(event.stream, stream);
              assert.equal(event.type, "ContractTested.v1");
              assert.deepEqual(event.data, batch[index]?.data);
              assert.match(event.recordedAt, RFC3339_UTC_MILLIS);
            }
            assert.deepEqual(read[0]?.metadata, { causation: "c-1" });
            assert.deepEqual(read[1]?.metadata, {});

            const more = [newEvent(), newEvent()];
            const next = yield* store.append(stream, more, { revision: 2 });
            const all = yield* store.readStream(stream);
            assert.equal(next.revision, 4);
            assert.deepEqual(ids(all), [...ids(batch), ...ids(more)]);
            assert.deepEqual(all.map((event) => event.revision), [0, 1, 2, 3, 4]);
            assertStrictlyIncreasing(all.map((event) => event.position));
            assert.equal(next.position, all[4]?.position);
          }),
        ));

      test("appendMany appends to each stream in order and answers each result", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const first = streamName("many-a");
            const second = streamName("many-b");
            yield* store.append(second, [newEvent()], "no_stream");
            const [a, b] = [newEvents(2), newEvents(1)];
            const results = yield* store.appendMany([
              { stream: first, events: a, expected: "no_stream" },
              { stream: second, events: b, expected: { revision: 0 } },
            ]);
            const readA = yield* store.readStream(first);
            const readB = yield* store.readStream(second);
            assert.deepEqual(ids(readA), ids(a));
            assert.deepEqual(ids(readB).slice(1), ids(b));
            assert.deepEqual(results, [
              { revision: 1, position: readA[1]?.position },
              { revision: 1, position: readB[1]?.position },
            ]);
            assert.ok((readB[1]?.position ?? 0) > (readA[1]?.position ?? 0), "the second stream's events come after the first's");
          }),
        ));

      test(`appendMany refused at one stream names it, and ${semantics.appendMany === "atomic" ? "writes none of the streams" : "keeps the streams before it"}`, () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const [first, taken, last] = [streamName("many-ok"), streamName("many-taken"), streamName("many-after")];
            yield* store.append(taken, [newEvent()], "no_stream");
            const error = yield* failureOf(
              store.appendMany([
                { stream: first, events: [newEvent()], expected: "no_stream" },
                { stream: taken, events: [newEvent()], expected: "no_stream" },
                { stream: last, events: [newEvent()], expected: "no_stream" },
              ]),
            );
            assertFailure(error, "wrong_expected_version", taken);
            assert.equal((yield* store.readStream(first)).length, semantics.appendMany === "atomic" ? 0 : 1);
            assert.equal((yield* store.readStream(taken)).length, 1);
            assert.deepEqual(yield* store.readStream(last), [], "nothing after the refused stream is appended");
          }),
        ));

      test("appendMany with no stream is refused as invalid_event", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            assertFailure(yield* failureOf(store.appendMany([])), "invalid_event");
          }),
        ));

      test("reads a missing stream as empty", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            assert.deepEqual(yield* store.readStream(streamName("missing")), []);
            assert.deepEqual(yield* store.readStream(streamName("missing"), { fromRevision: 3, limit: 2 }), []);
          }),
        ));

      test("reads from fromRevision, at most limit events", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("from");
            const batch = newEvents(5);
            yield* store.append(stream, batch, "no_stream");

            const fromTwo = yield* store.readStream(stream, { fromRevision: 2 });
            assert.deepEqual(fromTwo.map((event) => event.revision), [2, 3, 4]);
            assert.deepEqual(ids(fromTwo), ids(batch.slice(2)));
            const limited = yield* store.readStream(stream, { fromRevision: 2, limit: 2 });
            assert.deepEqual(limited.map((event) => event.revision), [2, 3]);
            const fromStart = yield* store.readStream(stream, { limit: 1 });
            assert.deepEqual(fromStart.map((event) => event.revision), [0]);
            assert.deepEqual(yield* store.readStream(stream, { fromRevision: 5 }), []);
            assert.deepEqual(yield* store.readStream(stream, { fromRevision: 99 }), []);
          }),
        ));
    });

    describe("expected state", () => {
      test("no_stream accepts a missing stream and refuses an existing one", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("no-stream");
            const first = yield* store.append(stream, [newEvent()], "no_stream");
            assert.equal(first.revision, 0);
            const error = yield* failureOf(store.append(stream, [newEvent()], "no_stream"));
            assertFailure(error, "wrong_expected_version", stream);
          }),
        ));

      test("stream_exists refuses a missing stream and accepts an existing one", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("exists");
            const error = yield* failureOf(store.append(stream, [newEvent()], "stream_exists"));
            assertFailure(error, "wrong_expected_version", stream);
            assert.deepEqual(yield* store.readStream(stream), []);

            yield* store.append(stream, [newEvent()], "no_stream");
            const second = yield* store.append(stream, [newEvent(), newEvent()], "stream_exists");
            assert.equal(second.revision, 2);
          }),
        ));

      test("{ revision } accepts only the exact last revision", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("revision");
            const onMissing = yield* failureOf(store.append(stream, [newEvent()], { revision: 0 }));
            assertFailure(onMissing, "wrong_expected_version", stream);

            yield* store.append(stream, newEvents(2), "no_stream");
            for (const revision of [0, 2, 3]) {
              const error = yield* failureOf(store.append(stream, [newEvent()], { revision }));
              assertFailure(error, "wrong_expected_version", stream);
            }
            const accepted = yield* store.append(stream, [newEvent()], { revision: 1 });
            assert.equal(accepted.revision, 2);
            const stale = yield* failureOf(store.append(stream, [newEvent()], { revision: 1 }));
            assertFailure(stale, "wrong_expected_version", stream);
            assert.equal((yield* store.readStream(stream)).length, 3);
          }),
        ));

      test("any accepts a missing and an existing stream", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("any");
            assert.equal((yield* store.append(stream, [newEvent()], "any")).revision, 0);
            assert.equal((yield* store.append(stream, newEvents(2), "any")).revision, 2);
            assert.deepEqual((yield* store.readStream(stream)).map((event) => event.revision), [0, 1, 2]);
          }),
        ));

      test("a refused append writes nothing and consumes no event id", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("refused");
            const first = yield* store.append(stream, [newEvent()], "no_stream");
            const refused = newEvents(2);
            assertFailure(yield* failureOf(store.append(stream, refused, "no_stream")), "wrong_expected_version", stream);
            assertFailure(yield* failureOf(store.append(stream, refused, { revision: 5 })), "wrong_expected_version", stream);

            assert.equal((yield* store.readStream(stream)).length, 1);
            const after = yield* store.readAll({ after: first.position, limit: 10_000 });
            assert.deepEqual(after.filter((event) => event.stream === stream), []);
            // The refused ids were not recorded, so they can still be appended.
            const retried = yield* store.append(stream, refused, { revision: 0 });
            assert.equal(retried.revision, 2);
          }),
        ));

      test("50 concurrent no_stream appends to one stream: exactly one succeeds", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("race");
            const attempts = Array.from({ length: 50 }, () => Effect.either(store.append(stream, [newEvent()], "no_stream")));
            const results = yield* Effect.all(attempts, { concurrency: "unbounded" });
            const wins = results.filter(Either.isRight);
            const losses = results.filter(Either.isLeft);
            assert.equal(wins.length, 1);
            assert.equal(losses.length, 49);
            for (const loss of losses) assertFailure(loss.left, "wrong_expected_version", stream);
            assert.equal((yield* store.readStream(stream)).length, 1);
          }),
        ));
    });

    describe("concurrent appends", () => {
      test("concurrent appends to many streams each stand or fall alone, in one global order", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const taken = newEvent();
            const existing = streamName("existing");
            yield* store.append(existing, [taken], "no_stream");
            const good = Array.from({ length: 30 }, () => ({ stream: streamName("group"), events: newEvents(2) }));
            const twice = newEvent();
            const attempts = [
              ...good.map(({ stream, events }) => store.append(stream, events, "no_stream")),
              store.append(existing, [newEvent()], "no_stream"), // wrong expected state
              store.append(streamName("group-dup"), uniqueIds ? [newEvent(), taken] : [twice, newEvent(), twice], "any"), // duplicate id
            ].map(Effect.either);
            const results = yield* Effect.all(attempts, { concurrency: "unbounded" });
            const positions = results.slice(0, good.length).map((answer) => {
              if (Either.isLeft(answer)) assert.fail(`a valid append was refused: ${answer.left.message}`);
              return answer.right.position;
            });
            const [wrongState, duplicate] = results.slice(good.length).map((answer) => (Either.isLeft(answer) ? answer.left : assert.fail("an invalid append stood")));
            assertFailure(wrongState!, "wrong_expected_version", existing);
            assert.equal(duplicate!.reason, "invalid_event");
            assert.equal(new Set(positions).size, positions.length, "each append has its own position");
            for (const [i, { stream, events }] of good.entries()) {
              const stored = yield* store.readStream(stream);
              assert.deepEqual(ids(stored), ids(events));
              assert.equal(stored.at(-1)!.position, positions[i]);
            }
            assert.equal((yield* store.readStream(existing)).length, 1);
          }),
        ));
    });

    describe("atomicity and validation", () => {
      test("a multi-event append is atomic: a duplicate id in the last event leaves the stream untouched", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("atomic");
            const elsewhere = newEvent();
            yield* store.append(streamName("atomic-other"), [elsewhere], "no_stream");
            const first = newEvent();
            const batch = [first, newEvent(), { ...newEvent(), id: uniqueIds ? elsewhere.id : first.id }];

            assertFailure(yield* failureOf(store.append(stream, batch, "any")), "invalid_event", stream);
            assert.deepEqual(yield* store.readStream(stream), []);
            // The first two ids were rolled back with the rest.
            const retried = yield* store.append(stream, batch.slice(0, 2), "no_stream");
            assert.equal(retried.revision, 1);
          }),
        ));

      if (uniqueIds) {
        test("refuses a duplicate event id: same stream, another stream, and within one batch", () =>
          run(
            Effect.gen(function* () {
              const store = yield* EventStore;
              const stream = streamName("dup");
              const event = newEvent();
              yield* store.append(stream, [event], "no_stream");

              assertFailure(yield* failureOf(store.append(stream, [event], "any")), "invalid_event", stream);
              const other = streamName("dup-other");
              assertFailure(yield* failureOf(store.append(other, [event], "any")), "invalid_event", other);
              const twice = newEvent();
              assertFailure(yield* failureOf(store.append(other, [twice, twice], "no_stream")), "invalid_event", other);

              assert.equal((yield* store.readStream(stream)).length, 1);
              assert.deepEqual(yield* store.readStream(other), []);
            }),
          ));
      } else {
        test("a repeat of a stream's events at the same place is answered with the original result and writes nothing; an id from another stream is accepted; one id twice in a batch is refused", () =>
          run(
            Effect.gen(function* () {
              const store = yield* EventStore;
              const stream = streamName("replay");
              const event = newEvent();
              const original = yield* store.append(stream, [event, newEvent()], "no_stream");
              const second = (yield* store.readStream(stream))[1];
              assert.ok(second !== undefined);

              // The same append again: no_stream, the same ids at revisions 0 and 1.
              const pair = (yield* store.readStream(stream)).map(({ id, type, data }) => ({ id, type, data }));
              assert.deepEqual(yield* store.append(stream, pair, "no_stream"), original);
              // A repeat of the first event alone, placed by its revision.
              assert.deepEqual(yield* store.append(stream, [pair[0]!], "no_stream"), { revision: 0, position: (yield* store.readStream(stream))[0]!.position });
              const more = newEvent();
              yield* store.append(stream, [more], { revision: 1 });
              assert.deepEqual(yield* store.append(stream, [more], { revision: 1 }), { revision: 2, position: (yield* store.readStream(stream))[2]!.position });
              assert.deepEqual(ids(yield* store.readStream(stream)), [event.id, second.id, more.id]);

              const other = streamName("replay-other");
              assert.equal((yield* store.append(other, [event], "no_stream")).revision, 0);
              const twice = newEvent();
              assertFailure(yield* failureOf(store.append(streamName("replay-twice"), [twice, twice], "no_stream")), "invalid_event");
              // A different event where the stream already has one is a wrong expected version, not a replay.
              assertFailure(yield* failureOf(store.append(stream, [newEvent()], "no_stream")), "wrong_expected_version", stream);
            }),
          ));
      }

      test("refuses events that are not JSON objects, without echoing their content", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("invalid");
            const secret = `secret-${randomUUID()}`;
            const asJson = (value: unknown): JsonObject => value as JsonObject;
            const invalid: ReadonlyArray<readonly [string, ReadonlyArray<NewEvent>]> = [
              ["NaN", [newEvent({ secret, value: Number.NaN })]],
              ["Infinity", [newEvent({ secret, nested: { value: Number.POSITIVE_INFINITY } })]],
              ["undefined", [newEvent(asJson({ secret, value: undefined }))]],
              ["bigint", [newEvent(asJson({ secret, value: 1n }))]],
              ["an array as data", [newEvent(asJson([secret]))]],
              ["a string as data", [newEvent(asJson(secret))]],
              ["null as data", [newEvent(asJson(null))]],
              ["a Date", [newEvent(asJson({ secret, at: new Date() }))]],
              ["a non-object metadata", [newEvent({ secret }, asJson([secret]))]],
              ["NaN in metadata", [newEvent({ secret }, { value: Number.NaN })]],
              ["an empty type", [{ ...newEvent({ secret }), type: "" }]],
              ["an empty id", [{ ...newEvent({ secret }), id: "" }]],
              ["an invalid second event", [newEvent({ secret }), newEvent({ secret, value: Number.NaN })]],
              ["an empty batch", []],
            ];
            for (const [label, events] of invalid) {
              const error = yield* failureOf(store.append(stream, events, "any"));
              assert.equal(error.reason, "invalid_event", `${label}: got ${error.reason}: ${error.message}`);
              assert.equal(error.isRetryable, false);
              assert.ok(!error.message.includes(secret), `${label}: the message echoes event data`);
            }
            assert.deepEqual(yield* store.readStream(stream), []);
          }),
        ));
    });

    describe("readAll", () => {
      test("reads the global order across streams, after is exclusive, limit pages", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const a = streamName("all-a");
            const b = streamName("all-b");
            const mine = new Set([a, b]);
            const e1 = newEvent();
            const e2 = newEvent();
            const e3 = newEvent();
            const e4 = newEvent();
            const first = yield* store.append(a, [e1], "no_stream");
            yield* store.append(b, [e2], "no_stream");
            yield* store.append(a, [e3], { revision: 0 });
            const last = yield* store.append(b, [e4], { revision: 0 });

            const all = yield* store.readAll({ after: first.position - 1, limit: 10_000 });
            const own = all.filter((event) => mine.has(event.stream));
            assert.deepEqual(ids(own), ids([e1, e2, e3, e4]));
            assert.deepEqual(own.map((event) => [event.stream, event.revision]), [[a, 0], [b, 0], [a, 1], [b, 1]]);
            assertStrictlyIncreasing(all.map((event) => event.position));

            // `after` is exclusive.
            const fromFirst = yield* store.readAll({ after: first.position - 1, limit: 1 });
            assert.deepEqual(ids(fromFirst), [e1.id]);
            const afterFirst = yield* store.readAll({ after: first.position, limit: 1 });
            assert.equal(afterFirst.length, 1);
            assert.ok((afterFirst[0]?.position ?? 0) > first.position);
            assert.notEqual(afterFirst[0]?.id, e1.id);

            // Paging by 2 from just before e1 reaches e4 with no gap and no repeat.
            const paged: Array<RecordedEvent> = [];
            let after = first.position - 1;
            while (after < last.position) {
              const page = yield* store.readAll({ after, limit: 2 });
              assert.ok(page.length >= 1 && page.length <= 2, `page of ${page.length}`);
              paged.push(...page);
              after = page[page.length - 1]?.position ?? Number.POSITIVE_INFINITY;
            }
            assertStrictlyIncreasing(paged.map((event) => event.position));
            assert.deepEqual(ids(paged.filter((event) => mine.has(event.stream))), ids([e1, e2, e3, e4]));
            assert.deepEqual(ids(paged), ids(all.filter((event) => event.position <= last.position)));
          }),
        ));

      test("limit defaults to 1000", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("default-limit");
            const batch = newEvents(1001);
            yield* store.append(stream, batch, "no_stream");
            const first = (yield* store.readStream(stream, { limit: 1 }))[0];
            assert.ok(first !== undefined);
            const page = yield* store.readAll({ after: first.position - 1 });
            assert.equal(page.length, 1000);
            assert.equal(page[0]?.id, batch[0]?.id);
            assertStrictlyIncreasing(page.map((event) => event.position));
          }),
        ));
    });

    describe("subscribeAll", () => {
      test("delivers existing events, then live ones appended afterwards, in order and once", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("subscribe");
            const existing = newEvents(2);
            yield* store.append(stream, existing, "no_stream");
            const first = (yield* store.readStream(stream, { limit: 1 }))[0];
            assert.ok(first !== undefined);
            const caughtUp = yield* Deferred.make<void>();

            const subscriber = yield* store.subscribeAll({ after: first.position - 1 }).pipe(
              Stream.filter((event) => event.stream === stream),
              Stream.tap((event) => (event.revision === 1 ? Deferred.succeed(caughtUp, undefined) : Effect.void)),
              Stream.take(5),
              Stream.runCollect,
              Effect.timeout(SUBSCRIPTION_TIMEOUT),
              Effect.fork,
            );
            yield* Deferred.await(caughtUp).pipe(Effect.timeout(SUBSCRIPTION_TIMEOUT));
            // Live: one single append, then a batch of two in another append.
            const live1 = newEvent();
            const live23 = newEvents(2);
            yield* store.append(stream, [live1], { revision: 1 });
            yield* store.append(stream, live23, { revision: 2 });

            const delivered = Array.from(yield* Fiber.join(subscriber));
            assert.deepEqual(ids(delivered), ids([...existing, live1, ...live23]));
            assert.deepEqual(delivered.map((event) => event.revision), [0, 1, 2, 3, 4]);
            assertStrictlyIncreasing(delivered.map((event) => event.position));
          }),
        ));

      test("delivers every event of the global order once, strictly increasing, across streams", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const a = streamName("subscribe-a");
            const b = streamName("subscribe-b");
            const start = yield* store.append(a, [newEvent()], "no_stream");
            const subscriber = yield* store.subscribeAll({ after: start.position }).pipe(
              Stream.takeUntil((event) => event.stream === b && event.revision === 2),
              Stream.runCollect,
              Effect.timeout(SUBSCRIPTION_TIMEOUT),
              Effect.fork,
            );
            const written: Array<NewEvent> = [];
            for (let round = 0; round < 3; round++) {
              const ea = newEvent();
              const eb = newEvent();
              yield* store.append(a, [ea], { revision: round });
              yield* store.append(b, [eb], round === 0 ? "no_stream" : { revision: round - 1 });
              written.push(ea, eb);
            }
            const delivered = Array.from(yield* Fiber.join(subscriber));
            assertStrictlyIncreasing(delivered.map((event) => event.position));
            assert.ok(delivered.every((event) => event.position > start.position));
            const own = delivered.filter((event) => event.stream === a || event.stream === b);
            assert.deepEqual(ids(own), ids(written));
            // Nothing of the global order between them was skipped.
            const read = yield* store.readAll({ after: start.position, limit: 10_000 });
            const lastDelivered = delivered[delivered.length - 1]?.position ?? 0;
            assert.deepEqual(ids(delivered), ids(read.filter((event) => event.position <= lastDelivered)));
          }),
        ));

      test("starts after a middle position", () =>
        run(
          Effect.gen(function* () {
            const store = yield* EventStore;
            const stream = streamName("subscribe-middle");
            const batch = newEvents(4);
            yield* store.append(stream, batch, "no_stream");
            const read = yield* store.readStream(stream);
            const middle = read[1]?.position;
            assert.ok(middle !== undefined);

            const delivered = yield* store.subscribeAll({ after: middle }).pipe(
              Stream.filter((event) => event.stream === stream),
              Stream.take(2),
              Stream.runCollect,
              Effect.timeout(SUBSCRIPTION_TIMEOUT),
            );
            assert.deepEqual(ids(Array.from(delivered)), ids(batch.slice(2)));
            assert.deepEqual(Array.from(delivered, (event) => event.revision), [2, 3]);
          }),
        ));
    });

    test("ping succeeds", () =>
      run(
        Effect.gen(function* () {
          const store = yield* EventStore;
          yield* store.ping;
        }),
      ));
  });
}
