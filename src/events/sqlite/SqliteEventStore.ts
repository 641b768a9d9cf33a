/**
 * SqliteEventStore: the EventStore port on one SQLite file through `node:sqlite`
 * (`DatabaseSync`), which Node 24 and Deno 2 both provide.
 *
 * - Durability: WAL; an append's Effect succeeds only once its events are on disk. The
 *   connection commits with `synchronous=NORMAL` and the WAL is fsynced after the commit
 *   on libuv's thread pool (walSync.ts), so the event loop goes on deciding while the
 *   disk syncs; `:memory:` stores have nothing to sync. An append asked to be answered on
 *   commit (AppendOptions) is answered before the sync, which a later append's covers.
 * - Atomicity and concurrency: an append is its own savepoint inside a synchronous
 *   `BEGIN IMMEDIATE` ... `COMMIT`, so nothing interleaves within a process; across
 *   processes the write lock taken by `BEGIN IMMEDIATE` serialises writers and
 *   `UNIQUE(stream, revision)` backs it.
 * - Group commit: appends made in the same turn of the event loop are queued and
 *   committed together at its end (one transaction, one fsync), each checked against
 *   its expected state in order and answered only after the COMMIT. A refused append
 *   (wrong expected state, duplicate event id) rolls back to its savepoint and leaves
 *   the others in; a failed COMMIT fails them all. Under load this shares the fsync
 *   between concurrent requests; alone, an append waits for nothing but its own commit.
 * - Global order: `position` is an AUTOINCREMENT rowid assigned under the write lock, so
 *   positions become visible in commit order and a reader never sees a gap.
 * - The driver is synchronous: a busy wait (`busyTimeoutMs`) blocks the event loop.
 */
import { closeSync, mkdirSync, openSync } from "node:fs";
import { dirname } from "node:path";
import { setImmediate } from "node:timers";
import { DatabaseSync, type SQLOutputValue, type StatementSync } from "node:sqlite";
import { Chunk, Effect, Layer, Option, PubSub, Queue, type Scope, Stream } from "effect";
import {
  EventStore,
  EventStoreError,
  type AppendResult,
  type EventStoreShape,
  type ExpectedState,
  type RecordedEvent,
  type StreamAppend,
} from "../EventStore.ts";
import { decodeJsonObject, encodeEventBatch, type EncodedEvent } from "../encodeEventBatch.ts";
import { makeWalSyncer } from "./walSync.ts";

export interface SqliteEventStoreOptions {
  /** Database file; its parent directory is created when missing (`:memory:`: a private store without WAL). */
  readonly path: string;
  /** How long a write waits for another connection's lock before `unavailable` (default 5000). */
  readonly busyTimeoutMs?: number;
  /** How often a caught-up subscription looks for appends made by other connections (default 250). */
  readonly pollIntervalMs?: number;
  /** The sync of the write-ahead log (default fdatasync); tests hold it to see what waits for it. */
  readonly walSync?: (fd: number, done: (error: Error | null) => void) => void;
}

export const SCHEMA_VERSION = 1;
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;
export const DEFAULT_POLL_INTERVAL_MS = 250;
export const READ_ALL_DEFAULT_LIMIT = 1000;
export const READ_ALL_MAX_LIMIT = 10000;

const SCHEMA_V1 = `
CREATE TABLE IF NOT EXISTS events (
  position INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id TEXT NOT NULL UNIQUE,
  stream TEXT NOT NULL,
  revision INTEGER NOT NULL,
  type TEXT NOT NULL,
  data TEXT NOT NULL,
  metadata TEXT NOT NULL,
  recorded_at TEXT NOT NULL,
  UNIQUE (stream, revision)
)`;

const COLUMNS = "position, event_id, stream, revision, type, data, metadata, recorded_at";

// --- driver errors -------------------------------------------------------------------

/** SQLite primary result codes (https://sqlite.org/rescode.html) this adapter tells apart. */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_NOMEM = 7;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_PROTOCOL = 15;
const SQLITE_CONSTRAINT = 19;
const SQLITE_NOTADB = 26;

