/**
 * `zt audit verify` against tampering (contract sections 5 and 6). A real store is
 * built through the in-process app (decisions, permits, sealed checkpoints), then each
 * case copies the SQLite file, changes it with plain node:sqlite SQL the way someone
 * with write access to the file could, and runs `zt audit verify` as a child process,
 * in text and in `--json`. Every tampered copy must exit 1 and name the first bad
 * position and record seq and what is wrong there; the untouched copy exits 0.
 */
import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { EMPTY_CHAIN, nextRecord, type AuditSigner, type ChainHead } from "../../src/audit/AuditRecord.ts";
import { CHECKPOINT_SEALED, sealCheckpoint } from "../../src/audit/Checkpoint.ts";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import type { RecordedEvent } from "../../src/events/EventStore.ts";
import { randomSeed, readSigningKey, signingKeyFromSeed, writeKeyPair } from "../../src/identity/KeyFile.ts";
import { hexToBytes } from "../../src/kernel/hashing.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, tempDir } from "../support/harness.ts";
import { killAllChildren, runZt } from "../support/spawnServer.ts";
import { copyStore, eventRows, freshAuditKey, recordRows, signerOf, verifyJson, verifyText, type EventRow, type RecordRow } from "./auditFixtures.ts";
import { waitFor } from "../support/waitFor.ts";

const root = tempDir("zt-tamper-");
after(async () => {
  await killAllChildren();
  rmSync(root, { recursive: true, force: true });
});

interface Fixture {
  readonly dataDir: string;
  readonly store: string;
  readonly keys: string;
  readonly events: EventRow[];
  readonly records: RecordRow[];
}

let fixture: Fixture;

/** Builds the store: about 30 decisions (3 allowed swaps with permits), sealed every 5 records or 200 ms. */
async function buildStore(): Promise<Fixture> {
  const h = await makeHarness({ dataDir: join(root, "data"), env: { ZT_CHECKPOINT_RECORDS: "5", ZT_CHECKPOINT_MS: "200" } });
  try {
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    for (let i = 0; i < 30; i++) {
      let reply;
      if (i % 10 === 0) {
        const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
        reply = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
        assert.equal(reply.status, 200, reply.text);
      } else if (i % 2 === 0) {
        reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: swapRequest({ actor: "agent:ops-1" }) });
        assert.equal(reply.status, 403, reply.text);
      } else {
        reply = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ intent: { protocol: "jupiter", asset: "SOL", amount: `${i}.5`, slippage_bps: 30 } }) });
        assert.equal(reply.status, 403, reply.text);
      }
      if (i % 10 === 9) {
        // The projector may take many events in one batch: wait for this tenth's checkpoint,
        // so the fixture always holds several.
        const wanted = (i + 1) / 10;
        await waitFor(`checkpoint ${wanted}`, async () => ((await h.request("GET", "/audit/batches", { token: h.tokens.operator })).json.batches.length >= wanted ? true : undefined));
      }
    }
    // An approved large swap: its approval's request, grant and use beside its decisions.
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, max_notional_usd: 50_000 }, ttl_seconds: 120 });
    const large = swapRequest({ intent: { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 }, permit });
    const pending = await h.request("POST", "/actions", { token: h.tokens.desk7, json: large });
    assert.equal(pending.status, 202, pending.text);
    assert.equal((await h.request("POST", `/approvals/${pending.json.approval_id}/approve`, { token: h.tokens.alice, json: {} })).status, 200);
    assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: { ...large, approval_id: pending.json.approval_id } })).status, 200);
    // Settled: every event projected and the last checkpoint covers every record but its own.
    await waitFor("the projection to settle under a checkpoint", async () => {
      const head = (await h.request("GET", "/audit/head", { token: h.tokens.operator })).json;
      const last = (await h.request("GET", "/audit/batches", { token: h.tokens.operator })).json.batches.at(-1);
      return head.lag === 0 && last !== undefined && last.tree_size === head.seq - 1 && last.position === head.position ? true : undefined;
    });
  } finally {
    await h.close({ keepData: true });
  }
  const store = join(h.dataDir, "events.db");
  // Fold any WAL left behind into the file, so one file is the whole evidence.
  const db = new DatabaseSync(store);
  db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  db.close();
  return { dataDir: h.dataDir, store, keys: join(h.dataDir, "keys", "audit.pub.json"), events: eventRows(store), records: recordRows(store) };
}

