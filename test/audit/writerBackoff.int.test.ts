/**
 * The projection writer's supervision on Effect's TestClock, against a real SQLite store:
 * a writer whose appends fail restarts after 1 s, then 2 s (doubling), reports
 * `restarting` with the failure count and the clock's time meanwhile, and once the cause
 * is gone runs again and projects what it missed. No real sleep: the test moves the
 * clock; the store and WebCrypto run for real, so each step also gives the event loop a
 * few turns.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { Effect, Layer, TestClock, TestContext } from "effect";
import { AuditProjector, auditProjectorLayer, type ProjectionStatus } from "../../src/audit/AuditProjector.ts";
import { AuditTrail } from "../../src/audit/AuditTrail.ts";
import { SqliteAuditLog } from "../../src/audit/sqlite/SqliteAuditLog.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { SqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { effectLoggerLayer, makeLogSink } from "../../src/platform/Logging.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { tempDir } from "../support/harness.ts";
import { freshAuditKey, recordCount, sampleEvent, signerOf, sql } from "./auditFixtures.ts";

/** A few real event-loop turns, so store and WebCrypto work started by the last clock step completes. */
const settle = Effect.promise(async () => {
  for (let turn = 0; turn < 20; turn++) await new Promise((resolve) => setImmediate(resolve));
});

/** Moves the TestClock in `stepMs` steps until `done` holds for the status; fails after `limitMs` of test time. */
function advanceUntil(status: Effect.Effect<ProjectionStatus, unknown>, done: (status: ProjectionStatus) => boolean, stepMs: number, limitMs: number) {
  return Effect.gen(function* () {
    for (let elapsed = 0; elapsed <= limitMs; elapsed += stepMs) {
      yield* settle;
      const current = yield* status;
      if (done(current)) return current;
      yield* TestClock.adjust(stepMs);
    }
    return yield* Effect.die(new Error(`no such status within ${limitMs} ms of test time`));
  });
}

test("a failing writer restarts after 1 s, then 2 s, says so meanwhile, and catches up once the cause is gone", async () => {
  const path = join(tempDir("zt-backoff-"), "events.db");
  const base = Layer.mergeAll(SqliteEventStore.layer({ path }), SqliteAuditLog.layer({ path }), Ids.layer, Metrics.layer);
  const projector = auditProjectorLayer({ signer: signerOf(freshAuditKey()), owner: "backoff-test", leaseTtlMs: 60_000, checkpointRecords: 1_000_000, checkpointMs: 86_400_000 });
  const layer = projector.pipe(Layer.provideMerge(AuditTrail.layer.pipe(Layer.provideMerge(base))), Layer.provide(effectLoggerLayer(makeLogSink("none"))));

  const program = Effect.gen(function* () {
    const store = yield* EventStore;
    const { status } = yield* AuditProjector;
    yield* advanceUntil(status, (s) => s.writer.state === "running", 10, 1000);

    // Every insert into the chain now fails, as a full disk or a broken file would.
    sql(path, "CREATE TRIGGER zt_test_fail BEFORE INSERT ON audit_records BEGIN SELECT RAISE(ABORT, 'disk says no'); END", [], true);
    yield* store.append("sample-1", [sampleEvent(1)], "any");
    const first = yield* advanceUntil(status, (s) => s.writer.state === "restarting", 5, 1000);
    const failedAt = yield* TestClock.currentTimeMillis;
    assert.ok(first.writer.state === "restarting");
    assert.deepEqual({ since: first.writer.since, failures: first.writer.failures }, { since: new Date(failedAt).toISOString(), failures: 1 });
    assert.match(first.writer.reason, /\S/);
    assert.equal(first.lag, 1);

    // 1 s of backoff: just before it, still the first failure; the restart fails again at once.
    yield* TestClock.adjust(995);
    yield* settle;
    assert.deepEqual((yield* status).writer, first.writer, "still the first failure");
    const second = yield* advanceUntil(status, (s) => s.writer.state === "restarting" && s.writer.failures === 2, 5, 200);
    const secondAt = yield* TestClock.currentTimeMillis;
    assert.ok(secondAt - failedAt >= 1000, `restarted ${secondAt - failedAt} ms after the first failure`);
    assert.equal(second.writer.state, "restarting");

    // The cause removed, the writer waits out its 2 s and then projects what it missed.
    sql(path, "DROP TRIGGER zt_test_fail", [], true);
    yield* TestClock.adjust(1990);
    yield* settle;
    assert.equal((yield* status).writer.state, "restarting", "still waiting out the 2 s backoff");
    assert.equal(recordCount(path), 0);
    const recovered = yield* advanceUntil(status, (s) => s.writer.state === "running" && s.lag === 0, 5, 500);
    assert.ok((yield* TestClock.currentTimeMillis) - secondAt >= 2000);
    assert.equal(recovered.headSeq, 1);
    assert.equal(recordCount(path), 1);
  });

  await Effect.runPromise(program.pipe(Effect.provide(layer), Effect.scoped, Effect.provide(TestContext.TestContext)));
});
