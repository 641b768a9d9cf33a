/**
 * EsdbEventStore: the EventStore contract against a real EventStoreDB / KurrentDB when
 * ZT_ESDB_URL is set (one explicitly skipped test when it is not), the adapter's pure
 * mappings (always), and its failure paths with nothing listening (wherever the client's
 * native addon loads: Node on its prebuilt platforms, Deno with --allow-ffi).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { Chunk, Deferred, Effect, Either, Fiber, Layer, Stream } from "effect";
import { EventStoreError, type EventStoreErrorReason, type EventStoreShape, type NewEvent } from "../../src/events/EventStore.ts";
import {
  appendOutcome,
  clientConnectionString,
  decodeClientEvent,
  esdbBatchProblem,
  isBeyond,
  isStreamNotFound,
  readPositionFor,
  toPortPosition,
  toStreamState,
  translateClientError,
  type ClientEvent,
  type Operation,
} from "../../src/events/esdb/esdbMapping.ts";
import { eventStoreContract } from "./eventStoreContract.ts";
import { FakeEventStoreDB } from "./FakeEventStoreDB.ts";

const ESDB_URL = process.env["ZT_ESDB_URL"];
const NOT_CONFIGURED =
  "optional: EventStoreDB/KurrentDB not configured; set ZT_ESDB_URL=esdb://localhost:2113?tls=false to run the store contract against it";

if (ESDB_URL !== undefined && ESDB_URL !== "") {
  eventStoreContract("EsdbEventStore", async () => {
    const { EsdbEventStore } = await import("../../src/events/esdb/EsdbEventStore.ts");
    return EsdbEventStore.layer({ url: ESDB_URL });
  });
} else {
  it("EventStore contract: EsdbEventStore", { skip: NOT_CONFIGURED }, () => {});
}

// The adapter module loads the client's native addon on import.
const loaded = await Promise.all([import("../../src/events/esdb/EsdbEventStore.ts"), import("@kurrent/kurrentdb-client")]).then(
  ([adapter, client]) => ({ adapter, client }),
  (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
);
const ADDON_MISSING =
  "error" in loaded ? `the client's native addon does not load here (under Deno, run with --allow-ffi): ${loaded.error.slice(0, 120)}` : undefined;

const SECRET = `secret-${randomUUID()}`;
const uuid = (): string => randomUUID();

const assertError = (error: EventStoreError, reason: EventStoreErrorReason, stream?: string): void => {
  assert.ok(error instanceof EventStoreError);
  assert.equal(error.reason, reason, `expected ${reason}, got ${error.reason}: ${error.message}`);
  assert.equal(error.isRetryable, reason === "unavailable");
  assert.ok(error.message.length > 0);
  assert.ok(!error.message.includes(SECRET), `the message echoes the client's: ${error.message}`);
  assert.equal(error.stream, stream);
};

describe("EsdbEventStore mapping (no server)", () => {
  it("maps each expected state to the client's stream state", () => {
    assert.equal(toStreamState("any"), "any");
    assert.equal(toStreamState("no_stream"), "no_stream");
    assert.equal(toStreamState("stream_exists"), "stream_exists");
    assert.equal(toStreamState({ revision: 0 }), 0n);
    assert.equal(toStreamState({ revision: 41 }), 41n);
    assert.equal(toStreamState({ revision: Number.MAX_SAFE_INTEGER }), BigInt(Number.MAX_SAFE_INTEGER));
    // No stream can be at these; SQLite answers wrong_expected_version for them too.
    for (const revision of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, Number.MAX_SAFE_INTEGER + 1]) {
      assert.equal(toStreamState({ revision }), undefined, String(revision));
    }
    assert.equal(toStreamState("anything" as never), undefined);
  });

  it("uses the client's constants", { skip: ADDON_MISSING }, () => {
    if ("error" in loaded) return;
    const { ANY, NO_STREAM, STREAM_EXISTS, START } = loaded.client;
    assert.deepEqual([toStreamState("any"), toStreamState("no_stream"), toStreamState("stream_exists")], [ANY, NO_STREAM, STREAM_EXISTS]);
    assert.equal(readPositionFor(0), START);
  });

  it("converts positions: commit positions are safe integers from 1; after 0 reads from the start", () => {
    assert.equal(toPortPosition(1n), 1);
    assert.equal(toPortPosition(123_456_789n), 123_456_789);
    assert.equal(toPortPosition(BigInt(Number.MAX_SAFE_INTEGER)), Number.MAX_SAFE_INTEGER);
    assert.equal(toPortPosition(0n), undefined);
    assert.equal(toPortPosition(-1n), undefined);
    assert.equal(toPortPosition(BigInt(Number.MAX_SAFE_INTEGER) + 1n), undefined);
    // What servers before 22.6 report on stream reads: no position.
    assert.equal(toPortPosition(2n ** 64n - 1n), undefined);

    assert.equal(readPositionFor(0), "start");
    assert.deepEqual(readPositionFor(4242), { commit: 4242n, prepare: 4242n });
    assert.ok(isBeyond({ commit: 10n, prepare: 10n }, { commit: 9n, prepare: 9n }));
    assert.ok(isBeyond({ commit: 10n, prepare: 8n }, { commit: 10n, prepare: 7n }));
    assert.ok(!isBeyond({ commit: 10n, prepare: 10n }, { commit: 10n, prepare: 10n }));
    assert.ok(!isBeyond({ commit: 9n, prepare: 20n }, { commit: 10n, prepare: 1n }));
  });

  describe("error classification", () => {
    const grpcError = (code: number) => Object.assign(new Error(`${code} STATUS: ${SECRET} admin:changeit@10.0.0.1:2113`), { code });
    const commandError = (type: string, extra: object = {}) => Object.assign(new Error(SECRET), { type, ...extra });
    const cases: ReadonlyArray<readonly [string, unknown, Operation, EventStoreErrorReason]> = [
      ["WrongExpectedVersion", commandError("wrong-expected-version", { expectedState: 2n, actualState: 4n }), "append", "wrong_expected_version"],
      ["Unavailable", commandError("unavailable"), "append", "unavailable"],
      ["Unavailable", commandError("unavailable"), "readStream", "unavailable"],
      ["DeadlineExceeded", commandError("deadline-exceeded"), "append", "unavailable"],
      ["Timeout", commandError("timeout"), "readAll", "unavailable"],
      ["Cancelled", commandError("cancelled"), "subscribeAll", "unavailable"],
      ["NotLeader", commandError("not-leader"), "append", "unavailable"],
      ["AccessDenied", commandError("access-denied"), "readAll", "unavailable"],
      ["StreamDeleted", commandError("stream-deleted"), "append", "wrong_expected_version"],
      ["StreamTombstoned", commandError("stream-tombstoned"), "append", "wrong_expected_version"],
      ["StreamDeleted", commandError("stream-deleted"), "readStream", "corrupt"],
      ["MaxAppendSizeExceeded", commandError("maximum-append-size-exceeded"), "append", "invalid_event"],
      ["AppendRecordSizeExceeded", commandError("append-record-size-exceeded"), "append", "invalid_event"],
      ["TransactionMaxSizeExceeded", commandError("transaction-max-size-exceeded"), "append", "invalid_event"],
      ["InvalidArgument", commandError("invalid-argument"), "append", "invalid_event"],
      ["InvalidArgument", commandError("invalid-argument"), "readAll", "unavailable"],
      ["Unknown", commandError("unknown"), "append", "unavailable"],
      ["gRPC UNAVAILABLE (raw, from appends)", grpcError(14), "append", "unavailable"],
      ["gRPC DEADLINE_EXCEEDED", grpcError(4), "append", "unavailable"],
      ["gRPC CANCELLED", grpcError(1), "ping", "unavailable"],
      ["gRPC PERMISSION_DENIED", grpcError(7), "append", "unavailable"],
      ["gRPC UNAUTHENTICATED", grpcError(16), "append", "unavailable"],
      ["gRPC RESOURCE_EXHAUSTED", grpcError(8), "append", "unavailable"],
      ["gRPC INVALID_ARGUMENT", grpcError(3), "append", "invalid_event"],
      ["gRPC INTERNAL", grpcError(13), "append", "unavailable"],
      ["a plain Error", new Error(SECRET), "append", "unavailable"],
      ["a thrown string (the client's undecodable event)", `Impossible situation ${SECRET}`, "subscribeAll", "corrupt"],
      ["undefined", undefined, "readAll", "unavailable"],
    ];
    for (const [label, error, operation, reason] of cases) {
      it(`${label} on ${operation} is ${reason}, and the client's message is not echoed`, () => {
        const stream = operation === "readAll" || operation === "subscribeAll" || operation === "ping" ? undefined : "orders-1";
        const translated = translateClientError(operation, stream, error);
        assertError(translated, reason, stream);
        assert.match(translated.message, reason === "wrong_expected_version" ? /^(expected|the stream)/ : new RegExp(`^EventStoreDB ${operation} failed: `));
      });
    }

    it("describes a wrong expected version as SQLite does", () => {
      const at = translateClientError("append", "s", commandError("wrong-expected-version", { expectedState: 2n, actualState: 4n }));
      assert.equal(at.message, "expected revision 2 but the stream is at revision 4");
      const missing = translateClientError("append", "s", commandError("wrong-expected-version", { expectedState: "stream_exists", actualState: "no_stream" }));
      assert.equal(missing.message, "expected stream_exists but the stream does not exist");
      const exists = translateClientError("append", "s", commandError("wrong-expected-version", { expectedState: "no_stream", actualState: 0n }));
      assert.equal(exists.message, "expected no_stream but the stream is at revision 0");
    });

    it("classifies the client's own error classes the same way", { skip: ADDON_MISSING }, () => {
      if ("error" in loaded) return;
      const client = loaded.client;
      const wrong = new client.WrongExpectedVersionError(undefined, { streamName: "s", expected: client.NO_STREAM, current: 0n });
      assert.equal(translateClientError("append", "s", wrong).reason, "wrong_expected_version");
      assert.equal(translateClientError("append", "s", wrong).message, "expected no_stream but the stream is at revision 0");
      const byClass: ReadonlyArray<readonly [unknown, Operation, EventStoreErrorReason]> = [
        [new client.UnavailableError(), "append", "unavailable"],
        [new client.DeadlineExceededError(), "readAll", "unavailable"],
        [new client.CancelledError(), "subscribeAll", "unavailable"],
        [new client.AccessDeniedError(), "append", "unavailable"],
        [new client.UnknownError(), "readStream", "unavailable"],
        [client.StreamDeletedError.fromStreamName("s"), "append", "wrong_expected_version"],
        [client.StreamDeletedError.fromStreamName("s"), "readStream", "corrupt"],
        [client.MaxAppendSizeExceededError.fromMaxAppendSize(1024), "append", "invalid_event"],
        [new client.InvalidArgumentError("bad"), "append", "invalid_event"],
      ];
      for (const [error, operation, reason] of byClass) {
        assert.equal(translateClientError(operation, "s", error).reason, reason, `${(error as Error).constructor.name} on ${operation}`);
      }
      assert.ok(isStreamNotFound(new client.StreamNotFoundError(undefined, "s")));
      assert.ok(!isStreamNotFound(new client.UnavailableError()));
    });
  });

  it("refuses what the server cannot store as the port means it: $ streams, $ types, ids that are not lowercase UUIDs", () => {
    const ok = { id: uuid(), type: "OrderPlaced.v1" };
    assert.equal(esdbBatchProblem("orders-1", [ok, { id: uuid(), type: "OrderShipped.v1" }]), undefined);
    assert.match(esdbBatchProblem("$orders", [ok]) ?? "", /reserved for EventStoreDB system streams/);
    assert.match(esdbBatchProblem("orders-1", [ok, { id: uuid(), type: "$metadata" }]) ?? "", /^event 2 of 2: types starting with \$/);
    for (const id of [uuid().toUpperCase(), "not-a-uuid", `${uuid()}x`, "00000000-0000-0000-0000-000000000000", `{${uuid()}}`]) {
      assert.match(esdbBatchProblem("orders-1", [{ id, type: "T" }]) ?? "", /^event 1 of 1: id must be a lowercase UUID/, id);
    }
  });

  describe("decoding recorded events", () => {
    const created = new Date("2026-03-04T05:06:07.891Z");
    const recorded = (overrides: Partial<ClientEvent> = {}): ClientEvent => ({
      streamId: "orders-1",
      id: "6f1c2a52-2f6b-4a53-9e5e-1b7f0d6c9a10",
      type: "OrderPlaced.v1",
      revision: 3n,
      created,
      isJson: true,
      data: { amount: "10.00" },
      metadata: { causation: "c-1" },
      position: { commit: 98_765n, prepare: 98_765n },
      ...overrides,
    });

    it("maps a JSON event: revision and commit position as numbers, recordedAt in RFC 3339 UTC with milliseconds", () => {
      assert.deepEqual(decodeClientEvent(recorded()), {
        event: {
          id: "6f1c2a52-2f6b-4a53-9e5e-1b7f0d6c9a10",
          type: "OrderPlaced.v1",
          stream: "orders-1",
          revision: 3,
          position: 98_765,
          data: { amount: "10.00" },
          metadata: { causation: "c-1" },
          recordedAt: "2026-03-04T05:06:07.891Z",
        },
      });
      const noMetadata = decodeClientEvent(recorded({ metadata: undefined }));
      assert.ok("event" in noMetadata);
      assert.deepEqual(noMetadata.event.metadata, {});
    });

    it("marks events this port did not write as foreign (skipped in $all, corrupt in readStream)", () => {
      const foreign: ReadonlyArray<readonly [string, Partial<ClientEvent>]> = [
        ["a system stream", { streamId: "$stats-127.0.0.1:2113" }],
        ["a system event type", { type: "$statsCollected" }],
        ["a link event", { type: "$>" }],
        ["a binary event", { isJson: false, data: new Uint8Array([1, 2]) }],
        ["JSON data that is an array", { data: [1, 2] }],
        ["JSON data that did not parse (the client hands back the text)", { data: "{not json" }],
        ["binary metadata", { metadata: new Uint8Array([1]) }],
        ["metadata that is an array", { metadata: ["x"] }],
      ];
      for (const [label, overrides] of foreign) {
        const decoded = decodeClientEvent(recorded(overrides));
        assert.ok("foreign" in decoded, `${label}: ${JSON.stringify(decoded, (_, v: unknown) => (typeof v === "bigint" ? String(v) : v))}`);
        assert.match(decoded.foreign, /^event at revision 3 /);
      }
    });

    it("is corrupt without a usable position, revision, id or timestamp", () => {
      const corrupt: ReadonlyArray<readonly [string, Partial<ClientEvent>]> = [
        ["no position", { position: undefined }],
        ["the pre-22.6 stream-read position (u64 max)", { position: { commit: 2n ** 64n - 1n, prepare: 2n ** 64n - 1n } }],
        ["position 0", { position: { commit: 0n, prepare: 0n } }],
        ["a revision beyond 2^53", { revision: 2n ** 60n }],
        ["an empty id", { id: "" }],
        ["an invalid date", { created: new Date(Number.NaN) }],
      ];
      for (const [label, overrides] of corrupt) {
        assert.ok("corrupt" in decodeClientEvent(recorded(overrides)), label);
      }
    });
  });

  describe("append outcome", () => {
    const fresh = { success: true, nextExpectedRevision: 4n, position: { commit: 5000n, prepare: 5000n } };

    it("reports the last revision and the commit position of a fresh append", () => {
      assert.deepEqual(appendOutcome("s", "any", fresh, 4000n), { revision: 4, position: 5000 });
      assert.deepEqual(appendOutcome("s", "no_stream", { ...fresh, nextExpectedRevision: 0n }, 0n), { revision: 0, position: 5000 });
    });

    it("refuses an idempotent replay (its position not beyond the end of $all before the append, or none) as invalid_event", () => {
      for (const [result, endBefore] of [
        [fresh, 5000n],
        [fresh, 7000n],
        [{ success: true, nextExpectedRevision: 4n }, 0n],
      ] as const) {
        const error = appendOutcome("s", "any", result, endBefore);
        assert.ok(error instanceof EventStoreError);
        assertError(error, "invalid_event", "s");
      }
    });

    it("maps success: false (throwOnAppendFailure=false) to wrong_expected_version", () => {
      const missing = appendOutcome("s", "stream_exists", { success: false, nextExpectedRevision: -1n }, 0n);
      assert.ok(missing instanceof EventStoreError);
      assertError(missing, "wrong_expected_version", "s");
      assert.equal(missing.message, "expected stream_exists but the stream does not exist");
      const behind = appendOutcome("s", { revision: 1 }, { success: false, nextExpectedRevision: 3n }, 0n);
      assert.ok(behind instanceof EventStoreError);
      assert.equal(behind.message, "expected revision 1 but the stream is at revision 3");
    });

    it("is corrupt when the server reports no usable position or revision", () => {
      for (const result of [
        { success: true, nextExpectedRevision: 4n, position: { commit: 2n ** 64n - 1n, prepare: 0n } },
        { success: true, nextExpectedRevision: 2n ** 60n, position: { commit: 5000n, prepare: 5000n } },
      ]) {
        const error = appendOutcome("s", "any", result, 0n);
        assert.ok(error instanceof EventStoreError);
        assertError(error, "corrupt", "s");
      }
    });
  });

  describe("connection strings", () => {
    it("hands kurrentdb:// to the client, rewriting esdb:// (which it warns about) and keeping credentials and options", () => {
      assert.deepEqual(clientConnectionString("esdb://localhost:2113?tls=false"), { connectionString: "kurrentdb://localhost:2113?tls=false" });
      assert.deepEqual(clientConnectionString("esdb+discover://admin:changeit@cluster.local:2113?tls=true&nodePreference=leader"), {
        connectionString: "kurrentdb+discover://admin:changeit@cluster.local:2113?tls=true&nodePreference=leader",
      });
      assert.deepEqual(clientConnectionString("kurrentdb://a:2113,b:2113,c:2113?tls=false&keep-alive-interval=10000&TLS_VERIFY_CERT=false"), {
        connectionString: "kurrentdb://a:2113,b:2113,c:2113?tls=false&keep-alive-interval=10000&TLS_VERIFY_CERT=false",
      });
      assert.deepEqual(clientConnectionString("ESDB://localhost:2113"), { connectionString: "kurrentdb://localhost:2113" });
    });

    it("refuses other schemes and unknown options without echoing the string (the client would print it, password included)", () => {
      const refused = [
        "http://localhost:2113",
        "localhost:2113",
        `esdb://admin:${SECRET}@localhost:2113?tls=false&bogus=1`,
        `esdb://admin:${SECRET}@localhost:2113?${SECRET}=1`,
      ];
      for (const url of refused) {
        const result = clientConnectionString(url);
        assert.ok("problem" in result, url);
        assert.ok(!result.problem.includes(SECRET));
      }
      const named = clientConnectionString("esdb://localhost:2113?tls=false&bogus=1");
      assert.deepEqual(named, { problem: 'unknown option "bogus"' });
    });
  });
});

/** A loopback port nothing listens on: bound by the OS, then released. */
const closedPort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });

