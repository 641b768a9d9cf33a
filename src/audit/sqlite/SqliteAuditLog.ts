/**
 * SqliteAuditLog: the AuditLog port in SQLite. With the default SQLite event store the
 * records live in the same file as the events (tables `audit_records` and
 * `audit_lease`), so one file is the whole evidence; with another store they go to
 * `$ZT_DATA_DIR/audit.db`. Connection handling and driver-error translation are the
 * event store adapter's.
 */
import type { DatabaseSync, SQLOutputValue } from "node:sqlite";
import { Effect, Layer } from "effect";
import type { EventStoreError } from "../../events/EventStore.ts";
import { attempt, openSqliteEventDatabase, rollbackQuietly } from "../../events/sqlite/SqliteEventStore.ts";
import type { AuditRecord } from "../AuditRecord.ts";
import { AuditLog, AuditLogError, type AuditLogShape } from "../AuditLog.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS audit_records (
  seq INTEGER PRIMARY KEY,
  position INTEGER NOT NULL UNIQUE,
  event_id TEXT NOT NULL UNIQUE,
  event_type TEXT NOT NULL,
  event_hash TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL,
  key_id TEXT NOT NULL,
  signature TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS audit_lease (
  name TEXT PRIMARY KEY,
  owner TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);`;

const COLUMNS = "seq, position, event_id, event_type, event_hash, prev_hash, hash, key_id, signature";
const READ_DEFAULT_LIMIT = 1000;
const READ_MAX_LIMIT = 10_000;

function toAuditLogError(error: EventStoreError): AuditLogError {
  return new AuditLogError({ reason: error.reason === "corrupt" ? "corrupt" : error.reason === "unavailable" ? "unavailable" : "conflict", message: error.message });
}

function decodeRow(row: Record<string, SQLOutputValue>): AuditRecord | undefined {
  const text = (key: string) => (typeof row[key] === "string" ? (row[key] as string) : undefined);
  const int = (key: string) => (typeof row[key] === "number" || typeof row[key] === "bigint" ? Number(row[key]) : undefined);
  const record = {
    seq: int("seq"),
    position: int("position"),
    event_id: text("event_id"),
    event_type: text("event_type"),
    event_hash: text("event_hash"),
    prev_hash: text("prev_hash"),
    hash: text("hash"),
    key_id: text("key_id"),
    signature: text("signature"),
  };
  return Object.values(record).some((value) => value === undefined) ? undefined : (record as AuditRecord);
}

export function makeSqliteAuditLog(db: DatabaseSync): Effect.Effect<AuditLogShape, AuditLogError> {
  return Effect.gen(function* () {
    const run = <A>(operation: string, body: () => A) => attempt(operation, undefined, body).pipe(Effect.mapError(toAuditLogError));
    yield* run("audit schema", () => db.exec(SCHEMA));
    const sql = yield* run("audit prepare", () => ({
      begin: db.prepare("BEGIN IMMEDIATE"),
      commit: db.prepare("COMMIT"),
      rollback: db.prepare("ROLLBACK"),
      head: db.prepare(`SELECT ${COLUMNS} FROM audit_records ORDER BY seq DESC LIMIT 1`),
      headSeq: db.prepare("SELECT MAX(seq) AS seq FROM audit_records"),
      insert: db.prepare(`INSERT INTO audit_records (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      read: db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE seq > ? ORDER BY seq LIMIT ?`),
      byEventId: db.prepare(`SELECT ${COLUMNS} FROM audit_records WHERE event_id = ?`),
      lease: db.prepare("SELECT owner, expires_at FROM audit_lease WHERE name = 'projection'"),
      upsertLease: db.prepare("INSERT INTO audit_lease (name, owner, expires_at) VALUES ('projection', ?, ?) ON CONFLICT(name) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at"),
      deleteLease: db.prepare("DELETE FROM audit_lease WHERE name = 'projection' AND owner = ?"),
    }));

    const decode = (row: Record<string, SQLOutputValue> | undefined): Effect.Effect<AuditRecord | undefined, AuditLogError> => {
      if (row === undefined) return Effect.succeed(undefined);
      const record = decodeRow(row);
      return record === undefined ? Effect.fail(new AuditLogError({ reason: "corrupt", message: "an audit record row has a missing or mistyped column" })) : Effect.succeed(record);
    };

    /** One synchronous write transaction; `body` returns a refusal to roll back with. */
    const transaction = (operation: string, body: () => AuditLogError | undefined) =>
      run(operation, () => {
        sql.begin.run();
        try {
          const refused = body();
          if (refused) {
            sql.rollback.run();
            return refused;
          }
          sql.commit.run();
          return undefined;
        } catch (error) {
          rollbackQuietly(db, sql.rollback);
          throw error;
        }
      }).pipe(Effect.flatMap((refused) => (refused ? Effect.fail(refused) : Effect.void)));

    return {
      head: run("audit head", () => sql.head.get()).pipe(Effect.flatMap(decode)),
      append: (records, expectedHeadSeq) =>
        transaction("audit append", () => {
          const current = Number((sql.headSeq.get() as { seq: number | null } | undefined)?.seq ?? 0);
          if (current !== expectedHeadSeq) {
            return new AuditLogError({ reason: "conflict", message: `audit head is at seq ${current}, expected ${expectedHeadSeq}` });
          }
          for (const r of records) sql.insert.run(r.seq, r.position, r.event_id, r.event_type, r.event_hash, r.prev_hash, r.hash, r.key_id, r.signature);
          return undefined;
        }),
      read: ({ afterSeq, limit }) =>
        run("audit read", () => sql.read.all(afterSeq, Math.min(Math.max(1, limit ?? READ_DEFAULT_LIMIT), READ_MAX_LIMIT))).pipe(
          Effect.flatMap((rows) => Effect.forEach(rows, (row) => decode(row))),
          Effect.map((records) => records.filter((r): r is AuditRecord => r !== undefined)),
        ),
      byEventId: (eventId) => run("audit lookup", () => sql.byEventId.get(eventId)).pipe(Effect.flatMap(decode)),
      acquireLease: (owner, now, ttlMs) =>
        run("audit lease", () => {
          sql.begin.run();
          try {
            const lease = sql.lease.get() as { owner: string; expires_at: number } | undefined;
            const held = lease === undefined || lease.owner === owner || Number(lease.expires_at) <= now;
            if (held) sql.upsertLease.run(owner, now + ttlMs);
            sql.commit.run();
            return held;
          } catch (error) {
            rollbackQuietly(db, sql.rollback);
            throw error;
          }
        }),
      releaseLease: (owner) => run("audit lease release", () => void sql.deleteLease.run(owner)),
    } satisfies AuditLogShape;
  });
}

export const SqliteAuditLog = {
  /** The audit log in the SQLite file at `path` (the event store's own file by default). */
  layer: (options: { readonly path: string; readonly busyTimeoutMs?: number }): Layer.Layer<AuditLog, AuditLogError> =>
    Layer.scoped(
      AuditLog,
      openSqliteEventDatabase(options).pipe(Effect.mapError(toAuditLogError), Effect.flatMap(makeSqliteAuditLog)),
    ),
} as const;
