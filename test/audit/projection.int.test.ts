/**
 * The audit projection writer on real SQLite files (contract section 5):
 * - acceptance: "Killing the projection mid-run and restarting it yields a chain
 *   identical to an uninterrupted run over the same events" (`zt project` SIGKILLed as a
 *   child process, restarted, compared row for row with an in-process run on a copy);
 * - the projection lease: one writer at a time, takeover on release and on loss, and a
 *   chain that stays gap-free and duplicate-free across writers;
 * - checkpoint sealing by record count and by time, strictly growing tree sizes, and no
 *   sealing of checkpoints about checkpoints once the store is quiet.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Effect, Either } from "effect";
import { CHECKPOINT_SEALED, CHECKPOINT_STREAM } from "../../src/audit/Checkpoint.ts";
import { EMPTY_CHAIN, nextRecord } from "../../src/audit/AuditRecord.ts";
import { loadConfig } from "../../src/config.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeLogSink } from "../../src/platform/Logging.ts";
import { projectorSettings } from "../../src/layers.ts";
import { startProjector } from "../../src/projector.ts";
import { tempDir } from "../support/harness.ts";
import { killAllChildren } from "../support/spawnServer.ts";
import {
  appendSampleEvents,
  assertGapFreeChain,
  copyStore,
  eventCount,
  eventRows,
  freshAuditKey,
  killProjectors,
  NO_CHECKPOINTS,
  projectorRuntime,
  recordCount,
  recordRows,
  signerOf,
  spawnProjector,
  sql,
  verifyJson,
  writeKeysDocument,
} from "./auditFixtures.ts";
import { sleep, waitFor } from "../support/waitFor.ts";

const root = tempDir("zt-projection-");
after(async () => {
  await killProjectors();
  await killAllChildren();
  rmSync(root, { recursive: true, force: true });
});

/** The CheckpointSealed events of a store, decoded, in order. */
function checkpoints(path: string): Array<{ tree_size: number; root: string; batch_id: string; position: number }> {
  return sql<{ data: string; position: number }>(path, "SELECT data, position FROM events WHERE type = ? ORDER BY position", [CHECKPOINT_SEALED]).map((row) => ({
    ...(JSON.parse(row.data) as { tree_size: number; root: string; batch_id: string }),
    position: row.position,
  }));
}

describe("killing the projection mid-run", () => {
  const N = 3000;

  test("and restarting it yields a chain identical to an uninterrupted run over the same events", async () => {
    const dirA = join(root, "uninterrupted");
    const dirB = join(root, "killed");
    mkdirSync(dirA);
    mkdirSync(dirB);
    const storeA = join(dirA, "events.db");
    const storeB = join(dirB, "events.db");
    await appendSampleEvents(storeA, N);
    copyStore(storeA, storeB);

    // A: one uninterrupted in-process run. Its development bootstrap writes the audit
    // key that B then shares, so both sign with the same key.
    const a = await startProjector(projectorSettings(loadConfig({ ZT_DATA_DIR: dirA, ZT_STORE: `sqlite:${storeA}`, ...NO_CHECKPOINTS })), makeLogSink("none"));
    try {
      await waitFor("the uninterrupted run to project every event", () => (recordCount(storeA) === N ? true : undefined), { timeoutMs: 60_000 });
    } finally {
      await a.close();
    }
    cpSync(join(dirA, "keys"), join(dirB, "keys"), { recursive: true });

    // B: `zt project` as a child, SIGKILLed once some but not all records are written.
    const first = spawnProjector(dirB, storeB, NO_CHECKPOINTS);
    const seen = await waitFor("the child to write its first records", () => {
      const n = recordCount(storeB);
      return n > 0 ? n : undefined;
    }, { timeoutMs: 30_000, intervalMs: 5 });
    const killed = await first.kill();
    assert.equal(killed.signal, "SIGKILL");
    const atKill = recordCount(storeB);
    assert.ok(seen > 0 && atKill < N, `killed mid-run: ${atKill} of ${N} records were written (child output:\n${first.output()})`);

    // What a SIGKILL leaves is a valid prefix of the chain: verify passes, the rest unprojected.
    const keys = join(dirA, "keys", "audit.pub.json");
    const partial = await verifyJson(storeB, keys);
    assert.equal(partial.run.code, 0, partial.run.stdout + partial.run.stderr);
    assert.equal(partial.report.records, atKill);
    assert.equal(partial.report.unprojected, N - atKill);

    // The killed writer never released its lease: a new writer waits for it to expire.
    const lease = sql<{ owner: string; expires_at: number }>(storeB, "SELECT owner, expires_at FROM audit_lease WHERE name = 'projection'");
    assert.equal(lease.length, 1, "the killed writer's lease row is still there");
    const second = spawnProjector(dirB, storeB, NO_CHECKPOINTS);
    try {
      while (Date.now() < Number(lease[0]!.expires_at) - 500) {
        assert.equal(recordCount(storeB), atKill, "no second writer before the killed writer's lease expires");
        await sleep(100);
      }
      await waitFor("the restarted child to finish the projection", () => (recordCount(storeB) === N ? true : undefined), { timeoutMs: 60_000 });
      // It stays idle: no checkpoint and no other event is added behind our back.
      await sleep(500);
    } finally {
      const stopped = await second.stop();
      assert.equal(stopped.code, 0, `zt project exits 0 on SIGTERM\n${second.output()}`);
    }

    assert.equal(eventCount(storeA), N, "the uninterrupted run added no event");
    assert.equal(eventCount(storeB), N, "the killed and restarted run added no event (no checkpoint sealed on restart)");
    const rowsA = recordRows(storeA);
    const rowsB = recordRows(storeB);
    assert.equal(rowsB.length, N);
    assert.deepEqual(rowsB, rowsA, "audit_records of both runs are identical row for row");
    assertGapFreeChain(storeB);

    for (const store of [storeA, storeB]) {
      const { run, report } = await verifyJson(store, keys);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      assert.equal(report.ok, true);
      assert.equal(report.events, N);
      assert.equal(report.records, N);
      assert.equal(report.unprojected, 0);
    }
  });
});