/**
 * `sqlite3_errstr` of each code above. Node always sets `errcode`/`errstr` on
 * ERR_SQLITE_ERROR; Deno only does for prepared statements, and its `exec` and
 * constructor errors carry just the message, so the code is recovered from it.
 */
const SQLITE_ERRSTR: ReadonlyArray<readonly [number, string]> = [
  [SQLITE_BUSY, "database is locked"],
  [SQLITE_LOCKED, "database table is locked"],
  [SQLITE_NOMEM, "out of memory"],
  [SQLITE_READONLY, "attempt to write a readonly database"],
  [SQLITE_IOERR, "disk I/O error"],
  [SQLITE_CORRUPT, "database disk image is malformed"],
  [SQLITE_FULL, "database or disk is full"],
  [SQLITE_CANTOPEN, "unable to open database file"],
  [SQLITE_PROTOCOL, "locking protocol"],
  [SQLITE_CONSTRAINT, "constraint failed"],
  [SQLITE_NOTADB, "file is not a database"],
];

const UNAVAILABLE_CODES: ReadonlySet<number> = new Set([
  SQLITE_BUSY,
  SQLITE_LOCKED,
  SQLITE_NOMEM,
  SQLITE_READONLY,
  SQLITE_IOERR,
  SQLITE_FULL,
  SQLITE_CANTOPEN,
  SQLITE_PROTOCOL,
]);

type DriverFailure =
  | { readonly kind: "sqlite"; readonly code: number | undefined; readonly text: string; readonly message: string }
  | { readonly kind: "closed" };

/** Recognises errors thrown by node:sqlite; anything else is a defect and is left alone. */
function driverFailure(error: unknown): DriverFailure | undefined {
  if (!(error instanceof Error) || !("code" in error)) return undefined;
  if (error.code === "ERR_INVALID_STATE") return { kind: "closed" };
  if (error.code !== "ERR_SQLITE_ERROR") return undefined;
  const errcode = "errcode" in error && typeof error.errcode === "number" ? error.errcode : undefined;
  const errstr = "errstr" in error && typeof error.errstr === "string" ? error.errstr : undefined;
  const known = errcode === undefined
    ? SQLITE_ERRSTR.find(([, text]) => error.message.includes(text))
    : SQLITE_ERRSTR.find(([code]) => code === (errcode & 0xff));
  const code = errcode === undefined ? known?.[0] : errcode & 0xff;
  // Only the generic errstr goes into our messages: the driver's message can carry paths.
  const text = errstr ?? known?.[1] ?? (error.message.startsWith("UNIQUE constraint failed") ? "constraint failed" : "SQL error");
  return { kind: "sqlite", code, text, message: error.message };
}

/**
 * The error boundary: driver errors become EventStoreError reasons. Statements bind
 * every value as a parameter, so no message here can carry event data.
 */
function translate(operation: string, stream: string | undefined, error: unknown): EventStoreError | undefined {
  const failure = driverFailure(error);
  if (failure === undefined) return undefined;
  const withStream = stream === undefined ? {} : { stream };
  if (failure.kind === "closed") {
    return new EventStoreError({ reason: "unavailable", message: `SQLite ${operation} failed: the database is closed`, ...withStream });
  }
  if (failure.code === SQLITE_CONSTRAINT && failure.message.includes("events.event_id")) {
    return new EventStoreError({ reason: "invalid_event", message: "an event id is already in the store", ...withStream });
  }
  if (failure.code === SQLITE_CONSTRAINT && failure.message.includes("events.stream, events.revision")) {
    return new EventStoreError({
      reason: "wrong_expected_version",
      message: "the stream was appended to concurrently",
      ...withStream,
    });
  }
  if (failure.code === SQLITE_CORRUPT || failure.code === SQLITE_NOTADB) {
    return new EventStoreError({ reason: "corrupt", message: `SQLite ${operation} failed: ${failure.text}`, ...withStream });
  }
  // Busy, locked, I/O, full, read-only, and anything unrecognised: the store cannot serve.
  const detail = failure.code !== undefined && UNAVAILABLE_CODES.has(failure.code) ? failure.text : `unexpected SQLite error: ${failure.text}`;
  return new EventStoreError({ reason: "unavailable", message: `SQLite ${operation} failed: ${detail}`, ...withStream });
}

