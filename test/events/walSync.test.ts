/**
 * The WAL syncer (src/events/sqlite/walSync.ts): an answer waits for a sync that started
 * after its commit; syncs coalesce; a failed sync fails every waiter and every later
 * call, for good; through the store, an append answered on commit does not wait for it.
 * The sync is the real fdatasync wrapped to count calls and to fail on demand.
 */
import assert from "node:assert/strict";
import { fdatasync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import { ManagedRuntime } from "effect";
import { EventStore } from "../../src/events/EventStore.ts";
import { SqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { makeWalSyncer } from "../../src/events/sqlite/walSync.ts";
import { tempDir } from "../support/harness.ts";

function countingSync(options: { failAt?: number } = {}) {
  const started: number[] = [];
  const finishers: Array<() => void> = [];
  const sync = (fd: number, done: (error: Error | null) => void) => {
    started.push(fd);
    const n = started.length;
    // Each sync finishes only when the test says so, so the test controls what is in flight.
    finishers.push(() => (n === options.failAt ? done(new Error("EIO: i/o error, fdatasync")) : fdatasync(fd, done)));
  };
  const finishNext = async () => {
    finishers.shift()!();
    await new Promise((resolve) => setTimeout(resolve, 20));
  };
  return { sync, started, finishNext };
}

test("an answer waits for a sync that began after its commit, and syncs coalesce", async () => {
  const wal = join(tempDir("zt-wal-"), "events.db-wal");
  writeFileSync(wal, "frames");
  const fake = countingSync();
  const syncer = makeWalSyncer(wal, fake.sync);
  const settled: string[] = [];
  const first = syncer.durable().then(() => settled.push("first"));
  assert.equal(fake.started.length, 1, "the first commit starts a sync at once");
  // Two more commits while the first sync runs: they need a sync that starts after them.
  const second = syncer.durable().then(() => settled.push("second"));
  const third = syncer.durable().then(() => settled.push("third"));
  assert.equal(fake.started.length, 1, "no second sync while one is in flight");
  await fake.finishNext();
  await first;
  assert.deepEqual(settled, ["first"], "the first sync does not cover commits made while it ran");
  assert.equal(fake.started.length, 2, "one sync starts for both waiting commits");
  await fake.finishNext();
  await Promise.all([second, third]);
  assert.deepEqual(settled, ["first", "second", "third"]);
  assert.equal(fake.started.length, 2, "nothing left to sync");
  syncer.close();
});

test("a failed sync fails its waiters and every later call, for good", async () => {
  const wal = join(tempDir("zt-wal-"), "events.db-wal");
  writeFileSync(wal, "frames");
  const fake = countingSync({ failAt: 2 });
  const syncer = makeWalSyncer(wal, fake.sync);
  const ok = syncer.durable();
  const lost = syncer.durable().then(() => assert.fail("a commit whose sync failed was answered"), (error: Error) => error);
  await fake.finishNext();
  await ok;
  await fake.finishNext();
  assert.match(String(await lost), /EIO/);
  assert.match(String(syncer.failure()), /EIO/);
  await assert.rejects(syncer.durable(), /EIO/);
  assert.equal(fake.started.length, 2, "no sync is tried after a failure");
  syncer.close();
});

test("a WAL file that cannot be opened fails the commit's answer", async () => {
  const syncer = makeWalSyncer(join(tempDir("zt-wal-"), "missing", "events.db-wal"));
  await assert.rejects(syncer.durable(), /ENOENT/);
  assert.ok(syncer.failure());
});

test("through the store: an append answered on commit is answered and readable before the sync; every other append waits for the sync that covers both", async () => {
  const fake = countingSync();
  const runtime = ManagedRuntime.make(SqliteEventStore.layer({ path: join(tempDir("zt-wal-"), "events.db"), walSync: fake.sync }));
  try {
    const store = await runtime.runPromise(EventStore);
    const event = (type: string) => [{ id: crypto.randomUUID(), type, data: {} }];
    const charged = await runtime.runPromise(store.append("budget-b-agent:a", event("BudgetCharged.v1"), "no_stream", { answerOnCommit: true }));
    assert.equal(charged.revision, 0);
    assert.equal((await runtime.runPromise(store.readStream("budget-b-agent:a"))).length, 1, "committed, so readable at once");
    assert.equal(fake.started.length, 1, "its sync started, and nothing waited for it");

    let decided = false;
    const decision = runtime.runPromise(store.append("decision-d", event("ActionDecided.v1"), "no_stream")).then(() => (decided = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(decided, false, "a durable append is not answered before a sync");
    await fake.finishNext();
    assert.equal(decided, false, "nor by the sync that began before its commit");
    await fake.finishNext();
    await decision;
    assert.equal(fake.started.length, 2, "its own sync, covering the charge's commit before it");
  } finally {
    await runtime.dispose();
  }
});