const newEvent = (overrides: Partial<NewEvent> = {}): NewEvent => ({ id: uuid(), type: "EsdbTested.v1", data: { secret: SECRET }, ...overrides });

describe("EsdbEventStore with nothing listening", { skip: ADDON_MISSING, timeout: 60_000 }, () => {
  it("refuses a connection string it will not hand the client, as unavailable and without echoing it", async () => {
    if ("error" in loaded) return;
    for (const url of [`esdb://admin:${SECRET}@localhost:2113?tls=false&bogus=1`, `postgres://admin:${SECRET}@localhost`]) {
      const built = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(loaded.adapter.EsdbEventStore.layer({ url })))));
      assert.ok(Either.isLeft(built));
      assertError(built.left, "unavailable");
      assert.match(built.left.message, /connection string/);
    }
  });

  it("building the layer pings the server: unreachable, it fails unavailable (as SQLite does on a file it cannot open)", async () => {
    if ("error" in loaded) return;
    const layer = loaded.adapter.EsdbEventStore.layer({ url: `esdb://127.0.0.1:${await closedPort()}?tls=false` });
    const built = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(layer))));
    assert.ok(Either.isLeft(built));
    assertError(built.left, "unavailable");
    assert.equal(built.left.message, "EventStoreDB ping failed: the server is unavailable");
  });

  it("validates before any I/O: invalid events and impossible revisions fail without a server", async () => {
    if ("error" in loaded) return;
    const url = `esdb://127.0.0.1:${await closedPort()}?tls=false`;
    const outcomes = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const store = yield* loaded.adapter.makeEsdbEventStore({ url });
          const attempts = [
            store.append("orders-1", [newEvent({ data: { secret: SECRET, n: Number.NaN } })], "any"),
            store.append("orders-1", [], "any"),
            store.append("$orders", [newEvent()], "any"),
            store.append("orders-1", [newEvent({ id: uuid().toUpperCase() })], "any"),
            store.append("orders-1", [newEvent({ type: "$metadata" })], "any"),
            store.append("orders-1", [newEvent()], { revision: -1 }),
          ];
          return yield* Effect.all(attempts.map((attempt) => Effect.flip(attempt)));
        }),
      ),
    );
    const reasons = outcomes.map((error) => error.reason);
    assert.deepEqual(reasons, ["invalid_event", "invalid_event", "invalid_event", "invalid_event", "invalid_event", "wrong_expected_version"]);
    for (const error of outcomes) assert.ok(!error.message.includes(SECRET));
  });

  it("every operation fails unavailable (retryable) when the server cannot be reached, subscriptions included, and the client is disposed", async () => {
    if ("error" in loaded) return;
    const url = `esdb://127.0.0.1:${await closedPort()}?tls=false`;
    const failures = await Effect.runPromise(
      Effect.scoped(
        Effect.gen(function* () {
          const store = yield* loaded.adapter.makeEsdbEventStore({ url });
          const operations: ReadonlyArray<Effect.Effect<unknown, EventStoreError>> = [
            store.append("orders-1", [newEvent()], "no_stream"),
            store.readStream("orders-1"),
            store.readAll(),
            store.readAll({ after: 12_345, limit: 10 }),
            Stream.runCollect(Stream.take(store.subscribeAll(), 1)),
            Stream.runCollect(Stream.take(store.subscribeAll({ after: 12_345 }), 1)),
            store.ping,
          ];
          const lost = () => new EventStoreError({ reason: "corrupt", message: "timed out: the failure was lost" });
          return yield* Effect.all(operations.map((operation) => Effect.flip(Effect.timeoutFail(operation, { duration: "20 seconds", onTimeout: lost }))));
        }),
      ),
    );
    for (const error of failures) assertError(error, "unavailable", error.stream);
    assert.deepEqual(
      failures.map((error) => error.stream),
      ["orders-1", "orders-1", undefined, undefined, undefined, undefined, undefined],
    );
  });
});