/** Runs synchronous driver code; driver errors fail with EventStoreError, other throws are defects. */
export function attempt<A>(operation: string, stream: string | undefined, run: () => A): Effect.Effect<A, EventStoreError> {
  return Effect.suspend(() => {
    try {
      return Effect.succeed(run());
    } catch (error) {
      const translated = translate(operation, stream, error);
      return translated === undefined ? Effect.die(error) : Effect.fail(translated);
    }
  });
}

// --- expected state --------------------------------------------------------------------

function describeExpected(expected: ExpectedState): string {
  return typeof expected === "object" ? `revision ${String(expected.revision)}` : expected;
}

function satisfies(expected: ExpectedState, current: number | undefined): boolean {
  if (expected === "any") return true;
  if (expected === "no_stream") return current === undefined;
  if (expected === "stream_exists") return current !== undefined;
  return current !== undefined && current === expected.revision;
}

// --- row decoding ----------------------------------------------------------------------

function corrupt(message: string, stream?: string): EventStoreError {
  return new EventStoreError({ reason: "corrupt", message, ...(stream === undefined ? {} : { stream }) });
}

function decodeRow(row: Record<string, SQLOutputValue>): RecordedEvent | EventStoreError {
  const { position, event_id, stream, revision, type, data, metadata, recorded_at } = row;
  if (typeof position !== "number" || !Number.isSafeInteger(position)) return corrupt("an event row has no valid position");
  const at = `event at position ${position}`;
  if (
    typeof event_id !== "string" ||
    typeof stream !== "string" ||
    typeof revision !== "number" ||
    !Number.isSafeInteger(revision) ||
    typeof type !== "string" ||
    typeof data !== "string" ||
    typeof metadata !== "string" ||
    typeof recorded_at !== "string"
  ) {
    return corrupt(`${at} has a column of the wrong type`);
  }
  const decodedData = decodeJsonObject(data);
  if (decodedData === undefined) return corrupt(`${at} has data that is not a JSON object`, stream);
  const decodedMetadata = decodeJsonObject(metadata);
  if (decodedMetadata === undefined) return corrupt(`${at} has metadata that is not a JSON object`, stream);
  return {
    id: event_id,
    type,
    stream,
    revision,
    position,
    data: decodedData,
    metadata: decodedMetadata,
    recordedAt: recorded_at,
  };
}

function decodeRows(rows: ReadonlyArray<Record<string, SQLOutputValue>>): Effect.Effect<ReadonlyArray<RecordedEvent>, EventStoreError> {
  const events: Array<RecordedEvent> = [];
  for (const row of rows) {
    const decoded = decodeRow(row);
    if (decoded instanceof EventStoreError) return Effect.fail(decoded);
    events.push(decoded);
  }
  return Effect.succeed(events);
}

// --- options -----------------------------------------------------------------------------

/** Read options out of range are caller bugs, not store failures: they die. */
function nonNegativeInteger(name: string, value: number | undefined, fallback: number): Effect.Effect<number> {
  if (value === undefined) return Effect.succeed(fallback);
  return Number.isSafeInteger(value) && value >= 0
    ? Effect.succeed(value)
    : Effect.dieMessage(`SqliteEventStore: ${name} must be a non-negative integer`);
}

// --- opening -------------------------------------------------------------------------------

interface Statements {
  readonly begin: StatementSync;
  readonly commit: StatementSync;
  readonly rollback: StatementSync;
  readonly savepoint: StatementSync;
  readonly release: StatementSync;
  readonly rollbackToSavepoint: StatementSync;
  readonly lastRevision: StatementSync;
  readonly insert: StatementSync;
  readonly readStream: StatementSync;
  readonly readAll: StatementSync;
  readonly select1: StatementSync;
}