let copies = 0;
/** A fresh copy of the fixture store, changed by `tamper` through its own connection. */
function tamperedCopy(tamper: (db: DatabaseSync) => void): string {
  const dir = join(root, `case-${++copies}`);
  mkdirSync(dir);
  const path = join(dir, "events.db");
  copyStore(fixture.store, path);
  const db = new DatabaseSync(path);
  try {
    tamper(db);
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
  } finally {
    db.close();
  }
  return path;
}

interface Expected {
  readonly kind: string;
  readonly position: number;
  readonly seq: number;
}

/** Runs verify in text and JSON on the copy; both must exit 1 and name `expected`. */
async function assertFailsAt(path: string, expected: Expected): Promise<any> {
  const [text, { run, report }] = await Promise.all([verifyText(path, fixture.keys), verifyJson(path, fixture.keys)]);
  assert.equal(run.code, 1, `--json exits 1\n${run.stdout}${run.stderr}`);
  assert.equal(report.ok, false);
  assert.deepEqual({ kind: report.failure.kind, position: report.failure.position, seq: report.failure.seq }, expected, report.failure.message);
  assert.equal(report.records, expected.seq - 1, "records verified before the failure");
  assert.equal(text.code, 1, `text exits 1\n${text.stdout}${text.stderr}`);
  assert.match(text.stdout, new RegExp(`^zt audit verify: FAILED at position ${expected.position}, record seq ${expected.seq}: ${expected.kind}: `, "m"));
  assert.equal(text.stderr, "");
  return report.failure;
}

function recordedEvent(row: EventRow): RecordedEvent {
  return { id: row.event_id, type: row.type, stream: row.stream, revision: row.revision, position: row.position, data: JSON.parse(row.data), metadata: JSON.parse(row.metadata), recordedAt: row.recorded_at };
}

/** Rewrites the records from `fromSeq` on as a forger would: correct hashes and links, their own signatures. */
function rechain(db: DatabaseSync, fromSeq: number, signer: AuditSigner): void {
  const events = db.prepare("SELECT * FROM events ORDER BY position").all() as unknown as EventRow[];
  const records = db.prepare("SELECT * FROM audit_records ORDER BY seq").all() as unknown as RecordRow[];
  const previous = records[fromSeq - 2];
  let chain: ChainHead = previous === undefined ? EMPTY_CHAIN : { seq: previous.seq, hash: previous.hash };
  const update = db.prepare("UPDATE audit_records SET event_hash = ?, prev_hash = ?, hash = ?, key_id = ?, signature = ? WHERE seq = ?");
  for (const record of records.slice(fromSeq - 1)) {
    const event = events.find((e) => e.event_id === record.event_id)!;
    const forged = nextRecord(chain, recordedEvent(event), signer);
    assert.equal(forged.seq, record.seq);
    update.run(forged.event_hash, forged.prev_hash, forged.hash, forged.key_id, forged.signature, record.seq);
    chain = forged;
  }
}

const recordOf = (position: number) => fixture.records.find((r) => r.position === position)!;
const decisions = () => fixture.events.filter((e) => e.type === ACTION_DECIDED);
const checkpointEvents = () => fixture.events.filter((e) => e.type === CHECKPOINT_SEALED);
/** A row well inside the chain: not the first, not among the last few. */
const middle = <A>(rows: ReadonlyArray<A>): A => rows[Math.floor(rows.length / 2)]!;

