import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, describe, it } from "node:test";
import { Worker } from "node:worker_threads";
import { Deferred, Effect, Either, Fiber, type Scope, Stream } from "effect";
import { EventStore, type EventStoreError, type NewEvent } from "../../src/events/EventStore.ts";
import {
  READ_ALL_MAX_LIMIT,
  SCHEMA_VERSION,
  SqliteEventStore,
  makeSqliteEventStore,
  openSqliteEventDatabase,
} from "../../src/events/sqlite/SqliteEventStore.ts";
import { eventStoreContract } from "./eventStoreContract.ts";

const root = mkdtempSync(join(tmpdir(), "zt-sqlite-events-"));
after(() => rmSync(root, { recursive: true, force: true }));

let files = 0;
/** A fresh database path in a directory that does not exist yet. */
const freshPath = (): string => join(root, `case-${++files}`, "events.sqlite");

const newEvent = (data: NewEvent["data"] = { n: 1 }): NewEvent => ({ id: randomUUID(), type: "SqliteTested.v1", data });

const failureOf = <A, R>(effect: Effect.Effect<A, EventStoreError, R>): Effect.Effect<EventStoreError, never, R> =>
  Effect.flatMap(Effect.either(effect), (result) =>
    Either.isLeft(result) ? Effect.succeed(result.left) : Effect.dieMessage("expected the effect to fail, but it succeeded"),
  );

const scoped = <A, E>(program: Effect.Effect<A, E, Scope.Scope>): Promise<A> =>
  Effect.runPromise(Effect.scoped(program));

// The whole contract shares one file, so it also runs on a store that is not empty.
const contractPath = join(root, "contract", "nested", "events.sqlite");
eventStoreContract("SqliteEventStore", () => SqliteEventStore.layer({ path: contractPath }));