function pragmaValue(db: DatabaseSync, pragma: string): SQLOutputValue | undefined {
  const row = db.prepare(`PRAGMA ${pragma}`).get();
  return row === undefined ? undefined : Object.values(row)[0];
}

export function rollbackQuietly(db: DatabaseSync, rollback: StatementSync): void {
  try {
    if (db.isOpen && db.isTransaction) rollback.run();
  } catch {
    // SQLite may already have rolled back (e.g. after an I/O error); the original error wins.
  }
}

/** Applies pragmas and the schema; throws driver errors, returns a failure for states it refuses. */
function configure(db: DatabaseSync, busyTimeoutMs: number, path: string): EventStoreError | undefined {
  db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
  const journal = pragmaValue(db, "journal_mode = WAL");
  if (journal !== "wal" && path !== ":memory:") {
    return new EventStoreError({ reason: "unavailable", message: `SQLite open failed: could not enable WAL (journal_mode is ${String(journal)})` });
  }
  db.exec("PRAGMA synchronous = FULL");
  db.exec("PRAGMA foreign_keys = ON");
  const current = pragmaValue(db, "user_version");
  if (current === SCHEMA_VERSION) return undefined;
  // Another process may be creating the schema at the same time: migrate under the write lock.
  const begin = db.prepare("BEGIN IMMEDIATE");
  const commit = db.prepare("COMMIT");
  const rollback = db.prepare("ROLLBACK");
  begin.run();
  try {
    const locked = pragmaValue(db, "user_version");
    if (locked === 0) {
      db.exec(SCHEMA_V1);
      db.exec(`PRAGMA user_version = ${SCHEMA_VERSION}`);
    } else if (locked !== SCHEMA_VERSION) {
      rollback.run();
      return new EventStoreError({
        reason: "unavailable",
        message: `SQLite open failed: schema version ${String(locked)} is not ${SCHEMA_VERSION}, the version this build supports`,
      });
    }
    commit.run();
    return undefined;
  } catch (error) {
    rollbackQuietly(db, rollback);
    throw error;
  }
}

function prepareStatements(db: DatabaseSync): Statements {
  return {
    begin: db.prepare("BEGIN IMMEDIATE"),
    commit: db.prepare("COMMIT"),
    rollback: db.prepare("ROLLBACK"),
    savepoint: db.prepare("SAVEPOINT zt_append"),
    release: db.prepare("RELEASE zt_append"),
    rollbackToSavepoint: db.prepare("ROLLBACK TO zt_append"),
    lastRevision: db.prepare("SELECT revision FROM events WHERE stream = ? ORDER BY revision DESC LIMIT 1"),
    insert: db.prepare(
      "INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    ),
    readStream: db.prepare(`SELECT ${COLUMNS} FROM events WHERE stream = ? AND revision >= ? ORDER BY revision LIMIT ?`),
    readAll: db.prepare(`SELECT ${COLUMNS} FROM events WHERE position > ? ORDER BY position LIMIT ?`),
    select1: db.prepare("SELECT 1 AS ok"),
  };
}

/**
 * Opens the store's file (creating its directory), applies the pragmas and the schema;
 * the connection closes when the scope does. Fails `unavailable` when the file cannot be
 * opened or locked, `corrupt` when it is not a database.
 */
export const openSqliteEventDatabase = (
  options: Pick<SqliteEventStoreOptions, "path" | "busyTimeoutMs">,
): Effect.Effect<DatabaseSync, EventStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const { path } = options;
    const busyTimeoutMs = yield* nonNegativeInteger("busyTimeoutMs", options.busyTimeoutMs, DEFAULT_BUSY_TIMEOUT_MS);
    // The log holds every request: the file (and the WAL and shared-memory files SQLite
    // creates beside it, which take its mode) is private to this user from the start, as
    // is a directory created for it (contract section 7).
    yield* Effect.try({
      try: () => {
        if (path === ":memory:") return;
        mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
        try {
          closeSync(openSync(path, "wx", 0o600));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
        }
      },
      catch: () => new EventStoreError({ reason: "unavailable", message: "SQLite open failed: cannot create the database file or its directory" }),
    });
    const db = yield* Effect.acquireRelease(
      attempt("open", undefined, () => new DatabaseSync(path)),
      (db) =>
        Effect.sync(() => {
          if (db.isOpen) db.close();
        }),
    );
    const refused = yield* attempt("open", undefined, () => configure(db, busyTimeoutMs, path));
    if (refused !== undefined) return yield* Effect.fail(refused);
    return db;
  });