test("catching up on a backlog leaves the event loop free: timers run between batches", async () => {
  const N = 3000;
  const dir = join(root, "backlog");
  mkdirSync(dir);
  const path = join(dir, "events.db");
  await appendSampleEvents(path, N);
  // What a timer sees while the in-process writer works through the backlog (a socket's
  // callbacks need the same turn of the event loop).
  const seen: number[] = [];
  const timer = setInterval(() => seen.push(recordCount(path)), 20);
  const projector = await startProjector(projectorSettings(loadConfig({ ZT_DATA_DIR: dir, ZT_STORE: `sqlite:${path}`, ...NO_CHECKPOINTS })), makeLogSink("none"));
  try {
    await waitFor("the backlog to be projected", () => (recordCount(path) === N ? true : undefined), { timeoutMs: 60_000 });
  } finally {
    clearInterval(timer);
    await projector.close();
  }
  const midway = seen.filter((n) => n > 0 && n < N);
  assert.ok(midway.length >= 2, `timers fired while the projection was under way (counts seen: ${[...new Set(seen)].join(", ")})`);
});

describe("the projection lease", () => {
  // Renewed every TTL/3: a writer loses its lease only after stalling for 2/3 of it.
  const LEASE_TTL_MS = 1500;

  test("one writer at a time; a closed writer's lease is taken over at once, a writer that loses it stops, and the chain stays gap-free", async () => {
    const dir = join(root, "lease");
    mkdirSync(dir);
    const path = join(dir, "events.db");
    await appendSampleEvents(path, 200, { perAppend: 50 });
    // Each writer signs with its own audit key, so every record names the writer that wrote it.
    const keys = [freshAuditKey(), freshAuditKey(), freshAuditKey()] as const;
    const writers = keys.map((key, i) => ({ ...projectorRuntime({ path, signer: signerOf(key), owner: `writer-${i + 1}`, leaseTtlMs: LEASE_TTL_MS, checkpointRecords: 100 }), open: false }));
    const [w1, w2, w3] = writers as [(typeof writers)[number], (typeof writers)[number], (typeof writers)[number]];
    const start = async (w: typeof w1) => {
      await w.start();
      w.open = true;
    };
    const close = async (w: typeof w1) => {
      w.open = false;
      await w.close();
    };
    const leaseOwners = () => sql<{ owner: string }>(path, "SELECT owner FROM audit_lease").map((row) => row.owner);
    const keyRuns = () => {
      const runs: string[] = [];
      for (const record of recordRows(path)) if (runs.at(-1) !== record.key_id) runs.push(record.key_id);
      return runs;
    };
    const caughtUp = () => (recordCount(path) === eventCount(path) ? true : undefined);
    try {
      await start(w1);
      await waitFor("writer 1 to project the first events", () => (recordCount(path) >= 200 ? true : undefined));
      await start(w2);
      // Both run; only writer 1 holds the lease and writes, across several appends and renewals.
      for (let round = 0; round < 4; round++) {
        await appendSampleEvents(path, 30, { perAppend: 10, first: 1000 + round * 30 });
        await sleep(LEASE_TTL_MS / 2);
        assert.equal((await w1.status()).leaseHeld, true, "writer 1 keeps renewing its lease");
        assert.equal((await w2.status()).leaseHeld, false, "writer 2 waits");
        assert.deepEqual(leaseOwners(), ["writer-1"]);
      }
      await waitFor("writer 1 to catch up", caughtUp);
      assert.deepEqual(keyRuns(), [keys[0].keyId], "every record so far is writer 1's");

      // Writer 1 shuts down and releases the lease: writer 2 takes over at its next try, well before the TTL.
      await close(w1);
      assert.deepEqual(leaseOwners(), [], "closing a writer releases its lease");
      const released = Date.now();
      await waitFor("writer 2 to take over", async () => ((await w2.status()).leaseHeld ? true : undefined), { timeoutMs: 10_000, intervalMs: 10 });
      assert.ok(Date.now() - released < LEASE_TTL_MS, "a released lease is taken without waiting for it to expire");
      await appendSampleEvents(path, 60, { perAppend: 20, first: 2000 });
      await waitFor("writer 2 to catch up", caughtUp);

      // Writer 3 gets the lease (as if writer 2 had stalled past its TTL): writer 2 finds it
      // at its next renewal and stops writing.
      await start(w3);
      sql(path, "UPDATE audit_lease SET owner = 'writer-3', expires_at = ? WHERE name = 'projection'", [Date.now() + 60_000], true);
      await waitFor("writer 2 to notice the lost lease", async () => ((await w2.status()).leaseHeld ? undefined : true), { timeoutMs: 10_000 });
      await waitFor("writer 3 to hold the lease", async () => ((await w3.status()).leaseHeld ? true : undefined), { timeoutMs: 10_000 });
      await appendSampleEvents(path, 40, { perAppend: 40, first: 3000 });
      await waitFor("writer 3 to catch up", caughtUp);
      await sleep(LEASE_TTL_MS / 2);
      assert.equal((await w2.status()).leaseHeld, false, "writer 2 stays off while another writer holds the lease");
    } finally {
      for (const w of writers) if (w.open) await close(w);
    }

    assert.deepEqual(keyRuns(), keys.map((key) => key.keyId), "the writers took turns, never interleaving records");
    const records = assertGapFreeChain(path);
    assert.equal(records.length - eventCount(path, CHECKPOINT_SEALED), 200 + 120 + 60 + 40, "every appended event is recorded once");
    const { run, report } = await verifyJson(path, writeKeysDocument(join(dir, "keys.json"), keys));
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(report.records, records.length);
    assert.ok(report.checkpoints >= 2, "the writers sealed checkpoints, consistent with each other across keys");
  });

  test("an append that does not start at the current head is refused and writes nothing", async () => {
    const dir = join(root, "conflict");
    mkdirSync(dir);
    const path = join(dir, "events.db");
    await appendSampleEvents(path, 3, { perAppend: 3 });
    const writer = projectorRuntime({ path, signer: signerOf(freshAuditKey()), owner: "writer", leaseTtlMs: LEASE_TTL_MS });
    try {
      await writer.start();
      await waitFor("the writer to project", () => (recordCount(path) === 3 ? true : undefined));
      const before = recordRows(path);
      // A stale writer that still thinks the chain is empty tries to append its first record.
      const events = await writer.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readAll({ after: 0, limit: 1 })));
      const stale = nextRecord(EMPTY_CHAIN, events[0]!, signerOf(freshAuditKey()));
      const refused = await writer.log((log) => Effect.either(log.append([stale], 0)));
      assert.ok(Either.isLeft(refused));
      assert.equal(refused.left.reason, "conflict");
      assert.equal(refused.left.isRetryable, true);
      assert.deepEqual(recordRows(path), before, "nothing was written");
    } finally {
      await writer.close();
    }
  });
});