describe("EsdbEventStore on a fake server (its own logic, no server)", { skip: ADDON_MISSING, timeout: 60_000 }, () => {
  const storeOn = (fake: FakeEventStoreDB): EventStoreShape => {
    if ("error" in loaded) throw new Error("unreachable: skipped without the addon");
    return loaded.adapter.esdbEventStoreOn(fake as unknown as Parameters<typeof loaded.adapter.esdbEventStoreOn>[0]);
  };
  const run = <A>(effect: Effect.Effect<A, EventStoreError>): Promise<A> => Effect.runPromise(effect);
  const failure = <A>(effect: Effect.Effect<A, EventStoreError>): Promise<EventStoreError> => Effect.runPromise(Effect.flip(effect));
  const stream = (): string => `fake-${uuid()}`;

  it("readAll returns only this port's events: system, binary and non-object events are skipped, also across pages", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    await run(store.append(s, [newEvent()], "no_stream"));
    fake.write("legacy-binary", "Blob", false, new Uint8Array([9]), undefined);
    fake.write("$$" + s, "$metadata", true, { $maxAge: 1 }, undefined);
    fake.write("legacy-json", "Listed", true, ["x"], undefined);
    await run(store.append(s, [newEvent(), newEvent()], { revision: 0 }));
    const all = await run(store.readAll());
    assert.deepEqual(all.map((event) => [event.stream, event.revision]), [[s, 0], [s, 1], [s, 2]]);
    const paged = [];
    let after = 0;
    for (;;) {
      const page = await run(store.readAll({ after, limit: 1 }));
      if (page.length === 0) break;
      paged.push(...page);
      after = page[page.length - 1]?.position ?? Number.POSITIVE_INFINITY;
    }
    assert.deepEqual(paged, all);
  });

  it("an after this store returned is read from as is; any other value is resolved backwards to the event before it", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    await run(store.append(s, [newEvent(), newEvent(), newEvent()], "no_stream"));
    const [, second, third] = await run(store.readStream(s));
    assert.ok(second !== undefined && third !== undefined);
    assert.ok(third.position - second.position > 1, "positions are offsets, not consecutive");

    fake.calls.length = 0;
    assert.deepEqual((await run(store.readAll({ after: second.position }))).map((event) => event.id), [third.id]);
    assert.deepEqual(fake.calls, ["readAll", "readAll"], "a probe, then the page");

    fake.calls.length = 0;
    assert.deepEqual((await run(store.readAll({ after: second.position - 1 }))).map((event) => event.id), [second.id, third.id]);
    assert.deepEqual(fake.calls, ["readAll", "readAll", "readAll"], "a refused probe, one backward page, then the page");
    assert.deepEqual(await run(store.readAll({ after: third.position + 1 })), []);
    assert.deepEqual(await run(store.readAll({ after: Number.MAX_SAFE_INTEGER })), []);
  });

  it("an append the server takes as an idempotent replay is refused as invalid_event, and nothing is written", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    const event = newEvent();
    const first = await run(store.append(s, [event, newEvent()], "no_stream"));
    for (const expected of ["any", "no_stream", "stream_exists"] as const) {
      assertError(await failure(store.append(s, [event], expected)), "invalid_event", s);
    }
    assert.equal((await run(store.readStream(s))).length, 2);
    assert.equal((await run(store.append(s, [newEvent()], { revision: first.revision }))).revision, 2);
  });

  it("readStream of a stream holding another client's events is corrupt, naming no content", async () => {
    const fake = new FakeEventStoreDB();
    const error = await failure(storeOn(fake).readStream("legacy-binary"));
    assertError(error, "corrupt", "legacy-binary");
    assert.match(error.message, /not JSON: not an event this store wrote/);
  });

  it("subscribeAll catches up, goes live, and unsubscribes when its consumer stops", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    const start = await run(store.append(s, [newEvent()], "no_stream"));
    const delivered = await run(
      Effect.gen(function* () {
        const caughtUp = yield* Deferred.make<void>();
        const subscriber = yield* store.subscribeAll({ after: start.position - 1 }).pipe(
          Stream.tap(() => Deferred.succeed(caughtUp, undefined)),
          Stream.take(3),
          Stream.runCollect,
          Effect.fork,
        );
        yield* Deferred.await(caughtUp);
        assert.equal(fake.subscriptions, 1);
        yield* store.append(s, [newEvent()], { revision: 0 });
        fake.write("legacy-binary", "Blob", false, new Uint8Array([1]), undefined);
        yield* store.append(s, [newEvent()], { revision: 1 });
        return Chunk.toArray(yield* Fiber.join(subscriber));
      }),
    );
    assert.deepEqual(delivered.map((event) => [event.stream, event.revision]), [[s, 0], [s, 1], [s, 2]]);
    assert.equal(fake.subscriptions, 0);
  });

  it("subscribeAll fails unavailable, instead of hanging or ending, when the server ends or drops the subscription", async () => {
    for (const cut of ["end", "fail", "down"] as const) {
      const fake = new FakeEventStoreDB();
      const store = storeOn(fake);
      const s = stream();
      await run(store.append(s, [newEvent()], "no_stream"));
      fake.down = cut === "down";
      const error = await failure(
        Effect.gen(function* () {
          const first = yield* Deferred.make<void>();
          const subscriber = yield* store.subscribeAll().pipe(
            Stream.tap(() => Deferred.succeed(first, undefined)),
            Stream.runDrain,
            Effect.fork,
          );
          if (cut !== "down") {
            yield* Deferred.await(first);
            if (cut === "end") fake.endSubscriptions();
            else fake.failSubscriptions();
          }
          return yield* Fiber.join(subscriber);
        }).pipe(Effect.timeoutFail({ duration: "10 seconds", onTimeout: () => new EventStoreError({ reason: "corrupt", message: `${cut}: hung` }) })),
      );
      assertError(error, "unavailable");
      assert.equal(fake.subscriptions, 0, cut);
    }
  });
});