// --- the store -----------------------------------------------------------------------------

type Decision = { readonly ok: ReadonlyArray<AppendResult> } | { readonly refused: EventStoreError };

/** One stream's part of a queued append, its events already encoded. */
interface EncodedAppend {
  readonly stream: string;
  readonly events: ReadonlyArray<EncodedEvent>;
  readonly expected: ExpectedState;
}

/** An append (one stream, or several together) waiting for the end of this turn's group commit. */
interface QueuedAppend {
  readonly parts: ReadonlyArray<EncodedAppend>;
  readonly recordedAt: string;
  /** Answered after the commit, before its sync (AppendOptions). */
  readonly answerOnCommit: boolean;
  readonly resume: (answer: Effect.Effect<ReadonlyArray<AppendResult>, EventStoreError>) => void;
}

/** Appends one group commit takes at most; the rest wait for the next turn. */
export const MAX_GROUP_COMMIT = 256;

/** Opens (creating when needed) the store file; the database closes when the scope does. */
export const makeSqliteEventStore = (
  options: SqliteEventStoreOptions,
): Effect.Effect<EventStoreShape, EventStoreError, Scope.Scope> =>
  Effect.gen(function* () {
    const pollIntervalMs = yield* nonNegativeInteger("pollIntervalMs", options.pollIntervalMs, DEFAULT_POLL_INTERVAL_MS);
    if (pollIntervalMs === 0) return yield* Effect.dieMessage("SqliteEventStore: pollIntervalMs must be positive");
    const db = yield* openSqliteEventDatabase(options);
    const sql = yield* attempt("open", undefined, () => prepareStatements(db));
    // Commits are made durable by the WAL syncer, off the event loop (walSync.ts), instead
    // of inside COMMIT. Checkpoints are left to the audit writer's connection, which
    // commits with synchronous=FULL after every batch; this one checkpoints only as a
    // backstop (40 MB of WAL), so a checkpoint's copy and syncs rarely land on a request.
    const syncer = options.path === ":memory:" ? undefined : makeWalSyncer(`${options.path}-wal`, options.walSync);
    if (syncer !== undefined) {
      yield* attempt("open", undefined, () => {
        db.exec("PRAGMA synchronous = NORMAL");
        db.exec("PRAGMA wal_autocheckpoint = 10000");
      });
      yield* Effect.addFinalizer(() => Effect.sync(syncer.close));
    }
    // Wakes this instance's subscriptions after each commit; sliding(1) because one
    // pending "something changed" is as good as many.
    const commits = yield* Effect.acquireRelease(PubSub.sliding<void>(1), PubSub.shutdown);

    const lastRevisionOf = (stream: string): number | undefined => {
      const row = sql.lastRevision.get(stream);
      const revision = row?.["revision"];
      return typeof revision === "number" ? revision : undefined;
    };

    /** One queued append inside the open transaction, as its own savepoint: all its parts applied, or refused and undone. */
    const appendInGroup = (item: QueuedAppend): Decision => {
      let stream = item.parts[0]?.stream;
      sql.savepoint.run();
      try {
        const results: AppendResult[] = [];
        for (const part of item.parts) {
          stream = part.stream;
          // The group's earlier appends (and this one's earlier parts) are visible here: they are in this same transaction.
          const current = lastRevisionOf(part.stream);
          if (!satisfies(part.expected, current)) {
            sql.rollbackToSavepoint.run();
            sql.release.run();
            const found = current === undefined ? "the stream does not exist" : `the stream is at revision ${current}`;
            return { refused: new EventStoreError({ reason: "wrong_expected_version", message: `expected ${describeExpected(part.expected)} but ${found}`, stream: part.stream }) };
          }
          let revision = current ?? -1;
          let position = 0;
          for (const event of part.events) {
            revision += 1;
            const result = sql.insert.run(event.id, part.stream, revision, event.type, event.data, event.metadata, item.recordedAt);
            position = Number(result.lastInsertRowid);
          }
          results.push({ revision, position });
        }
        sql.release.run();
        return { ok: results };
      } catch (error) {
        const refused = translate("append", stream, error);
        // Only what the store refuses of this append alone (a duplicate event id, a revision
        // taken meanwhile) is undone alone; anything else ends the group.
        if (refused === undefined || (refused.reason !== "invalid_event" && refused.reason !== "wrong_expected_version")) throw error;
        sql.rollbackToSavepoint.run();
        sql.release.run();
        return { refused };
      }
    };

    const queue: QueuedAppend[] = [];
    let flushScheduled = false;

    /** Commits every queued append in one transaction, then answers each. */
    const flush = () => {
      flushScheduled = false;
      const group = queue.splice(0, MAX_GROUP_COMMIT);
      if (queue.length > 0) scheduleFlush();
      if (group.length === 0) return;
      let decisions: Decision[];
      try {
        sql.begin.run();
        try {
          decisions = group.map(appendInGroup);
          sql.commit.run();
        } catch (error) {
          rollbackQuietly(db, sql.rollback);
          throw error;
        }
      } catch (error) {
        for (const item of group) {
          const failure = translate("append", item.parts[0]?.stream, error);
          item.resume(failure === undefined ? Effect.die(error) : Effect.fail(failure));
        }
        return;
      }
      const answer = (onCommit: boolean) => {
        group.forEach((item, i) => {
          if (item.answerOnCommit !== onCommit) return;
          const decision = decisions[i]!;
          item.resume("refused" in decision ? Effect.fail(decision.refused) : Effect.succeed(decision.ok));
        });
      };
      const answerAll = () => {
        answer(true);
        answer(false);
        Effect.runSync(PubSub.publish(commits, undefined));
      };
      if (syncer === undefined) return answerAll();
      // Every other answer of the group, refusals included, waits until the commit is
      // durable: a refusal may rest on an append of this group that a crash would take back.
      answer(true);
      syncer.durable().then(
        () => {
          answer(false);
          Effect.runSync(PubSub.publish(commits, undefined));
        },
        () => {
          for (const item of group) if (!item.answerOnCommit) item.resume(Effect.fail(syncFailed(item.parts[0]?.stream)));
        },
      );
    };

    const syncFailed = (stream?: string) =>
      new EventStoreError({
        reason: "unavailable",
        message: "SQLite append failed: the write-ahead log could not be synced to disk; the store takes no more writes until it is reopened",
        ...(stream === undefined ? {} : { stream }),
      });

    function scheduleFlush(): void {
      if (flushScheduled) return;
      flushScheduled = true;
      setImmediate(flush);
    }

    // On the request path: one suspend and one async, no generator; subscribers are woken once per group commit.
    const appendAll = (appends: ReadonlyArray<StreamAppend>, answerOnCommit: boolean): Effect.Effect<ReadonlyArray<AppendResult>, EventStoreError> =>
      Effect.suspend(() => {
        if (appends.length === 0) return Effect.fail(new EventStoreError({ reason: "invalid_event", message: "an append names no stream" }));
        const parts: EncodedAppend[] = [];
        for (const { stream, events, expected } of appends) {
          const encoded = encodeEventBatch(stream, events);
          if (encoded instanceof EventStoreError) return Effect.fail(encoded);
          parts.push({ stream, events: encoded, expected });
        }
        if (syncer?.failure() !== undefined) return Effect.fail(syncFailed(appends[0]!.stream));
        return Effect.clockWith((clock) =>
          Effect.async<ReadonlyArray<AppendResult>, EventStoreError>((resume) => {
            const recordedAt = new Date(clock.unsafeCurrentTimeMillis()).toISOString();
            const item: QueuedAppend = { parts, recordedAt, answerOnCommit, resume };
            queue.push(item);
            scheduleFlush();
            // Interrupted before its group ran: it never reaches the store.
            return Effect.sync(() => {
              const index = queue.indexOf(item);
              if (index >= 0) queue.splice(index, 1);
            });
          }),
        );
      });

    const appendMany: EventStoreShape["appendMany"] = (appends) => appendAll(appends, false);
    const append: EventStoreShape["append"] = (stream, events, expected, options) =>
      Effect.map(appendAll([{ stream, events, expected }], options?.answerOnCommit === true), (results) => results[0]!);

    const readStream: EventStoreShape["readStream"] = (stream, options) =>
      Effect.gen(function* () {
        const fromRevision = yield* nonNegativeInteger("fromRevision", options?.fromRevision, 0);
        const limit = yield* nonNegativeInteger("limit", options?.limit, -1);
        const rows = yield* attempt("readStream", stream, () => sql.readStream.all(stream, fromRevision, limit));
        return yield* decodeRows(rows);
      });

    const readAllPage = (after: number, limit: number): Effect.Effect<ReadonlyArray<RecordedEvent>, EventStoreError> =>
      Effect.flatMap(
        attempt("readAll", undefined, () => sql.readAll.all(after, limit)),
        decodeRows,
      );

    const readAll: EventStoreShape["readAll"] = (options) =>
      Effect.gen(function* () {
        const after = yield* nonNegativeInteger("after", options?.after, 0);
        const limit = yield* nonNegativeInteger("limit", options?.limit, READ_ALL_DEFAULT_LIMIT);
        return yield* readAllPage(after, Math.min(limit, READ_ALL_MAX_LIMIT));
      });

    const subscribeAll: EventStoreShape["subscribeAll"] = (options) =>
      Stream.unwrapScoped(
        Effect.gen(function* () {
          const start = yield* nonNegativeInteger("after", options?.after, 0);
          const wake = yield* PubSub.subscribe(commits);
          // Subscribed before the first read, so a commit landing after any read leaves a
          // wake-up in the queue and the wait below cannot miss it; wake-ups from before the
          // read are drained as that read already covers them.
          const nextPage = (after: number) =>
            Effect.gen(function* () {
              for (;;) {
                yield* Queue.takeAll(wake);
                const page = yield* readAllPage(after, READ_ALL_DEFAULT_LIMIT);
                const last = page[page.length - 1];
                if (last !== undefined) return [Chunk.unsafeFromArray(page), Option.some(last.position)] as const;
                // Other processes do not signal us: poll as well. Interruption cancels the timer.
                yield* Effect.timeoutOption(Queue.take(wake), pollIntervalMs);
              }
            });
          return Stream.paginateChunkEffect(start, nextPage);
        }),
      );

    const ping: EventStoreShape["ping"] = Effect.suspend(() =>
      syncer?.failure() !== undefined
        ? Effect.fail(syncFailed())
        : attempt("ping", undefined, () => {
            sql.select1.get();
            // Writable means the write lock can be taken now (not read-only, not wedged).
            sql.begin.run();
            rollbackQuietly(db, sql.rollback);
          }),
    );

    return { append, appendMany, readStream, readAll, subscribeAll, ping } satisfies EventStoreShape;
  });

export const SqliteEventStore = {
  /** The EventStore on the SQLite file at `options.path`, open for the layer's lifetime. */
  layer: (options: SqliteEventStoreOptions): Layer.Layer<EventStore, EventStoreError> =>
    Layer.scoped(EventStore, makeSqliteEventStore(options)),
} as const;