describe("zt audit verify on a tampered SQLite store", () => {
  before(async () => {
    fixture = await buildStore();
    assert.ok(decisions().length >= 30, "the fixture holds the decisions");
    assert.ok(checkpointEvents().length >= 3, "the fixture holds several sealed checkpoints");
    assert.equal(fixture.records.length, fixture.events.length, "every event is projected");
  });

  test("the untouched copy verifies: exit 0, ok, counts that match the store", async () => {
    const path = tamperedCopy(() => undefined);
    const [text, { run, report }] = await Promise.all([verifyText(path, fixture.keys), verifyJson(path, fixture.keys)]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const last = JSON.parse(checkpointEvents().at(-1)!.data);
    assert.deepEqual(report, {
      ok: true,
      events: fixture.events.length,
      records: fixture.records.length,
      checkpoints: checkpointEvents().length,
      decisions: decisions().length,
      unprojected: 0,
      lastCheckpoint: { tree_size: last.tree_size, root: last.root },
      failure: null,
    });
    assert.equal(text.code, 0);
    assert.match(text.stdout, new RegExp(`^zt audit verify: OK \\(${fixture.events.length} events, ${fixture.records.length} records, ${checkpointEvents().length} checkpoints, ${decisions().length} decisions; last checkpoint: tree size ${last.tree_size}, root ${last.root}\\)`));
  });

  test("an edited decision payload is event_altered at that position", async () => {
    const allowed = decisions().filter((e) => JSON.parse(e.data).status === "allowed");
    const target = middle(allowed);
    const path = tamperedCopy((db) => {
      const data = JSON.parse(target.data);
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ ...data, notional_usd: "1.00" }), target.position);
    });
    const failure = await assertFailsAt(path, { kind: "event_altered", position: target.position, seq: recordOf(target.position).seq });
    assert.match(failure.message, new RegExp(target.event_id));
  });

  test("an edited recorded_at or metadata is event_altered too", async () => {
    const [a, b] = [middle(decisions()), fixture.events[3]!];
    const retimed = tamperedCopy((db) => db.prepare("UPDATE events SET recorded_at = ? WHERE position = ?").run("2020-01-01T00:00:00.000Z", a.position));
    await assertFailsAt(retimed, { kind: "event_altered", position: a.position, seq: recordOf(a.position).seq });
    const remeta = tamperedCopy((db) => db.prepare("UPDATE events SET metadata = ? WHERE position = ?").run(JSON.stringify({ ...JSON.parse(b.metadata), note: "x" }), b.position));
    await assertFailsAt(remeta, { kind: "event_altered", position: b.position, seq: recordOf(b.position).seq });
  });

  test("a deleted event is event_missing_or_reordered at its position", async () => {
    const target = middle(decisions());
    const path = tamperedCopy((db) => db.prepare("DELETE FROM events WHERE position = ?").run(target.position));
    const failure = await assertFailsAt(path, { kind: "event_missing_or_reordered", position: target.position, seq: recordOf(target.position).seq });
    assert.match(failure.message, new RegExp(target.event_id));
  });

  test("two swapped events are event_missing_or_reordered at the first", async () => {
    const [a, b] = [decisions()[5]!, decisions()[9]!];
    assert.ok(a.position < b.position);
    const path = tamperedCopy((db) => {
      // Every column but position, through placeholder values for the UNIQUE ones.
      const set = db.prepare("UPDATE events SET event_id = ?, stream = ?, revision = ?, type = ?, data = ?, metadata = ?, recorded_at = ? WHERE position = ?");
      set.run("placeholder", "placeholder", -1, a.type, a.data, a.metadata, a.recorded_at, a.position);
      set.run(a.event_id, a.stream, a.revision, a.type, a.data, a.metadata, a.recorded_at, b.position);
      set.run(b.event_id, b.stream, b.revision, b.type, b.data, b.metadata, b.recorded_at, a.position);
    });
    await assertFailsAt(path, { kind: "event_missing_or_reordered", position: a.position, seq: recordOf(a.position).seq });
  });

  test("a record signature taken from another record is record_signature_invalid at that seq", async () => {
    const target = middle(fixture.records);
    const other = fixture.records[target.seq]!;
    const path = tamperedCopy((db) => db.prepare("UPDATE audit_records SET signature = ? WHERE seq = ?").run(other.signature, target.seq));
    await assertFailsAt(path, { kind: "record_signature_invalid", position: target.position, seq: target.seq });
  });

  test("a record signature made with a fresh key over the record's hash is record_signature_invalid", async () => {
    const target = fixture.records[7]!;
    const forged = nextRecord({ seq: target.seq - 1, hash: target.prev_hash }, recordedEvent(fixture.events.find((e) => e.event_id === target.event_id)!), signerOf(freshAuditKey()));
    assert.equal(forged.hash, target.hash, "the forger signs exactly the record's hash");
    assert.notEqual(forged.signature, target.signature);
    const path = tamperedCopy((db) => db.prepare("UPDATE audit_records SET signature = ? WHERE seq = ?").run(forged.signature, target.seq));
    await assertFailsAt(path, { kind: "record_signature_invalid", position: target.position, seq: target.seq });
  });

  test("a record whose fields no longer match its hash is record_altered; a relinked one record_chain_broken; a removed one record_chain_broken", async () => {
    const target = middle(fixture.records);
    const rehashed = tamperedCopy((db) => db.prepare("UPDATE audit_records SET hash = ? WHERE seq = ?").run("ab".repeat(32), target.seq));
    await assertFailsAt(rehashed, { kind: "record_altered", position: target.position, seq: target.seq });
    const relinked = tamperedCopy((db) => db.prepare("UPDATE audit_records SET prev_hash = ? WHERE seq = ?").run("cd".repeat(32), target.seq));
    await assertFailsAt(relinked, { kind: "record_chain_broken", position: target.position, seq: target.seq });
    const removed = tamperedCopy((db) => db.prepare("DELETE FROM audit_records WHERE seq = ?").run(target.seq));
    await assertFailsAt(removed, { kind: "record_chain_broken", position: target.position, seq: target.seq });
  });

  test("an edited checkpoint root is event_altered at the checkpoint event", async () => {
    const target = checkpointEvents()[1]!;
    const path = tamperedCopy((db) => {
      const data = JSON.parse(target.data);
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ ...data, root: "00".repeat(32) }), target.position);
    });
    await assertFailsAt(path, { kind: "event_altered", position: target.position, seq: recordOf(target.position).seq });
  });

  test("an edited checkpoint root with the chain re-forged from there is unknown_audit_key, or record_signature_invalid under the real key id", async () => {
    const target = checkpointEvents()[1]!;
    const seq = recordOf(target.position).seq;
    const forger = freshAuditKey();
    const realKeyId = fixture.records[0]!.key_id;
    const editRoot = (db: DatabaseSync) => {
      const data = JSON.parse(target.data);
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ ...data, root: "00".repeat(32) }), target.position);
    };
    const ownKey = tamperedCopy((db) => {
      editRoot(db);
      rechain(db, seq, signerOf(forger));
    });
    const failure = await assertFailsAt(ownKey, { kind: "unknown_audit_key", position: target.position, seq });
    assert.match(failure.message, new RegExp(forger.keyId));
    const claimedKey = tamperedCopy((db) => {
      editRoot(db);
      rechain(db, seq, { keyId: realKeyId, seed: forger.seed });
    });
    await assertFailsAt(claimedKey, { kind: "record_signature_invalid", position: target.position, seq });
  });

  test("even with the audit key, a checkpoint sealing a wrong root is checkpoint_root_mismatch", async () => {
    // An insider holding the audit private key re-seals a checkpoint over a wrong root and
    // re-signs the chain from there: only the recomputed Merkle tree catches it.
    const auditKey = readSigningKey(join(fixture.dataDir, "keys", "audit.key.json"));
    const target = checkpointEvents()[1]!;
    const seq = recordOf(target.position).seq;
    const original = JSON.parse(target.data);
    const forged = sealCheckpoint({ ordinal: Number(original.batch_id.slice("batch-".length)), treeSize: original.tree_size, root: hexToBytes("11".repeat(32))!, signer: signerOf(auditKey), sealedAt: original.sealed_at });
    const path = tamperedCopy((db) => {
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify(forged), target.position);
      rechain(db, seq, signerOf(auditKey));
    });
    await assertFailsAt(path, { kind: "checkpoint_root_mismatch", position: target.position, seq });
  });

  test("even with the audit key, an operator's grant struck from the record leaves the allow it backed approval_unbacked", async () => {
    const auditKey = readSigningKey(join(fixture.dataDir, "keys", "audit.key.json"));
    const grant = fixture.events.find((e) => e.type === "ApprovalGranted.v1")!;
    const used = decisions().find((e) => JSON.parse(e.data).status === "allowed" && typeof JSON.parse(e.data).approval_id === "string")!;
    const path = tamperedCopy((db) => {
      // The grant now names another approval: re-signed, the chain holds, the allow has no grant behind it.
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ ...JSON.parse(grant.data), approval_id: "apr_01J9QJ00000000000000000000" }), grant.position);
      rechain(db, recordOf(grant.position).seq, signerOf(auditKey));
    });
    const failure = await assertFailsAt(path, { kind: "approval_unbacked", position: used.position, seq: recordOf(used.position).seq });
    assert.match(failure.message, /granted by 0 of the 1 operators its quorum needs/);
  });

  test("even with the audit key, an edited decision is receipt_mismatch", async () => {
    const auditKey = readSigningKey(join(fixture.dataDir, "keys", "audit.key.json"));
    const target = middle(decisions());
    const seq = recordOf(target.position).seq;
    const path = tamperedCopy((db) => {
      const data = JSON.parse(target.data);
      db.prepare("UPDATE events SET data = ? WHERE position = ?").run(JSON.stringify({ ...data, status: data.status === "allowed" ? "denied" : "allowed" }), target.position);
      rechain(db, seq, signerOf(auditKey));
    });
    await assertFailsAt(path, { kind: "receipt_mismatch", position: target.position, seq });
  });

  describe("an event appended behind the projection's back", () => {
    const appendForged = (signer: AuditSigner) =>
      tamperedCopy((db) => {
        const template = middle(decisions());
        const last = fixture.records.at(-1)!;
        const inserted = db
          .prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, 0, ?, ?, ?, ?)")
          .run(crypto.randomUUID(), "forged-stream", template.type, template.data, template.metadata, new Date().toISOString());
        const row = db.prepare("SELECT * FROM events WHERE position = ?").get(inserted.lastInsertRowid) as unknown as EventRow;
        const record = nextRecord({ seq: last.seq, hash: last.hash }, recordedEvent(row), signer);
        db.prepare("INSERT INTO audit_records (seq, position, event_id, event_type, event_hash, prev_hash, hash, key_id, signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)").run(
          record.seq, record.position, record.event_id, record.event_type, record.event_hash, record.prev_hash, record.hash, record.key_id, record.signature,
        );
      });
    const nextSeq = () => fixture.records.length + 1;
    const nextPosition = () => fixture.events.at(-1)!.position + 1;

    test("with a correctly linked record signed by a forged key: unknown_audit_key at that seq", async () => {
      const path = appendForged(signerOf(freshAuditKey()));
      await assertFailsAt(path, { kind: "unknown_audit_key", position: nextPosition(), seq: nextSeq() });
    });

    test("with the real key id but another key's signature: record_signature_invalid at that seq", async () => {
      const path = appendForged({ keyId: fixture.records[0]!.key_id, seed: freshAuditKey().seed });
      await assertFailsAt(path, { kind: "record_signature_invalid", position: nextPosition(), seq: nextSeq() });
    });

    const appendUnprojected = (recordedAt: string, data?: string) =>
      tamperedCopy((db) => {
        const template = middle(decisions());
        db.prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, 0, ?, ?, ?, ?)").run(crypto.randomUUID(), "late-stream", template.type, data ?? template.data, template.metadata, recordedAt);
      });

    test("with no record, recorded just now: verify passes but reports it as not yet projected", async () => {
      const path = appendUnprojected(new Date().toISOString());
      const [text, { run, report }] = await Promise.all([verifyText(path, fixture.keys), verifyJson(path, fixture.keys)]);
      assert.equal(run.code, 0);
      assert.equal(report.unprojected, 1);
      assert.equal(report.events, fixture.events.length + 1);
      assert.equal(report.records, fixture.records.length);
      assert.match(text.stdout, /1 newest events not yet projected \(not covered yet, within --max-lag\)/);
    });

    test("with no record two minutes after it was recorded: projection_stalled there, unless --max-lag allows it", async () => {
      const path = appendUnprojected(new Date(Date.now() - 120_000).toISOString());
      await assertFailsAt(path, { kind: "projection_stalled", position: nextPosition(), seq: nextSeq() });
      const { run, report } = await verifyJson(path, fixture.keys, 30_000, ["--max-lag", "300"]);
      assert.equal(run.code, 0, run.stdout);
      assert.equal(report.unprojected, 1);
    });

    test("an event no JCS can carry (nested 100 deep), not projected: unhashable_event at its position", async () => {
      const deep = `{"x":${"[".repeat(100)}${"]".repeat(100)}}`;
      const path = appendUnprojected(new Date().toISOString(), deep);
      const [text, { run, report }] = await Promise.all([verifyText(path, fixture.keys), verifyJson(path, fixture.keys)]);
      assert.equal(run.code, 1, run.stdout);
      assert.equal(report.failure.kind, "unhashable_event");
      assert.equal(report.failure.position, nextPosition());
      assert.match(text.stdout, new RegExp(`FAILED at position ${nextPosition()}: unhashable_event: `));
    });
  });

  test("a deleted last event whose record remains is record_without_event", async () => {
    const last = fixture.events.at(-1)!;
    const path = tamperedCopy((db) => db.prepare("DELETE FROM events WHERE position = ?").run(last.position));
    await assertFailsAt(path, { kind: "record_without_event", position: last.position, seq: recordOf(last.position).seq });
  });

  test("a key file that is not an audit key is refused as bad usage (exit 2)", async () => {
    const path = tamperedCopy(() => undefined);
    const run = await runZt(["audit", "verify", "--store", `sqlite:${path}`, "--keys", join(fixture.dataDir, "keys", "issuer.pub.json")]);
    assert.equal(run.code, 2, run.stdout + run.stderr);
    assert.match(run.stderr, /is a permit key, not an audit key/);
  });

  test("another audit key makes every record unknown_audit_key from seq 1", async () => {
    const path = tamperedCopy(() => undefined);
    const other = join(tempDir(), "other");
    const files = writeKeyPair(other, signingKeyFromSeed(randomSeed(), "audit"));
    const { run, report } = await verifyJson(path, files.publicFile);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    assert.deepEqual({ kind: report.failure.kind, seq: report.failure.seq, position: report.failure.position }, { kind: "unknown_audit_key", seq: 1, position: fixture.events[0]!.position });
  });
});
