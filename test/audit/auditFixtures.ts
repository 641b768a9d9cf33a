/**
 * Shared fixtures of the audit tests: SQLite stores filled straight through
 * SqliteEventStore, file copies, plain node:sqlite reads (what an auditor or an attacker
 * with file access sees), bounded polling, `zt audit verify` and `zt project` as child
 * processes, and an in-process projection writer wired from the layers with a short
 * lease for the lease tests.
 */
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, writeFileSync } from "node:fs";
import { DatabaseSync, type SQLInputValue } from "node:sqlite";
import { Effect, Layer, ManagedRuntime } from "effect";
import { AuditLog, type AuditLogShape } from "../../src/audit/AuditLog.ts";
import { AuditProjector, auditProjectorLayer } from "../../src/audit/AuditProjector.ts";
import type { AuditRecord, AuditSigner } from "../../src/audit/AuditRecord.ts";
import { AuditTrail } from "../../src/audit/AuditTrail.ts";
import { SqliteAuditLog } from "../../src/audit/sqlite/SqliteAuditLog.ts";
import { EventStore, type JsonObject, type NewEvent } from "../../src/events/EventStore.ts";
import { SqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { publicKeyInfo, randomSeed, signingKeyFromSeed, type SigningKey } from "../../src/identity/KeyFile.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { effectLoggerLayer, makeLogSink } from "../../src/platform/Logging.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { REPO_ROOT } from "../support/harness.ts";
import { childEnv, runZt, stopChild, ZT_TS, type Completed, type Exit } from "../support/spawnServer.ts";

/** Checkpoint settings under which the projector seals nothing in a test's lifetime. */
export const NO_CHECKPOINTS = { ZT_CHECKPOINT_RECORDS: "1000000", ZT_CHECKPOINT_MS: "86400000" } as const;

// --- filling stores ----------------------------------------------------------------------

/** A varied but valid event: nested data, metadata on some, a non-ASCII string on others. */
export function sampleEvent(n: number): NewEvent {
  const data: JsonObject = { n, kind: n % 3 === 0 ? "fill" : "quote", amount: `${n}.25`, tags: ["a", n % 2 === 0 ? "even" : "odd"], note: n % 7 === 0 ? "prix fixé ✓" : "x" };
  return { id: crypto.randomUUID(), type: n % 5 === 0 ? "SampleFilled.v1" : "SampleQuoted.v1", data, ...(n % 4 === 0 ? { metadata: { trace: `t-${n}` } } : {}) };
}

/**
 * Appends `count` sample events to the SQLite store at `path` (created when missing), `perAppend`
 * per append, rotating over `streams` streams; closes the store (and so folds the WAL into the file).
 */
export async function appendSampleEvents(path: string, count: number, options: { perAppend?: number; streams?: number; first?: number } = {}): Promise<void> {
  const perAppend = options.perAppend ?? 1000;
  const streams = options.streams ?? 37;
  const first = options.first ?? 0;
  const runtime = ManagedRuntime.make(SqliteEventStore.layer({ path }));
  try {
    for (let done = 0, batch = 0; done < count; batch++) {
      const size = Math.min(perAppend, count - done);
      const events = Array.from({ length: size }, (_, i) => sampleEvent(first + done + i));
      await runtime.runPromise(Effect.flatMap(EventStore, (store) => store.append(`sample-${(first + batch) % streams}`, events, "any")));
      done += size;
    }
  } finally {
    await runtime.dispose();
  }
}

/** Copies a SQLite store file with its WAL and shared-memory files when they exist. */
export function copyStore(from: string, to: string): void {
  for (const suffix of ["", "-wal", "-shm"]) {
    if (existsSync(`${from}${suffix}`)) copyFileSync(`${from}${suffix}`, `${to}${suffix}`);
  }
}

// --- reading stores directly ---------------------------------------------------------------

/** Runs one statement on its own connection and closes it (read-only unless `write`). */
export function sql<Row = Record<string, unknown>>(path: string, statement: string, params: ReadonlyArray<SQLInputValue> = [], write = false): Row[] {
  const db = new DatabaseSync(path, { readOnly: !write });
  try {
    db.exec("PRAGMA busy_timeout = 5000");
    return db.prepare(statement).all(...params) as Row[];
  } finally {
    db.close();
  }
}

/** An `audit_records` row as read straight from the file: the columns are the record's fields. */
export type RecordRow = AuditRecord;

export interface EventRow {
  readonly position: number;
  readonly event_id: string;
  readonly stream: string;
  readonly revision: number;
  readonly type: string;
  readonly data: string;
  readonly metadata: string;
  readonly recorded_at: string;
}

/** Every audit record row in seq order, as plain objects. */
export function recordRows(path: string): RecordRow[] {
  return sql<RecordRow>(path, "SELECT * FROM audit_records ORDER BY seq").map((row) => ({ ...row }));
}

/** Every event row in position order, as plain objects. */
export function eventRows(path: string): EventRow[] {
  return sql<EventRow>(path, "SELECT * FROM events ORDER BY position").map((row) => ({ ...row }));
}

/** Number of audit records; 0 while the table does not exist yet. */
export function recordCount(path: string): number {
  const table = sql(path, "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'audit_records'");
  if (table.length === 0) return 0;
  return Number(sql<{ n: number }>(path, "SELECT COUNT(*) AS n FROM audit_records")[0]?.n ?? 0);
}

export function eventCount(path: string, type?: string): number {
  const rows = type === undefined ? sql<{ n: number }>(path, "SELECT COUNT(*) AS n FROM events") : sql<{ n: number }>(path, "SELECT COUNT(*) AS n FROM events WHERE type = ?", [type]);
  return Number(rows[0]?.n ?? 0);
}

/**
 * Asserts the chain invariants a projection must keep whatever happened to its writers:
 * seq 1..n contiguous, each event exactly once, in the store's order, with its position.
 */
export function assertGapFreeChain(path: string): RecordRow[] {
  const records = recordRows(path);
  const events = eventRows(path);
  assert.equal(records.length, events.length, "one record per event");
  records.forEach((record, i) => {
    assert.equal(record.seq, i + 1, `seq ${i + 1} is where it belongs`);
    assert.equal(record.position, events[i]!.position, `record seq ${record.seq} holds the position of the ${i + 1}th event`);
    assert.equal(record.event_id, events[i]!.event_id, `record seq ${record.seq} is for the ${i + 1}th event`);
    if (i > 0) assert.ok(record.position > records[i - 1]!.position, "positions strictly increase");
  });
  assert.equal(new Set(records.map((r) => r.event_id)).size, records.length, "no event is recorded twice");
  return records;
}

// --- keys ----------------------------------------------------------------------------------

export function freshAuditKey(): SigningKey {
  return signingKeyFromSeed(randomSeed(), "audit");
}

export function signerOf(key: SigningKey): AuditSigner {
  return { keyId: key.keyId, seed: key.seed };
}

/** Writes a `GET /keys`-shaped document listing these audit public keys, for `--keys`. */
export function writeKeysDocument(path: string, keys: ReadonlyArray<SigningKey>): string {
  writeFileSync(path, JSON.stringify({ keys: keys.map((key) => publicKeyInfo(key)) }));
  return path;
}

// --- the zt CLI ----------------------------------------------------------------------------

export interface VerifyRun {
  readonly run: Completed;
  /** The `--json` report. */
  readonly report: any;
}

/** `zt audit verify --store sqlite:PATH --keys KEYS --json`. */
export async function verifyJson(storePath: string, keysPath: string, timeoutMs = 30_000, extraArgs: ReadonlyArray<string> = []): Promise<VerifyRun> {
  const run = await runZt(["audit", "verify", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--json", ...extraArgs], { timeoutMs });
  let report: unknown;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    assert.fail(`zt audit verify --json printed no JSON (exit ${run.code})\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`);
  }
  return { run, report };
}

/** `zt audit verify --store sqlite:PATH --keys KEYS` (text output). */
export function verifyText(storePath: string, keysPath: string, timeoutMs = 30_000, extraArgs: ReadonlyArray<string> = []): Promise<Completed> {
  return runZt(["audit", "verify", "--store", `sqlite:${storePath}`, "--keys", keysPath, ...extraArgs], { timeoutMs });
}

export interface ProjectorProcess {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly stop: () => Promise<Exit>;
  readonly kill: () => Promise<Exit>;
}

const projectors = new Set<ChildProcess>();

/** `zt project` as a child on this data dir and store; ends with stop (SIGTERM) or kill (SIGKILL). */
export function spawnProjector(dataDir: string, storePath: string, env: Record<string, string> = {}): ProjectorProcess {
  const child = spawn(process.execPath, [ZT_TS, "project", "--data-dir", dataDir], {
    cwd: REPO_ROOT,
    env: childEnv({ ZT_STORE: `sqlite:${storePath}`, ZT_LOG_LEVEL: "info", ...env }),
    stdio: ["ignore", "pipe", "pipe"],
  });
  projectors.add(child);
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (output += chunk));
  const end = async (signal: NodeJS.Signals) => {
    const exit = await stopChild(child, signal);
    projectors.delete(child);
    return exit;
  };
  return { child, output: () => output, stop: () => end("SIGTERM"), kill: () => end("SIGKILL") };
}

/** For `after` hooks: SIGKILLs every `zt project` child still running. */
export async function killProjectors(): Promise<void> {
  await Promise.all([...projectors].map((child) => stopChild(child, "SIGKILL")));
  projectors.clear();
}

// --- an in-process projection writer ---------------------------------------------------------

export interface ProjectorOptions {
  readonly path: string;
  readonly signer: AuditSigner;
  readonly owner: string;
  readonly leaseTtlMs: number;
  readonly checkpointRecords?: number;
  readonly checkpointMs?: number;
}

/** The projection writer wired as the server wires it, but with its own connections and a chosen lease TTL. */
export function projectorRuntime(options: ProjectorOptions) {
  const base = Layer.mergeAll(SqliteEventStore.layer({ path: options.path }), SqliteAuditLog.layer({ path: options.path }), Ids.layer, Metrics.layer);
  const projector = auditProjectorLayer({
    signer: options.signer,
    owner: options.owner,
    leaseTtlMs: options.leaseTtlMs,
    checkpointRecords: options.checkpointRecords ?? 1_000_000,
    checkpointMs: options.checkpointMs ?? 86_400_000,
  });
  const layer = projector.pipe(Layer.provideMerge(AuditTrail.layer.pipe(Layer.provideMerge(base))), Layer.provide(effectLoggerLayer(makeLogSink("none"))));
  const runtime = ManagedRuntime.make(layer);
  return {
    runtime,
    status: () => runtime.runPromise(Effect.flatMap(AuditProjector, (p) => p.status)),
    /** Builds the layers, so the writer starts competing for the lease. */
    start: async () => void (await runtime.runtime()),
    log: <A, E>(use: (log: AuditLogShape) => Effect.Effect<A, E>) => runtime.runPromise(Effect.flatMap(AuditLog, use)),
    close: () => runtime.dispose(),
  };
}