describe("SqliteEventStore on a file", { timeout: 60_000 }, () => {
  it("creates the directory, keeps the data across close and reopen, and closes the file with the scope", async () => {
    const path = freshPath();
    const stream = `reopen-${randomUUID()}`;
    const events = [newEvent({ n: 1 }), newEvent({ n: 2 })];
    const written = await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(EventStore, (store) => store.append(stream, events, "no_stream")),
        SqliteEventStore.layer({ path }),
      ),
    );
    assert.ok(existsSync(path));
    // The last connection to close checkpoints and removes the WAL: the store closed its own.
    assert.equal(existsSync(`${path}-wal`), false);

    const read = await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(EventStore, (store) => store.readStream(stream)),
        SqliteEventStore.layer({ path }),
      ),
    );
    assert.deepEqual(read.map((event) => event.id), events.map((event) => event.id));
    assert.deepEqual(read.map((event) => event.data), [{ n: 1 }, { n: 2 }]);
    assert.equal(read[1]?.position, written.position);
  });

  it("runs in WAL mode with synchronous=FULL, the busy timeout and the schema version", async () => {
    const path = freshPath();
    const pragmas = await scoped(
      Effect.map(openSqliteEventDatabase({ path, busyTimeoutMs: 1234 }), (db) => ({
        journal: db.prepare("PRAGMA journal_mode").get(),
        synchronous: db.prepare("PRAGMA synchronous").get(),
        busyTimeout: db.prepare("PRAGMA busy_timeout").get(),
        foreignKeys: db.prepare("PRAGMA foreign_keys").get(),
        userVersion: db.prepare("PRAGMA user_version").get(),
        columns: db.prepare("SELECT name FROM pragma_table_info('events') ORDER BY cid").all().map((row) => row["name"]),
      })),
    );
    assert.deepEqual({ ...pragmas.journal }, { journal_mode: "wal" });
    assert.deepEqual({ ...pragmas.synchronous }, { synchronous: 2 });
    assert.deepEqual({ ...pragmas.busyTimeout }, { timeout: 1234 });
    assert.deepEqual({ ...pragmas.foreignKeys }, { foreign_keys: 1 });
    assert.deepEqual({ ...pragmas.userVersion }, { user_version: SCHEMA_VERSION });
    assert.deepEqual(pragmas.columns, ["position", "event_id", "stream", "revision", "type", "data", "metadata", "recorded_at"]);
  });

  it("refuses a file whose schema version it does not know", async () => {
    const path = freshPath();
    await scoped(openSqliteEventDatabase({ path }));
    const other = new DatabaseSync(path);
    other.exec("PRAGMA user_version = 99");
    other.close();
    const error = await scoped(failureOf(openSqliteEventDatabase({ path })));
    assert.equal(error.reason, "unavailable");
    assert.match(error.message, /schema version 99/);
  });

  it("two store instances on one file racing no_stream appends: exactly one wins", async () => {
    const path = freshPath();
    const stream = `two-instances-${randomUUID()}`;
    const results = await scoped(
      Effect.gen(function* () {
        const a = yield* makeSqliteEventStore({ path });
        const b = yield* makeSqliteEventStore({ path });
        const attempts = Array.from({ length: 40 }, (_, n) =>
          Effect.either((n % 2 === 0 ? a : b).append(stream, [newEvent()], "no_stream")),
        );
        const outcomes = yield* Effect.all(attempts, { concurrency: "unbounded" });
        return { outcomes, onA: yield* a.readStream(stream), onB: yield* b.readStream(stream) };
      }),
    );
    assert.equal(results.outcomes.filter(Either.isRight).length, 1);
    for (const outcome of results.outcomes.filter(Either.isLeft)) assert.equal(outcome.left.reason, "wrong_expected_version");
    assert.equal(results.onA.length, 1);
    assert.deepEqual(results.onB, results.onA);
  });

  it("worker threads (truly parallel connections) racing no_stream appends: exactly one wins", async () => {
    const path = freshPath();
    const stream = `workers-${randomUUID()}`;
    const gate = new SharedArrayBuffer(4);
    // Each worker opens its own store (so opening and migrating race too), waits at the
    // gate, then appends; they run in parallel, unlike fibers on one thread.
    const source = `
      const { parentPort, workerData } = require("node:worker_threads");
      (async () => {
        const { Effect } = await import(workerData.effectUrl);
        const { makeSqliteEventStore } = await import(workerData.storeUrl);
        const program = Effect.flatMap(makeSqliteEventStore({ path: workerData.path }), (store) => {
          parentPort.postMessage("ready");
          Atomics.wait(new Int32Array(workerData.gate), 0, 0, 10000);
          const event = { id: crypto.randomUUID(), type: "WorkerRaced.v1", data: {} };
          return Effect.either(store.append(workerData.stream, [event], "no_stream"));
        });
        const outcome = await Effect.runPromise(Effect.scoped(program));
        parentPort.postMessage(outcome._tag === "Right" ? "won" : outcome.left.reason);
      })().catch((error) => parentPort.postMessage("crashed: " + String(error)));
    `;
    const workerData = {
      path,
      stream,
      gate,
      effectUrl: import.meta.resolve("effect"),
      storeUrl: new URL("../../src/events/sqlite/SqliteEventStore.ts", import.meta.url).href,
    };
    const workers = Array.from({ length: 4 }, () => new Worker(source, { eval: true, workerData }));
    try {
      const outcomes = workers.map(
        (worker) =>
          new Promise<{ ready: Promise<void>; outcome: Promise<string> }>((resolve) => {
            let ready!: () => void;
            const readyPromise = new Promise<void>((r) => (ready = r));
            const outcome = new Promise<string>((settle, reject) => {
              worker.on("message", (message: string) => (message === "ready" ? ready() : settle(message)));
              worker.once("error", reject);
            });
            resolve({ ready: readyPromise, outcome });
          }),
      );
      const handles = await Promise.all(outcomes);
      await Promise.all(handles.map((handle) => handle.ready));
      const flag = new Int32Array(gate);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);
      const results = await Promise.all(handles.map((handle) => handle.outcome));
      assert.deepEqual(results.toSorted(), ["won", "wrong_expected_version", "wrong_expected_version", "wrong_expected_version"]);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
    const read = await Effect.runPromise(
      Effect.provide(
        Effect.flatMap(EventStore, (store) => store.readStream(stream)),
        SqliteEventStore.layer({ path }),
      ),
    );
    assert.equal(read.length, 1);
  });

  it("a subscription on instance B sees appends made through instance A (poll path)", async () => {
    const path = freshPath();
    const stream = `poll-${randomUUID()}`;
    const delivered = await scoped(
      Effect.gen(function* () {
        const a = yield* makeSqliteEventStore({ path });
        const b = yield* makeSqliteEventStore({ path, pollIntervalMs: 20 });
        const first = yield* a.append(stream, [newEvent()], "no_stream");
        const caughtUp = yield* Deferred.make<void>();
        const subscriber = yield* b.subscribeAll({ after: first.position - 1 }).pipe(
          Stream.filter((event) => event.stream === stream),
          Stream.tap((event) => (event.revision === 0 ? Deferred.succeed(caughtUp, undefined) : Effect.void)),
          Stream.take(3),
          Stream.runCollect,
          Effect.timeout("5 seconds"),
          Effect.fork,
        );
        yield* Deferred.await(caughtUp).pipe(Effect.timeout("5 seconds"));
        yield* a.append(stream, [newEvent()], { revision: 0 });
        yield* a.append(stream, [newEvent()], { revision: 1 });
        return Array.from(yield* Fiber.join(subscriber));
      }),
    );
    assert.deepEqual(delivered.map((event) => event.revision), [0, 1, 2]);
  });

  it("a caught-up subscription is woken by a commit on the same instance, not by the poll timer", async () => {
    const path = freshPath();
    const stream = `notify-${randomUUID()}`;
    const started = Date.now();
    const delivered = await scoped(
      Effect.gen(function* () {
        // A poll this slow would time the test out: only the in-process signal can deliver.
        const store = yield* makeSqliteEventStore({ path, pollIntervalMs: 60_000 });
        const first = yield* store.append(stream, [newEvent()], "no_stream");
        const caughtUp = yield* Deferred.make<void>();
        const subscriber = yield* store.subscribeAll({ after: first.position - 1 }).pipe(
          Stream.tap(() => Deferred.succeed(caughtUp, undefined)),
          Stream.take(3),
          Stream.runCollect,
          Effect.timeout("5 seconds"),
          Effect.fork,
        );
        yield* Deferred.await(caughtUp).pipe(Effect.timeout("5 seconds"));
        yield* store.append(stream, [newEvent()], { revision: 0 });
        yield* Effect.sleep("20 millis");
        yield* store.append(stream, [newEvent()], { revision: 1 });
        return Array.from(yield* Fiber.join(subscriber));
      }),
    );
    assert.deepEqual(delivered.map((event) => event.revision), [0, 1, 2]);
    // Well under the poll interval; the interrupted 60 s timer must not keep the process alive either.
    assert.ok(Date.now() - started < 5_000);
  });

  it("another connection's exclusive lock makes append and ping unavailable (retryable); append succeeds once it is released", async () => {
    const path = freshPath();
    const stream = `locked-${randomUUID()}`;
    await scoped(
      Effect.gen(function* () {
        const store = yield* makeSqliteEventStore({ path, busyTimeoutMs: 50 });
        const other = new DatabaseSync(path);
        yield* Effect.addFinalizer(() => Effect.sync(() => other.close()));
        other.exec("BEGIN EXCLUSIVE");
        other
          .prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, 0, 'Locker.v1', '{}', '{}', ?)")
          .run(randomUUID(), `locker-${randomUUID()}`, new Date().toISOString());

        const refused = yield* failureOf(store.append(stream, [newEvent()], "no_stream"));
        assert.equal(refused.reason, "unavailable");
        assert.equal(refused.isRetryable, true);
        assert.match(refused.message, /database is locked/);
        assert.equal((yield* failureOf(store.ping)).reason, "unavailable");
        // WAL readers are not blocked by the writer.
        assert.deepEqual(yield* store.readStream(stream), []);

        other.exec("ROLLBACK");
        const accepted = yield* store.append(stream, [newEvent()], "no_stream");
        assert.equal(accepted.revision, 0);
        yield* store.ping;
      }),
    );
  });

  it("a concurrent writer taking the revision (UNIQUE(stream, revision)) is wrong_expected_version and rolls back", async () => {
    const path = freshPath();
    const stream = `unique-${randomUUID()}`;
    const intruder = randomUUID();
    await scoped(openSqliteEventDatabase({ path }));
    // The trigger plays a writer that slipped in between our read and our insert.
    const other = new DatabaseSync(path);
    other.exec(`CREATE TRIGGER intrude BEFORE INSERT ON events WHEN NEW.event_id <> '${intruder}' BEGIN
      INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at)
      VALUES ('${intruder}', NEW.stream, NEW.revision, 'Intruder.v1', '{}', '{}', '2000-01-01T00:00:00.000Z'); END`);
    const first = newEvent();
    await scoped(
      Effect.gen(function* () {
        const store = yield* makeSqliteEventStore({ path });
        const error = yield* failureOf(store.append(stream, [first], "no_stream"));
        assert.equal(error.reason, "wrong_expected_version");
        assert.equal(error.stream, stream);
        assert.deepEqual(yield* store.readStream(stream), []);
        other.exec("DROP TRIGGER intrude");
        assert.equal((yield* store.append(stream, [first], "no_stream")).revision, 0);
      }),
    ).finally(() => other.close());
  });

  it("a row whose JSON does not parse is corrupt for readStream, readAll and subscribeAll", async () => {
    const path = freshPath();
    const stream = `corrupt-${randomUUID()}`;
    await scoped(
      Effect.gen(function* () {
        const store = yield* makeSqliteEventStore({ path });
        const written = yield* store.append(stream, [newEvent()], "no_stream");
        const other = new DatabaseSync(path);
        other.prepare("UPDATE events SET data = '{not json' WHERE stream = ?").run(stream);
        other.close();
        const reads: ReadonlyArray<Effect.Effect<unknown, EventStoreError>> = [
          store.readStream(stream),
          store.readAll({ after: written.position - 1 }),
          Stream.runCollect(Stream.take(store.subscribeAll({ after: written.position - 1 }), 1)),
        ];
        for (const read of reads) {
          const error = yield* failureOf(read);
          assert.equal(error.reason, "corrupt");
          assert.equal(error.isRetryable, false);
        }
      }),
    );
  });

  it("readAll caps limit at 10000", async () => {
    const path = freshPath();
    const stream = `cap-${randomUUID()}`;
    const page = await scoped(
      Effect.gen(function* () {
        const store = yield* makeSqliteEventStore({ path });
        yield* store.append(stream, Array.from({ length: READ_ALL_MAX_LIMIT + 1 }, () => newEvent()), "no_stream");
        return yield* store.readAll({ limit: 50_000 });
      }),
    );
    assert.equal(page.length, READ_ALL_MAX_LIMIT);
  });

  it("after its scope closes the store answers unavailable", async () => {
    const store = await scoped(makeSqliteEventStore({ path: freshPath() }));
    for (const effect of [store.append(`closed-${randomUUID()}`, [newEvent()], "any"), store.readAll(), store.ping]) {
      const error = await Effect.runPromise(failureOf(effect));
      assert.equal(error.reason, "unavailable");
    }
  });

  it("a file that is not a database is corrupt", async () => {
    const path = freshPath();
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, "x".repeat(4096));
    const error = await scoped(failureOf(openSqliteEventDatabase({ path })));
    assert.equal(error.reason, "corrupt");
  });
});
