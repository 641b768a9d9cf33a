/**
 * Acceptance: "A clean store of 100,000 events verifies with exit 0", and "export +
 * offline verify round trip on 100k events" on the same store.
 * 100,000 events go straight into a SQLite store through SqliteEventStore (1000 per
 * append over 37 streams); `zt project` projects them as a child process with the
 * default checkpoint settings (a checkpoint every 100 records or 5 s), and
 * `zt audit verify` replays the whole store as another child; then `zt audit export`
 * writes a bundle of it and `zt audit verify --bundle` checks the bundle alone; copies with
 * a bad signature and an altered event on different pages fail where they should. Rates are printed to the
 * test log, never asserted; the bounds are only there so that a hang fails.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { CHECKPOINT_SEALED } from "../../src/audit/Checkpoint.ts";
import { readTar } from "../../src/export/tarArchive.ts";
import { verifyBundle } from "../../src/export/verifyBundle.ts";
import { tempDir } from "../support/harness.ts";
import { killAllChildren, runZt } from "../support/spawnServer.ts";
import { appendSampleEvents, eventCount, killProjectors, recordCount, spawnProjector, sql, verifyJson } from "./auditFixtures.ts";
import { waitFor } from "../support/waitFor.ts";

const EVENTS = 100_000;
const PROJECTION_BOUND_MS = 400_000;
const VERIFY_BOUND_MS = 300_000;
const EXPORT_BOUND_MS = 300_000;

const dir = tempDir("zt-scale-");
after(async () => {
  await killProjectors();
  await killAllChildren();
  rmSync(dir, { recursive: true, force: true });
});

test(`a clean store of ${EVENTS.toLocaleString("en")} events verifies with exit 0`, async (t) => {
  const store = join(dir, "events.db");
  let started = performance.now();
  await appendSampleEvents(store, EVENTS, { perAppend: 1000 });
  t.diagnostic(`appended ${EVENTS} events in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  assert.equal(eventCount(store), EVENTS);

  started = performance.now();
  const projector = spawnProjector(dir, store, { ZT_LOG_LEVEL: "warn" });
  try {
    // Done when every event has its record and the last event is the checkpoint that seals the rest.
    await waitFor(
      "the projection of every event, sealed",
      () => {
        const last = sql<{ type: string }>(store, "SELECT type FROM events ORDER BY position DESC LIMIT 1")[0];
        return last?.type === CHECKPOINT_SEALED && recordCount(store) === eventCount(store) ? true : undefined;
      },
      { timeoutMs: PROJECTION_BOUND_MS, intervalMs: 250 },
    );
  } finally {
    const stopped = await projector.stop();
    assert.equal(stopped.code, 0, projector.output());
  }
  const projectionSeconds = (performance.now() - started) / 1000;
  const records = recordCount(store);
  const checkpoints = eventCount(store, CHECKPOINT_SEALED);
  assert.equal(records, EVENTS + checkpoints);
  t.diagnostic(`projected ${records} records (${checkpoints} checkpoints) in ${projectionSeconds.toFixed(1)} s: ${Math.round(records / projectionSeconds)} records/s (including process start)`);

  started = performance.now();
  const { run, report } = await verifyJson(store, join(dir, "keys", "audit.pub.json"), VERIFY_BOUND_MS);
  const verifySeconds = (performance.now() - started) / 1000;
  t.diagnostic(`zt audit verify: exit ${run.code} in ${verifySeconds.toFixed(1)} s: ${Math.round(records / verifySeconds)} records/s (including process start)`);
  assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
  assert.deepEqual(
    { ok: report.ok, events: report.events, records: report.records, checkpoints: report.checkpoints, decisions: report.decisions, unprojected: report.unprojected, failure: report.failure },
    { ok: true, events: records, records, checkpoints, decisions: 0, unprojected: 0, failure: null },
  );
  const last = JSON.parse(sql<{ data: string }>(store, "SELECT data FROM events WHERE type = ? ORDER BY position DESC LIMIT 1", [CHECKPOINT_SEALED])[0]!.data);
  assert.deepEqual(report.lastCheckpoint, { tree_size: last.tree_size, root: last.root });
  // The catch-up seals after each projected batch; the checkpoint events come after every
  // sample event, and records of checkpoint events alone are never sealed again.
  assert.equal(last.tree_size, EVENTS, "the last checkpoint covers every sample event's record");
});

test(`export and offline verify round trip on the same ${EVENTS.toLocaleString("en")} events`, async (t) => {
  const store = join(dir, "events.db");
  const keys = join(dir, "keys", "audit.pub.json");
  const records = recordCount(store);
  assert.ok(records > EVENTS, "runs after the test above filled and projected the store");
  const bundle = join(dir, "audit.tar");

  let started = performance.now();
  const exported = await runZt(["audit", "export", "--store", `sqlite:${store}`, "--keys", keys, "--out", bundle], { timeoutMs: EXPORT_BOUND_MS });
  assert.equal(exported.code, 0, `${exported.stdout}\n${exported.stderr}`);
  t.diagnostic(`zt audit export: ${(statSync(bundle).size / 2 ** 20).toFixed(1)} MiB in ${((performance.now() - started) / 1000).toFixed(1)} s (including process start)`);

  started = performance.now();
  const verified = await runZt(["audit", "verify", "--bundle", bundle, "--keys", keys, "--json"], { timeoutMs: VERIFY_BOUND_MS, env: { ZT_STORE: "sqlite:/nonexistent/events.db" } });
  const seconds = (performance.now() - started) / 1000;
  assert.equal(verified.code, 0, `${verified.stdout}\n${verified.stderr}`);
  const report = JSON.parse(verified.stdout);
  t.diagnostic(`zt audit verify --bundle: ${report.records} records in ${seconds.toFixed(1)} s: ${Math.round(report.records / seconds)} records/s (including process start)`);
  const last = JSON.parse(sql<{ data: string }>(store, "SELECT data FROM events WHERE type = ? ORDER BY position DESC LIMIT 1", [CHECKPOINT_SEALED])[0]!.data);
  // The bundle ends at the last checkpoint, which seals every sample event's record.
  assert.deepEqual(
    { ok: report.ok, from: report.from_seq, to: report.to_seq, records: report.records, events: report.events, checkpoints: report.checkpoints, last: report.last_checkpoint?.root },
    { ok: true, from: 1, to: last.tree_size, records: last.tree_size, events: last.tree_size, checkpoints: eventCount(store, CHECKPOINT_SEALED), last: last.root },
  );
  assert.ok(report.records >= EVENTS);
  // Not the store: the bundle alone. One altered byte deep in it fails, naming the part.
  const bytes = new Uint8Array(readFileSync(bundle));
  const archive = readTar(bytes);
  assert.ok(archive.ok);
  const events = archive.entries.find((entry) => entry.name === "events.jsonl")!.content;
  const middle = events.indexOf(0x22, Math.floor(events.length / 2)) + 1;
  events[middle] = events[middle] === 0x61 ? 0x62 : 0x61; // a view into `bytes`: the bundle itself changes
  const altered = await verifyBundle(bytes);
  assert.equal(altered.ok, false);
  assert.equal(altered.failure?.part, "events", JSON.stringify(altered.failure));
});

test("across pages of 5,000 records (signatures are checked concurrently, a page at a time): a bad signature on a later page is found, and one on an earlier page wins over a later failure", async () => {
  const store = join(dir, "events.db");
  const keys = join(dir, "keys", "audit.pub.json");
  assert.ok(recordCount(store) > EVENTS, "runs after the tests above filled and projected the store");
  const copy = (name: string, tamper: ReadonlyArray<string>) => {
    const path = join(dir, name);
    sql(store, `VACUUM INTO '${path}'`, [], true);
    for (const statement of tamper) sql(path, statement, [], true);
    return path;
  };
  const positionOf = (seq: number) => sql<{ position: number }>(store, "SELECT position FROM audit_records WHERE seq = ?", [seq])[0]!.position;
  const borrowedSignature = (seq: number) => `UPDATE audit_records SET signature = (SELECT signature FROM audit_records WHERE seq = ${seq + 1}) WHERE seq = ${seq}`;

  // On page 2.
  const second = await verifyJson(copy("bad-signature.db", [borrowedSignature(7_500)]), keys, VERIFY_BOUND_MS);
  assert.equal(second.run.code, 1);
  assert.deepEqual(second.report.failure, { kind: "record_signature_invalid", position: positionOf(7_500), seq: 7_500, message: second.report.failure.message });

  // A bad signature on page 1, an altered event on page 2: the first in seq order.
  const both = await verifyJson(
    copy("bad-signature-then-altered.db", [borrowedSignature(3), `UPDATE events SET recorded_at = '2020-01-01T00:00:00.000Z' WHERE position = ${positionOf(6_000)}`]),
    keys,
    VERIFY_BOUND_MS,
  );
  assert.equal(both.run.code, 1);
  assert.deepEqual([both.report.failure.kind, both.report.failure.seq], ["record_signature_invalid", 3]);
});