describe("checkpoint sealing", () => {
  async function projectorOn(name: string, env: Record<string, string>) {
    const dir = join(root, name);
    mkdirSync(dir);
    const path = join(dir, "events.db");
    const projector = await startProjector(projectorSettings(loadConfig({ ZT_DATA_DIR: dir, ZT_STORE: `sqlite:${path}`, ...env })), makeLogSink("none"));
    return { dir, path, projector };
  }

  test(`seals after ZT_CHECKPOINT_RECORDS records, with strictly growing tree sizes`, async () => {
    const { path, projector } = await projectorOn("by-count", { ZT_CHECKPOINT_RECORDS: "10", ZT_CHECKPOINT_MS: "86400000" });
    try {
      await appendSampleEvents(path, 9, { perAppend: 9 });
      await waitFor("9 records", () => (recordCount(path) === 9 ? true : undefined));
      await sleep(500);
      assert.deepEqual(checkpoints(path), [], "9 records are fewer than ZT_CHECKPOINT_RECORDS");

      await appendSampleEvents(path, 1, { first: 9 });
      const [first] = await waitFor("a checkpoint over 10 records", () => (checkpoints(path).length === 1 ? checkpoints(path) : undefined));
      assert.equal(first!.tree_size, 10);
      assert.equal(first!.batch_id, "batch-1");
      await waitFor("the checkpoint event's own record", () => (recordCount(path) === 11 ? true : undefined));

      // Several appends: each seal covers every record before it, sizes strictly grow.
      for (let i = 0; i < 4; i++) {
        await appendSampleEvents(path, 12, { perAppend: 12, first: 100 + 12 * i });
        await waitFor(`checkpoint ${i + 2}`, () => (checkpoints(path).length === i + 2 ? true : undefined));
      }
      await waitFor("the projection to catch up", () => (recordCount(path) === eventCount(path) ? true : undefined));
      await sleep(500);
      const sealed = checkpoints(path);
      assert.equal(sealed.length, 5, "no further checkpoint once only checkpoint records are unsealed");
      sealed.forEach((checkpoint, i) => {
        assert.equal(checkpoint.batch_id, `batch-${i + 1}`);
        if (i > 0) assert.ok(checkpoint.tree_size > sealed[i - 1]!.tree_size, "tree sizes strictly increase");
        // Sealed right after projecting a batch: the checkpoint covers every record before its own event.
        const covered = sql<{ n: number }>(path, "SELECT COUNT(*) AS n FROM audit_records WHERE position < ?", [checkpoint.position])[0]!.n;
        assert.equal(checkpoint.tree_size, covered, `${checkpoint.batch_id} covers every record before it`);
      });
    } finally {
      await projector.close();
    }
  });

  test("seals after ZT_CHECKPOINT_MS, then stops once only checkpoint records remain", async () => {
    const INTERVAL = 300;
    const { path, projector } = await projectorOn("by-time", { ZT_CHECKPOINT_RECORDS: "1000000", ZT_CHECKPOINT_MS: String(INTERVAL) });
    try {
      await sleep(2 * INTERVAL);
      assert.equal(eventCount(path), 0, "an empty store gets no checkpoint");
      await appendSampleEvents(path, 3, { perAppend: 3 });
      const [first] = await waitFor("a timed checkpoint", () => (checkpoints(path).length > 0 ? checkpoints(path) : undefined), { timeoutMs: 10 * INTERVAL });
      assert.equal(first!.tree_size, 3);

      // Quiet store: the checkpoint event's record is the only unsealed one, and it is not sealed again.
      await sleep(5 * INTERVAL);
      assert.equal(checkpoints(path).length, 1, "no endless sealing of checkpoint records");
      assert.equal(recordCount(path), 4);
      assert.equal(eventCount(path), 4);

      await appendSampleEvents(path, 2, { perAppend: 2, first: 3 });
      await waitFor("a second timed checkpoint", () => (checkpoints(path).length === 2 ? true : undefined), { timeoutMs: 10 * INTERVAL });
      await sleep(5 * INTERVAL);
      const sealed = checkpoints(path);
      assert.deepEqual(sealed.map((c) => c.tree_size), [3, 6], "the second covers the first checkpoint's record and the 2 new events");
      assert.equal(eventCount(path, CHECKPOINT_SEALED), 2);
      assert.deepEqual(sql<{ stream: string }>(path, "SELECT DISTINCT stream FROM events WHERE type = ?", [CHECKPOINT_SEALED]).map((r) => r.stream), [CHECKPOINT_STREAM]);
    } finally {
      await projector.close();
    }
  });

  test("a restarted writer does not seal at once: the next timed seal waits ZT_CHECKPOINT_MS", async () => {
    const { dir, path, projector } = await projectorOn("restart-seal", { ZT_CHECKPOINT_RECORDS: "1000000", ZT_CHECKPOINT_MS: "86400000" });
    await appendSampleEvents(path, 5, { perAppend: 5 });
    await waitFor("5 records", () => (recordCount(path) === 5 ? true : undefined));
    await projector.close();
    for (let restart = 0; restart < 3; restart++) {
      const again = await startProjector(projectorSettings(loadConfig({ ZT_DATA_DIR: dir, ZT_STORE: `sqlite:${path}`, ...NO_CHECKPOINTS })), makeLogSink("none"));
      await sleep(300);
      await again.close();
    }
    assert.equal(eventCount(path, CHECKPOINT_SEALED), 0, "restarts alone add no events to the store");
    assert.deepEqual(eventRows(path).length, 5);
  });
});
