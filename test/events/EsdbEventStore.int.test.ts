/**
 * EsdbEventStore: the EventStore contract against a real EventStoreDB / KurrentDB when
 * ZT_ESDB_URL is set (one explicitly skipped test when it is not) and against the
 * stand-in server (FakeEventStoreDB, always), the adapter's pure mappings (always), its
 * failure paths with nothing listening, and the server behaviours it must meet (write
 * timeouts, followers, rights on `$all`, deadlines, foreign events) on the stand-in,
 * wherever the client's native addon loads (Node on its prebuilt platforms, Deno with
 * --allow-ffi).
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { Chunk, Deferred, Effect, Either, Fiber, Layer, Logger, Stream } from "effect";
import { loadConfig, ConfigError } from "../../src/config.ts";
import { EventStore, EventStoreError, type EventStoreErrorReason, type EventStoreShape, type NewEvent } from "../../src/events/EventStore.ts";
import {
  appendOutcome,
  clientConnectionString,
  decodeClientEvent,
  esdbBatchProblem,
  isBeyond,
  isNotLeader,
  isStreamNotFound,
  readPositionFor,
  streamPrefixProblem,
  toPortPosition,
  toStreamState,
  translateClientError,
  type ClientEvent,
  type Operation,
} from "../../src/events/esdb/esdbMapping.ts";
import { eventStoreContract } from "./eventStoreContract.ts";
import { FAKE_LEADER, FakeEventStoreDB } from "./FakeEventStoreDB.ts";

const ESDB_URL = process.env["ZT_ESDB_URL"];
const NOT_CONFIGURED =
  "optional: EventStoreDB/KurrentDB not configured; set ZT_ESDB_URL=esdb://localhost:2113?tls=false to run the store contract against it";

if (ESDB_URL !== undefined && ESDB_URL !== "") {
  eventStoreContract(
    "EsdbEventStore",
    async () => {
      const { EsdbEventStore } = await import("../../src/events/esdb/EsdbEventStore.ts");
      return EsdbEventStore.layer({ url: ESDB_URL });
    },
    { eventIds: "per_stream", appendMany: "in_order" },
  );
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

if ("error" in loaded) {
  it("EventStore contract: EsdbEventStore on the stand-in server", { skip: "the client's native addon does not load here (under Deno, run with --allow-ffi)" }, () => {});
} else {
  // One stand-in server for the whole suite, as a shared real server would be.
  const server = new FakeEventStoreDB();
  const { esdbEventStoreOn } = loaded.adapter;
  eventStoreContract(
    "EsdbEventStore on the stand-in server",
    () => Layer.succeed(EventStore, esdbEventStoreOn(server as unknown as Parameters<typeof esdbEventStoreOn>[0])),
    { eventIds: "per_stream", appendMany: "in_order" },
  );
}

const SECRET = `secret-${randomUUID()}`;
const uuid = (): string => randomUUID();

const assertError = (error: EventStoreError, reason: EventStoreErrorReason, stream?: string): void => {
  assert.ok(error instanceof EventStoreError);
  assert.equal(error.reason, reason, `expected ${reason}, got ${error.reason}: ${error.message}`);
  assert.equal(error.isRetryable, reason === "unavailable" || reason === "unknown_outcome");
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
      ["Unavailable (connection lost in flight)", commandError("unavailable"), "append", "unknown_outcome"],
      ["Unavailable, nothing sent (no connection)", commandError("unavailable", { message: `14 UNAVAILABLE: No connection established. ${SECRET}` }), "append", "unavailable"],
      ["Unavailable", commandError("unavailable"), "readStream", "unavailable"],
      // The batch append's Timeout status (a 2 s write timeout, a forwarded write timing out).
      ["DeadlineExceeded", commandError("deadline-exceeded"), "append", "unknown_outcome"],
      ["DeadlineExceeded", commandError("deadline-exceeded"), "readStream", "unavailable"],
      ["Timeout", commandError("timeout"), "append", "unknown_outcome"],
      ["Timeout", commandError("timeout"), "readAll", "unavailable"],
      ["Cancelled", commandError("cancelled"), "append", "unknown_outcome"],
      ["Cancelled", commandError("cancelled"), "subscribeAll", "unavailable"],
      ["NotLeader (refused before writing)", commandError("not-leader"), "append", "unavailable"],
      ["AccessDenied", commandError("access-denied"), "readAll", "unavailable"],
      ["StreamDeleted", commandError("stream-deleted"), "append", "wrong_expected_version"],
      ["StreamTombstoned", commandError("stream-tombstoned"), "append", "wrong_expected_version"],
      ["StreamDeleted", commandError("stream-deleted"), "readStream", "corrupt"],
      ["MaxAppendSizeExceeded", commandError("maximum-append-size-exceeded"), "append", "invalid_event"],
      ["AppendRecordSizeExceeded", commandError("append-record-size-exceeded"), "append", "invalid_event"],
      ["TransactionMaxSizeExceeded", commandError("transaction-max-size-exceeded"), "append", "invalid_event"],
      ["InvalidArgument", commandError("invalid-argument"), "append", "invalid_event"],
      ["InvalidArgument", commandError("invalid-argument"), "readAll", "unavailable"],
      // What the client makes of the server's per-event size refusal: unknown, code 3 kept.
      ["Unknown, gRPC INVALID_ARGUMENT (an event over the server's size limit)", commandError("unknown", { code: 3 }), "append", "invalid_event"],
      ["Unknown from a batch append naming the event size limit", commandError("unknown", { message: `Could not recognize Event with Id: x, Size: 9, exceeds Maximum Append Event Size of 8. ${SECRET}` }), "append", "invalid_event"],
      // The unary append's "Operation timed out" (RpcExceptions.Timeout: ABORTED without details).
      ["Unknown, gRPC ABORTED", commandError("unknown", { code: 10 }), "append", "unknown_outcome"],
      ["Unknown, the server not ready", commandError("unknown", { message: `Could not recognize Server Is Not Ready ${SECRET}` }), "append", "unavailable"],
      ["Unknown", commandError("unknown"), "append", "unavailable"],
      ["gRPC UNAVAILABLE (raw, from appends) in flight", grpcError(14), "append", "unknown_outcome"],
      ["gRPC UNAVAILABLE (raw), no connection established", Object.assign(new Error("14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED"), { code: 14 }), "append", "unavailable"],
      ["gRPC DEADLINE_EXCEEDED", grpcError(4), "append", "unknown_outcome"],
      ["gRPC ABORTED", grpcError(10), "append", "unknown_outcome"],
      ["gRPC ABORTED", grpcError(10), "readAll", "unavailable"],
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

    it("names the right that is missing when access is denied: $all for reads of the global order", () => {
      assert.match(translateClientError("readAll", undefined, commandError("access-denied")).message, /may not read \$all/);
      assert.match(translateClientError("subscribeAll", undefined, commandError("access-denied")).message, /may not read \$all/);
      assert.match(translateClientError("append", "s", commandError("access-denied")).message, /may not write this stream/);
    });

    it("tells a NotLeader answer apart (the call is made once more, on the leader)", () => {
      assert.ok(isNotLeader(commandError("not-leader", { leader: FAKE_LEADER })));
      assert.ok(!isNotLeader(commandError("unavailable")));
      assert.ok(!isNotLeader(undefined));
    });

    it("classifies the client's own error classes the same way", { skip: ADDON_MISSING }, () => {
      if ("error" in loaded) return;
      const client = loaded.client;
      const wrong = new client.WrongExpectedVersionError(undefined, { streamName: "s", expected: client.NO_STREAM, current: 0n });
      assert.equal(translateClientError("append", "s", wrong).reason, "wrong_expected_version");
      assert.equal(translateClientError("append", "s", wrong).message, "expected no_stream but the stream is at revision 0");
      const byClass: ReadonlyArray<readonly [unknown, Operation, EventStoreErrorReason]> = [
        [new client.UnavailableError(), "append", "unknown_outcome"],
        [new client.UnavailableError(), "readStream", "unavailable"],
        [new client.DeadlineExceededError(), "readAll", "unavailable"],
        [new client.DeadlineExceededError(), "append", "unknown_outcome"],
        [new client.UnknownError(Object.assign(new Error("3 INVALID_ARGUMENT"), { code: 3 }) as never), "append", "invalid_event"],
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

  it("refuses what the server cannot store as the port means it: $ types, one id twice in a batch, ids that are not lowercase UUIDs", () => {
    const ok = { id: uuid(), type: "OrderPlaced.v1" };
    assert.equal(esdbBatchProblem([ok, { id: uuid(), type: "OrderShipped.v1" }]), undefined);
    assert.match(esdbBatchProblem([ok, { id: uuid(), type: "$metadata" }]) ?? "", /^event 2 of 2: types starting with \$/);
    assert.match(esdbBatchProblem([ok, { id: uuid(), type: "T" }, { ...ok, type: "T" }]) ?? "", /^event 3 of 3: its id is already used earlier in the batch/);
    for (const id of [uuid().toUpperCase(), "not-a-uuid", `${uuid()}x`, "00000000-0000-0000-0000-000000000000", `{${uuid()}}`]) {
      assert.match(esdbBatchProblem([{ id, type: "T" }]) ?? "", /^event 1 of 1: id must be a lowercase UUID/, id);
    }
  });

  it("accepts stream prefixes that name a namespace, and nothing that could be a system stream or carry a separator the server reads", () => {
    for (const prefix of ["zt.", "zt-infra.", "tenant_a:zt.", "Z"]) assert.equal(streamPrefixProblem(prefix), undefined, prefix);
    for (const prefix of ["", "$zt.", ".zt", "zt infra.", "zt/", "x".repeat(65)]) assert.ok(streamPrefixProblem(prefix) !== undefined, prefix);
  });

  describe("decoding recorded events", () => {
    const created = new Date("2026-03-04T05:06:07.891Z");
    const recorded = (overrides: Partial<ClientEvent> = {}): ClientEvent => ({
      streamId: "zt.orders-1",
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

    it("maps a JSON event: the stream without the prefix, revision and commit position as numbers, recordedAt in RFC 3339 UTC with milliseconds", () => {
      assert.deepEqual(decodeClientEvent(recorded(), "zt."), {
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
      const noMetadata = decodeClientEvent(recorded({ metadata: undefined }), "zt.");
      assert.ok("event" in noMetadata);
      assert.deepEqual(noMetadata.event.metadata, {});
    });

    it("marks events this port did not write as foreign (skipped in $all, corrupt in readStream)", () => {
      const foreign: ReadonlyArray<readonly [string, Partial<ClientEvent>]> = [
        ["another application's JSON object event, outside the prefix", { streamId: "orders-1" }],
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
        const decoded = decodeClientEvent(recorded(overrides), "zt.");
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
        assert.ok("corrupt" in decodeClientEvent(recorded(overrides), "zt."), label);
      }
    });
  });

  describe("append outcome", () => {
    const fresh = { success: true, nextExpectedRevision: 4n, position: { commit: 5000n, prepare: 5000n } };

    it("reports the last revision and the commit position, a fresh append and an idempotent replay alike", () => {
      assert.deepEqual(appendOutcome("s", "any", fresh), { revision: 4, position: 5000 });
      assert.deepEqual(appendOutcome("s", "no_stream", { ...fresh, nextExpectedRevision: 0n }), { revision: 0, position: 5000 });
    });

    it("leaves the position to be read when the server reports none or an unusable one (a replay whose original it did not find)", () => {
      assert.deepEqual(appendOutcome("s", "any", { success: true, nextExpectedRevision: 4n }), { revision: 4, position: undefined });
      assert.deepEqual(appendOutcome("s", "any", { success: true, nextExpectedRevision: 4n, position: { commit: 2n ** 64n - 1n, prepare: 0n } }), { revision: 4, position: undefined });
    });

    it("maps success: false to wrong_expected_version without repeating the client's revision", () => {
      const refused = appendOutcome("s", "stream_exists", { success: false, nextExpectedRevision: 1n });
      assert.ok(refused instanceof EventStoreError);
      assertError(refused, "wrong_expected_version", "s");
      assert.equal(refused.message, "expected stream_exists but the stream is in another state");
    });

    it("is corrupt when the server reports no usable revision", () => {
      const error = appendOutcome("s", "any", { success: true, nextExpectedRevision: 2n ** 60n, position: { commit: 5000n, prepare: 5000n } });
      assert.ok(error instanceof EventStoreError);
      assertError(error, "corrupt", "s");
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
      assert.deepEqual(clientConnectionString("kurrentdb+discover://zt:pw@db.internal:2113?tls=true"), {
        connectionString: "kurrentdb+discover://zt:pw@db.internal:2113?tls=true",
      });
    });

    it("refuses throwOnAppendFailure=false, with which the client misreports a refused append's revision", () => {
      for (const url of ["esdb://localhost:2113?throwOnAppendFailure=false", "esdb://localhost:2113?tls=false&throw-on-append-failure=FALSE"]) {
        const result = clientConnectionString(url);
        assert.ok("problem" in result, url);
        assert.match(result.problem, /throwOnAppendFailure=false is not supported/);
      }
      assert.ok("connectionString" in clientConnectionString("esdb://localhost:2113?throwOnAppendFailure=true"));
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
  it("refuses a connection string or stream prefix it will not hand the client, as unavailable and without echoing it", async () => {
    if ("error" in loaded) return;
    const prefix = await Effect.runPromise(Effect.either(Effect.scoped(Layer.build(loaded.adapter.EsdbEventStore.layer({ url: "esdb://localhost:2113", streamPrefix: "$all" })))));
    assert.ok(Either.isLeft(prefix));
    assertError(prefix.left, "unavailable");
    assert.match(prefix.left.message, /stream prefix/);
    for (const url of [`esdb://admin:${SECRET}@localhost:2113?tls=false&bogus=1`, `postgres://admin:${SECRET}@localhost`, `esdb://admin:${SECRET}@localhost:2113?throwOnAppendFailure=false`]) {
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
          const twice = newEvent();
          const attempts = [
            store.append("orders-1", [newEvent({ data: { secret: SECRET, n: Number.NaN } })], "any"),
            store.append("orders-1", [], "any"),
            store.append("orders-1", [twice, newEvent(), twice], "any"),
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

describe("EsdbEventStore on the stand-in server", { skip: ADDON_MISSING, timeout: 60_000 }, () => {
  const storeOn = (fake: FakeEventStoreDB, tuning: { callTimeoutMs?: number } = {}): EventStoreShape => {
    if ("error" in loaded) throw new Error("unreachable: skipped without the addon");
    return loaded.adapter.esdbEventStoreOn(fake as unknown as Parameters<typeof loaded.adapter.esdbEventStoreOn>[0], { settleRetry: { baseMs: 5, maxMs: 20 }, ...tuning });
  };
  // The settle loop logs each re-send; these tests read the log lines.
  const logged: Array<string> = [];
  const capture = Logger.replace(Logger.defaultLogger, Logger.make(({ message }) => void logged.push(String(message))));
  const run = <A>(effect: Effect.Effect<A, EventStoreError>): Promise<A> => Effect.runPromise(Effect.provide(effect, capture));
  const failure = <A>(effect: Effect.Effect<A, EventStoreError>): Promise<EventStoreError> => Effect.runPromise(Effect.provide(Effect.flip(effect), capture));
  const stream = (): string => `fake-${uuid()}`;
  const methods = (fake: FakeEventStoreDB): Array<string> => fake.calls.map((call) => call.method);

  it("keeps this store's streams behind the prefix and reads only them: other applications' events are never returned", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    await run(store.append(s, [newEvent()], "no_stream"));
    fake.write("legacy-binary", "Blob", false, new Uint8Array([9]), undefined);
    fake.write("$$zt." + s, "$metadata", true, { $maxAge: 1 }, undefined);
    fake.write("legacy-json", "Listed", true, ["x"], undefined);
    // Another application's JSON object event: exactly what an audit chain would take in.
    fake.write("orders-8", "OrderPlaced", true, { amount: "12.00" }, {});
    await run(store.append(s, [newEvent(), newEvent()], { revision: 0 }));
    assert.ok(fake.records.some((record) => record.streamId === `zt.${s}`), "written behind the prefix");
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
    const live = await run(store.subscribeAll().pipe(Stream.take(3), Stream.runCollect, Effect.map(Chunk.toArray)));
    assert.deepEqual(live.map((event) => event.stream), [s, s, s]);
  });

  it("an append is one round trip, with no read of $all before it", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    await run(store.append(stream(), [newEvent()], "no_stream"));
    assert.deepEqual(methods(fake), ["appendToStream"]);
  });

  it("a user who may not read $all can still append, read its streams and pass the readiness check; $all reads name the missing right", async () => {
    const fake = new FakeEventStoreDB();
    fake.allReadsDenied = true;
    const store = storeOn(fake);
    const s = stream();
    const appended = await run(store.append(s, [newEvent()], "no_stream"));
    assert.equal((await run(store.readStream(s)))[0]?.position, appended.position);
    await run(store.ping);
    const denied = await failure(store.readAll());
    assertError(denied, "unavailable");
    assert.match(denied.message, /may not read \$all/);
  });

  it("stream reads and the readiness check require the leader: a follower's NotLeader sends them to the leader, once", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    await run(store.append(s, [newEvent()], "no_stream"));
    fake.role = "follower";
    fake.calls.length = 0;
    await run(store.ping);
    assert.deepEqual(fake.calls.map(({ method, requiresLeader }) => [method, requiresLeader]), [["readStream", true], ["readStream", true]]);
    fake.role = "follower";
    assert.equal((await run(store.readStream(s))).length, 1);
    assert.ok(fake.calls.every((call) => call.method !== "readStream" || call.requiresLeader === true));
  });

  it("a write the server timed out but commits late is answered with that commit, once: the same events are sent until the server settles them", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    const event = newEvent();
    logged.length = 0;
    fake.timeOutWrites(1, "late", 60);
    const appended = await run(store.append(s, [event], "no_stream"));
    const stored = await run(store.readStream(s));
    assert.deepEqual(stored.map((recorded) => recorded.id), [event.id]);
    assert.deepEqual(appended, { revision: 0, position: stored[0]?.position });
    assert.ok(methods(fake).filter((method) => method === "appendToStream").length >= 2, "sent again");
    assert.ok(logged.some((line) => line.includes("append outcome unknown")));
  });

  it("a write the server timed out and lost is sent again with the same ids and written once", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    const event = newEvent();
    fake.timeOutWrites(1, "lost", 20);
    const appended = await run(store.append(s, [event], "no_stream"));
    const stored = await run(store.readStream(s));
    assert.deepEqual(stored.map((recorded) => recorded.id), [event.id]);
    assert.equal(appended.position, stored[0]?.position);
  });

  it("after a write timeout, an unreachable server settles nothing: the append waits and completes once the server answers", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    logged.length = 0;
    fake.timeOutWrites(1, "late", 0);
    const pending = run(store.append(s, [newEvent()], "no_stream"));
    while (!logged.some((line) => line.includes("append outcome unknown"))) await new Promise((resolve) => setImmediate(resolve));
    fake.down = true;
    await new Promise((resolve) => setTimeout(resolve, 80));
    fake.down = false;
    const appended = await pending;
    assert.equal((await run(store.readStream(s)))[0]?.position, appended.position);
  });

  it("a server that cannot be reached at all fails the append at once, unavailable: nothing was sent", async () => {
    const fake = new FakeEventStoreDB();
    fake.down = true;
    const error = await failure(storeOn(fake).append("orders-1", [newEvent()], "no_stream"));
    assertError(error, "unavailable", "orders-1");
  });

  it("every call has a deadline: a hung server fails reads and the readiness check unavailable, and an append keeps trying", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake, { callTimeoutMs: 100 });
    await run(store.append("orders-1", [newEvent()], "no_stream"));
    fake.hung = true;
    const started = Date.now();
    for (const operation of [store.readStream("orders-1"), store.readAll(), store.ping] as ReadonlyArray<Effect.Effect<unknown, EventStoreError>>) {
      const error = await failure(operation);
      assertError(error, "unavailable", error.stream);
      assert.match(error.message, /no answer within 100 ms/);
    }
    assert.ok(Date.now() - started < 5000, "within the deadlines");
    const pending = run(store.append("orders-1", [newEvent()], { revision: 0 }));
    await new Promise((resolve) => setTimeout(resolve, 250));
    fake.hung = false;
    assert.equal((await pending).revision, 1);
  });

  it("an event over the server's maximum event size is invalid_event, not retried", async () => {
    const fake = new FakeEventStoreDB();
    fake.maxEventSize = 64;
    const error = await failure(storeOn(fake).append("orders-1", [newEvent({ data: { blob: "x".repeat(100) } })], "no_stream"));
    assertError(error, "invalid_event", "orders-1");
    assert.equal(methods(fake).filter((method) => method === "appendToStream").length, 1);
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
    assert.deepEqual(methods(fake), ["readAll", "readAll"], "a probe, then the page");

    fake.calls.length = 0;
    assert.deepEqual((await run(store.readAll({ after: second.position - 1 }))).map((event) => event.id), [second.id, third.id]);
    assert.deepEqual(methods(fake), ["readAll", "readAll", "readAll"], "a refused probe, one backward page, then the page");
    assert.deepEqual(await run(store.readAll({ after: third.position + 1 })), []);
    assert.deepEqual(await run(store.readAll({ after: Number.MAX_SAFE_INTEGER })), []);
  });

  it("readStream of a stream holding another client's events is corrupt, naming no content", async () => {
    const fake = new FakeEventStoreDB();
    fake.write("zt.orders-9", "Blob", false, new Uint8Array([1]), undefined);
    const error = await failure(storeOn(fake).readStream("orders-9"));
    assertError(error, "corrupt", "orders-9");
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

  it("subscribeAll from a position it returned starts after it (the server's start is exclusive)", async () => {
    const fake = new FakeEventStoreDB();
    const store = storeOn(fake);
    const s = stream();
    const first = await run(store.append(s, [newEvent()], "no_stream"));
    await run(store.append(s, [newEvent()], { revision: 0 }));
    const [next] = await run(store.subscribeAll({ after: first.position }).pipe(Stream.take(1), Stream.runCollect, Effect.map(Chunk.toArray)));
    assert.equal(next?.revision, 1);
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

describe("ZT_STORE for EventStoreDB / KurrentDB", () => {
  const base = { ZT_DATA_DIR: "/tmp/zt-config-test", ZT_CHAIN: "off" };

  it("accepts single hosts, seed lists and DNS discovery, in both schemes, with the stream prefix", () => {
    for (const url of [
      "esdb://db:2113?tls=false",
      "kurrentdb://a:2113,b:2113,c:2113?tls=true",
      "esdb+discover://cluster.internal:2113",
      "kurrentdb+discover://zt:pw@cluster.internal:2113?nodePreference=leader",
    ]) {
      const store = loadConfig({ ...base, ZT_STORE: url }).store;
      assert.deepEqual(store, { kind: "esdb", url, streamPrefix: "zt." }, url);
    }
    assert.deepEqual(loadConfig({ ...base, ZT_STORE: "esdb://db:2113", ZT_STORE_STREAM_PREFIX: "payments-zt." }).store, {
      kind: "esdb",
      url: "esdb://db:2113",
      streamPrefix: "payments-zt.",
    });
  });

  it("never echoes a store URL, whose userinfo holds credentials, in a configuration error", () => {
    for (const ZT_STORE of [`postgres://admin:${SECRET}@db:5432`, `esdb://admin:${SECRET}@db:2113?bogus=1`, `esdb://admin:${SECRET}@db:2113?throwOnAppendFailure=false`]) {
      assert.throws(
        () => loadConfig({ ...base, ZT_STORE }),
        (error: unknown) => error instanceof ConfigError && /^ZT_STORE\b/.test(error.message) && !error.message.includes(SECRET),
        ZT_STORE.replace(SECRET, "<secret>"),
      );
    }
    assert.throws(() => loadConfig({ ...base, ZT_STORE: "esdb://db:2113", ZT_STORE_STREAM_PREFIX: "$all" }), /ZT_STORE_STREAM_PREFIX/);
  });
});
