/**
 * Acceptance: "An inclusion proof fetched over HTTP verifies with `zt audit check-proof`
 * and with an independent RFC 9162 verifier written in the test from the RFC text".
 *
 * The verifiers below are written from RFC 9162 sections 2.1.1, 2.1.3.2 and 2.1.4.2 and
 * from the C2SP signed-note and tlog-checkpoint specifications, with node:crypto only
 * (no project code), so that a shared misreading of the RFC cannot make both sides agree.
 * Checkpoints are sealed by record count only (ZT_CHECKPOINT_RECORDS=10, timed sealing
 * a day away), so which records each checkpoint covers is decided by the test.
 */
import assert from "node:assert/strict";
import { createHash, createPublicKey, verify as cryptoVerify, type KeyObject } from "node:crypto";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, tempDir, type Harness } from "../support/harness.ts";
import { killAllChildren, runZt } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

// --- RFC 9162, from the text ----------------------------------------------------------------

const sha256 = (...parts: ReadonlyArray<Uint8Array>): Buffer => {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
};
/** RFC 9162 2.1.1: MTH({d(0)}) = SHA-256(0x00 || d(0)). */
const leafHashOf = (data: Uint8Array) => sha256(Uint8Array.of(0x00), data);
/** RFC 9162 2.1.1: SHA-256(0x01 || left || right). */
const HASH_NODE = (left: Uint8Array, right: Uint8Array) => sha256(Uint8Array.of(0x01), left, right);
const hex = (text: string) => Buffer.from(text, "hex");
const isHex32 = (text: unknown) => typeof text === "string" && /^[0-9a-f]{64}$/.test(text);

/** RFC 9162 section 2.1.3.2, step by step, with BigInt so "LSB" and "right-shift" read as written. */
function rfc9162VerifyInclusion(leafIndex: number, treeSize: number, hash: Uint8Array, inclusionPath: ReadonlyArray<Uint8Array>, rootHash: Uint8Array): boolean {
  // 1. If leaf_index is greater than or equal to tree_size, then stop and fail the proof verification.
  if (!Number.isSafeInteger(leafIndex) || !Number.isSafeInteger(treeSize) || leafIndex < 0 || leafIndex >= treeSize) return false;
  // 2. Set fn to leaf_index and sn to tree_size - 1.
  let fn = BigInt(leafIndex);
  let sn = BigInt(treeSize) - 1n;
  // 3. Set r to hash.
  let r: Uint8Array = hash;
  // 4. For each value p in the inclusion_path array:
  for (const p of inclusionPath) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0n) return false;
    if (p.length !== 32) return false;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if ((fn & 1n) === 1n || fn === sn) {
      // i. Set r to HASH(0x01 || p || r).
      r = HASH_NODE(p, r);
      // ii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      // Otherwise: i. Set r to HASH(0x01 || r || p).
      r = HASH_NODE(r, p);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. Compare sn to 0. Compare r against the root_hash. If sn is equal to 0 and r and the root_hash are equal, then the log has proven the inclusion of hash.
  return sn === 0n && Buffer.from(r).equals(rootHash);
}

/** RFC 9162 section 2.1.4.2, step by step (for 0 < first < second). */
function rfc9162VerifyConsistency(first: number, second: number, firstHash: Uint8Array, secondHash: Uint8Array, consistencyPath: ReadonlyArray<Uint8Array>): boolean {
  if (!(0 < first && first < second)) return false;
  // 1. If consistency_path is an empty array, stop and fail the proof verification.
  if (consistencyPath.length === 0) return false;
  if (consistencyPath.some((c) => c.length !== 32)) return false;
  // 2. If first is an exact power of 2, then prepend first_hash to the consistency_path array.
  const path = (first & (first - 1)) === 0 ? [firstHash, ...consistencyPath] : [...consistencyPath];
  // 3. Set fn to first - 1 and sn to second - 1.
  let fn = BigInt(first) - 1n;
  let sn = BigInt(second) - 1n;
  // 4. If LSB(fn) is set, then right-shift both fn and sn equally until LSB(fn) is not set.
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  // 5. Set both fr and sr to the first value in the consistency_path array.
  let fr: Uint8Array = path[0]!;
  let sr: Uint8Array = path[0]!;
  // 6. For each subsequent value c in the consistency_path array:
  for (const c of path.slice(1)) {
    // a. If sn is 0, then stop the iteration and fail the proof verification.
    if (sn === 0n) return false;
    // b. If LSB(fn) is set, or if fn is equal to sn, then:
    if ((fn & 1n) === 1n || fn === sn) {
      // i. Set fr to HASH(0x01 || c || fr). ii. Set sr to HASH(0x01 || c || sr).
      fr = HASH_NODE(c, fr);
      sr = HASH_NODE(c, sr);
      // iii. If LSB(fn) is not set, then right-shift both fn and sn equally until either LSB(fn) is set or fn is 0.
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      // Otherwise: i. Set sr to HASH(0x01 || sr || c).
      sr = HASH_NODE(sr, c);
    }
    // c. Finally, right-shift both fn and sn one time.
    fn >>= 1n;
    sn >>= 1n;
  }
  // 7. Verify that fr equals first_hash, sr equals second_hash, and sn is 0.
  return Buffer.from(fr).equals(firstHash) && Buffer.from(sr).equals(secondHash) && sn === 0n;
}

// --- C2SP signed note + tlog-checkpoint, from the specifications --------------------------------

interface OpenedCheckpoint {
  readonly origin: string;
  readonly treeSize: number;
  readonly root: Buffer;
}

/**
 * Verifies a signed note with one Ed25519 key named `keyName`: the body is the text up to
 * and including the newline before the blank line; a signature line is
 * "— <name> <base64(4-byte key hash || 64-byte signature)>", the key hash being
 * SHA-256(name || "\n" || 0x01 || public key)[:4]. Answers the checkpoint in the body.
 */
function openCheckpointNote(note: string, keyName: string, publicKey: Buffer, key: KeyObject): OpenedCheckpoint | undefined {
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) return undefined;
  const body = note.slice(0, split + 1);
  const lines = note.slice(split + 2, -1).split("\n");
  const keyHash = sha256(Buffer.from(keyName, "utf8"), Uint8Array.of(0x0a, 0x01), publicKey).subarray(0, 4);
  let verified = false;
  for (const line of lines) {
    const match = /^\u2014 (\S+) ([A-Za-z0-9+/]+={0,2})$/.exec(line);
    if (match === null) return undefined;
    const payload = Buffer.from(match[2]!, "base64");
    if (match[1] !== keyName || !payload.subarray(0, 4).equals(keyHash)) continue;
    if (payload.length !== 4 + 64 || !cryptoVerify(null, Buffer.from(body, "utf8"), key, payload.subarray(4))) return undefined;
    verified = true;
  }
  if (!verified) return undefined;
  const [origin, size, rootBase64, ...rest] = body.slice(0, -1).split("\n");
  if (origin === undefined || size === undefined || rootBase64 === undefined || rest.some((l) => l === "") || !/^(0|[1-9][0-9]*)$/.test(size)) return undefined;
  const root = Buffer.from(rootBase64, "base64");
  if (root.length !== 32 || root.toString("base64") !== rootBase64) return undefined;
  return { origin, treeSize: Number(size), root };
}

interface AuditKey {
  readonly keyId: string;
  readonly publicKey: Buffer;
  readonly key: KeyObject;
}

function readAuditKey(path: string): AuditKey {
  const file = JSON.parse(readFileSync(path, "utf8"));
  assert.equal(file.use, "audit");
  const publicKey = Buffer.from(file.public_key, "base64url");
  return { keyId: file.key_id, publicKey, key: createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x: file.public_key }, format: "jwk" }) };
}

/** The whole check of an inclusion proof document, independent of the project: leaf, path, and the signed checkpoint. */
function independentlyVerified(proof: any, auditKey: AuditKey): boolean {
  if (!isHex32(proof.leaf_hash) || !isHex32(proof.root) || !Array.isArray(proof.audit_path) || !proof.audit_path.every(isHex32)) return false;
  if (proof.record_hash !== undefined && !leafHashOf(hex(proof.record_hash)).equals(hex(proof.leaf_hash))) return false;
  if (!rfc9162VerifyInclusion(proof.leaf_index, proof.tree_size, hex(proof.leaf_hash), proof.audit_path.map(hex), hex(proof.root))) return false;
  const origin = `zt-infra/audit/${auditKey.keyId}`;
  const opened = typeof proof.checkpoint === "string" ? openCheckpointNote(proof.checkpoint, origin, auditKey.publicKey, auditKey.key) : undefined;
  return opened !== undefined && opened.origin === origin && opened.treeSize === proof.tree_size && opened.root.equals(hex(proof.root));
}

// --- the service ------------------------------------------------------------------------------

const root = tempDir("zt-proofs-");
after(async () => {
  await killAllChildren();
  rmSync(root, { recursive: true, force: true });
});

let h: Harness;
let auditKey: AuditKey;
let keysPath: string;
let files = 0;

const asOperator = (path: string) => h.request("GET", path, { token: h.tokens.operator });
const batches = async (): Promise<any[]> => (await asOperator("/audit/batches")).json.batches;

/** Waits until every event is projected and `count` checkpoints are sealed. */
async function settled(count: number): Promise<any[]> {
  return waitFor(`${count} checkpoints and no projection lag`, async () => {
    const head = (await asOperator("/audit/head")).json;
    const sealed = await batches();
    return head.lag === 0 && sealed.length === count ? sealed : undefined;
  });
}

async function checkProof(proof: unknown): Promise<{ code: number | null; report: any }> {
  const file = join(root, `proof-${++files}.json`);
  writeFileSync(file, JSON.stringify(proof, null, 2));
  const run = await runZt(["audit", "check-proof", file, "--keys", keysPath, "--json"]);
  return { code: run.code, report: JSON.parse(run.stdout) };
}

async function postDenied(count: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const reply = await h.request("POST", "/actions", { token: h.tokens.ops1, json: swapRequest({ actor: "agent:ops-1" }) });
    assert.equal(reply.status, 403, reply.text);
    ids.push(reply.json.decision_id);
  }
  return ids;
}

describe("inclusion and consistency proofs over HTTP", () => {
  let desk7Decision: string;
  let ops1Decisions: string[];

  before(async () => {
    h = await makeHarness({ dataDir: join(root, "data"), env: { ZT_CHECKPOINT_RECORDS: "10", ZT_CHECKPOINT_MS: "86400000" } });
    keysPath = join(h.dataDir, "keys", "audit.pub.json");
    auditKey = readAuditKey(keysPath);
  });
  after(async () => {
    await h.close();
  });

  test("a decision's proof is 409 not_yet_sealed until a checkpoint covers its record", async () => {
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
    const decided = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
    assert.equal(decided.status, 200, decided.text);
    desk7Decision = decided.json.decision_id;

    // Right away (projected or not) and once projected: no checkpoint exists, so 409.
    const early = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 });
    assert.equal(early.status, 409, early.text);
    assert.equal(early.json.error, "not_yet_sealed");
    await settled(0);
    const projected = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 });
    assert.equal(projected.status, 409);
    // A problem (RFC 9457) that says nothing of the record but that it is not covered yet.
    assert.deepEqual(projected.json, {
      type: "urn:zt-infra:problem:not_yet_sealed",
      title: "No sealed checkpoint covers this decision yet",
      status: 409,
      detail: projected.json.message,
      reason: "not_yet_sealed",
      error: "not_yet_sealed",
      message: projected.json.message,
    });
    assert.match(projected.json.message, /not covered by a sealed checkpoint yet/);
    // Another agent learns nothing, not even that the decision exists.
    const foreign = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.ops1 });
    assert.equal(foreign.status, 404, foreign.text);
    assert.equal(foreign.json.error, "not_found");
    const cli = await runZt(["audit", "proof", desk7Decision, "--store", `sqlite:${h.config.store.kind === "sqlite" ? h.config.store.path : ""}`]);
    assert.equal(cli.code, 1, "zt audit proof exits 1 while the record is not sealed");
    assert.match(cli.stderr, /not covered by a sealed checkpoint yet/);

    // 6 events so far (the startup's policy activation, snapshot, permit, budget charge,
    // nonce, decision); 4 more reach ZT_CHECKPOINT_RECORDS.
    assert.equal((await asOperator("/audit/head")).json.seq, 6);
    ops1Decisions = await postDenied(4);
    const [batch] = await settled(1);
    assert.equal(batch.tree_size, 10);
    const sealed = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 });
    assert.equal(sealed.status, 200, sealed.text);
  });

  test("the proof verifies with zt audit check-proof and with the independent RFC 9162 verifier", async () => {
    const reply = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 });
    assert.equal(reply.status, 200, reply.text);
    const proof = reply.json;
    const [batch] = await batches();

    // The proof document of contract section 5.
    assert.equal(proof.decision_id, desk7Decision);
    assert.equal(proof.leaf_index, proof.record_seq - 1);
    assert.equal(proof.tree_size, batch.tree_size);
    assert.equal(proof.batch_id, batch.batch_id);
    assert.equal(proof.anchor, null, "no anchoring in this build");
    assert.ok(proof.audit_path.length > 0 && proof.audit_path.every(isHex32));

    // The leaf is the record of the decision's ActionDecided event.
    const event = (await h.decisionEvents()).find((e) => e.data["decision_id"] === desk7Decision)!;
    const [record] = (await asOperator(`/audit/records?after=${proof.record_seq - 1}&limit=1`)).json.records;
    assert.equal(record.seq, proof.record_seq);
    assert.equal(record.event_id, event.id);
    assert.equal(record.hash, proof.record_hash);
    assert.ok(leafHashOf(hex(proof.record_hash)).equals(hex(proof.leaf_hash)), "leaf_hash = SHA-256(0x00 || record hash)");

    // Independent verification, and the root is the sealed checkpoint's root.
    assert.ok(rfc9162VerifyInclusion(proof.leaf_index, proof.tree_size, hex(proof.leaf_hash), proof.audit_path.map(hex), hex(proof.root)));
    assert.equal(proof.root, batch.root, "the proof's root is the checkpoint root in GET /audit/batches");
    assert.equal(proof.checkpoint, batch.checkpoint);
    const opened = openCheckpointNote(proof.checkpoint, `zt-infra/audit/${auditKey.keyId}`, auditKey.publicKey, auditKey.key);
    assert.ok(opened, "the checkpoint note carries a valid Ed25519 signature by the audit key");
    assert.deepEqual({ origin: opened.origin, treeSize: opened.treeSize, root: opened.root.toString("hex") }, { origin: `zt-infra/audit/${auditKey.keyId}`, treeSize: batch.tree_size, root: batch.root });
    assert.ok(independentlyVerified(proof, auditKey));

    const checked = await checkProof(proof);
    assert.equal(checked.code, 0, JSON.stringify(checked.report));
    assert.deepEqual(checked.report, { ok: true, checks: [{ name: "leaf_hash", ok: true }, { name: "inclusion", ok: true }, { name: "checkpoint_signature", ok: true }] });

    // Every leaf of the checkpoint: each decision in it proves against the same root.
    for (const id of ops1Decisions) {
      const other = (await h.request("GET", `/audit/proofs/${id}`, { token: h.tokens.operator })).json;
      assert.equal(other.root, batch.root);
      assert.ok(independentlyVerified(other, auditKey), `proof of ${id}`);
    }
  });

  test("mutated proofs are refused by both verifiers", async () => {
    const proof = (await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.operator })).json;
    const another = (await h.request("GET", `/audit/proofs/${ops1Decisions[2]}`, { token: h.tokens.operator })).json;
    const flip = (hexText: string, bit = 0) => {
      const bytes = hex(hexText);
      bytes[bit >> 3]! ^= 1 << (bit & 7);
      return bytes.toString("hex");
    };
    const noteWithFlippedSignature = (() => {
      const note: string = proof.checkpoint;
      const cut = note.lastIndexOf(" ") + 1;
      const payload = Buffer.from(note.slice(cut, -1), "base64");
      payload[10]! ^= 0x01;
      return `${note.slice(0, cut)}${payload.toString("base64")}\n`;
    })();
    // Each with the check of `zt audit check-proof --json` that must fail.
    const mutations: ReadonlyArray<readonly [string, unknown, string]> = [
      ["a flipped bit in the first path node", { ...proof, audit_path: [flip(proof.audit_path[0]), ...proof.audit_path.slice(1)] }, "inclusion"],
      ["a flipped bit in the last path node", { ...proof, audit_path: [...proof.audit_path.slice(0, -1), flip(proof.audit_path.at(-1), 255)] }, "inclusion"],
      ["leaf_index + 1", { ...proof, leaf_index: proof.leaf_index + 1 }, "inclusion"],
      ["leaf_index - 1", { ...proof, leaf_index: proof.leaf_index - 1 }, "inclusion"],
      ["leaf_index = tree_size", { ...proof, leaf_index: proof.tree_size }, "inclusion"],
      // The RFC algorithm alone may accept a neighbouring tree size for some leaves; the
      // signed checkpoint binds the size.
      ["tree_size + 1", { ...proof, tree_size: proof.tree_size + 1 }, "checkpoint_signature"],
      ["tree_size - 1", { ...proof, tree_size: proof.tree_size - 1 }, "checkpoint_signature"],
      ["a truncated path", { ...proof, audit_path: proof.audit_path.slice(0, -1) }, "inclusion"],
      ["an extra path node", { ...proof, audit_path: [...proof.audit_path, proof.audit_path[0]] }, "inclusion"],
      ["swapped path nodes", { ...proof, audit_path: [...proof.audit_path].reverse() }, "inclusion"],
      ["another decision's leaf", { ...proof, leaf_hash: another.leaf_hash, record_hash: another.record_hash }, "inclusion"],
      ["another decision's leaf under this record_hash", { ...proof, leaf_hash: another.leaf_hash }, "leaf_hash"],
      ["another decision's leaf without record_hash", { ...proof, leaf_hash: another.leaf_hash, record_hash: undefined }, "inclusion"],
      ["a flipped bit in the root", { ...proof, root: flip(proof.root, 100) }, "inclusion"],
      ["a flipped bit in the checkpoint signature", { ...proof, checkpoint: noteWithFlippedSignature }, "checkpoint_signature"],
      ["no path at all", { ...proof, audit_path: [] }, "inclusion"],
      ["trailing garbage in a path node", { ...proof, audit_path: [`${proof.audit_path[0]}00`, ...proof.audit_path.slice(1)] }, "proof_format"],
    ];
    assert.notDeepEqual([...proof.audit_path].reverse(), proof.audit_path, "the path has distinct nodes to swap");
    // Four CLI processes at a time: seventeen at once can outlast the timeout on a loaded 2-core machine.
    const results: Array<Awaited<ReturnType<typeof checkProof>>> = [];
    for (let start = 0; start < mutations.length; start += 4) {
      results.push(...(await Promise.all(mutations.slice(start, start + 4).map(([, mutated]) => checkProof(JSON.parse(JSON.stringify(mutated)))))));
    }
    mutations.forEach(([name, mutated, failedCheck], i) => {
      assert.equal(independentlyVerified(JSON.parse(JSON.stringify(mutated)), auditKey), false, `the independent verifier refuses ${name}`);
      const { code, report } = results[i]!;
      assert.equal(code, 1, `check-proof exits 1 on ${name}: ${JSON.stringify(report)}`);
      assert.equal(report.ok, false);
      assert.equal(report.checks.find((c: { name: string }) => c.name === failedCheck)?.ok, false, `${name}: the ${failedCheck} check fails: ${JSON.stringify(report.checks)}`);
    });
  });

  test("a consistency proof between two checkpoints verifies with the independent RFC 9162 verifier", async () => {
    await postDenied(10);
    const sealed = await settled(2);
    const [first, second] = sealed;
    assert.ok(first.tree_size < second.tree_size);
    const reply = await asOperator(`/audit/consistency?from=${first.tree_size}&to=${second.tree_size}`);
    assert.equal(reply.status, 200, reply.text);
    const body = reply.json;
    assert.deepEqual(
      { from: body.from, to: body.to, root_from: body.root_from, root_to: body.root_to, from_batch_id: body.from_batch_id, to_batch_id: body.to_batch_id },
      { from: first.tree_size, to: second.tree_size, root_from: first.root, root_to: second.root, from_batch_id: first.batch_id, to_batch_id: second.batch_id },
    );
    assert.ok(rfc9162VerifyConsistency(first.tree_size, second.tree_size, hex(first.root), hex(second.root), body.proof.map(hex)), "the log only grew");

    // Mutated consistency proofs fail.
    const flipped = body.proof.map(hex);
    flipped[0][0] ^= 0x80;
    assert.equal(rfc9162VerifyConsistency(first.tree_size, second.tree_size, hex(first.root), hex(second.root), flipped), false);
    assert.equal(rfc9162VerifyConsistency(first.tree_size, second.tree_size, hex(first.root), hex(second.root), body.proof.slice(0, -1).map(hex)), false);
    assert.equal(rfc9162VerifyConsistency(first.tree_size, second.tree_size, hex(second.root), hex(first.root), body.proof.map(hex)), false);

    // Between every pair of sizes up to the head: each proof verifies (the RFC's 0 < first < second).
    const head = (await asOperator("/audit/head")).json;
    for (let from = 1; from < head.tree_size; from += 3) {
      for (const to of [from + 1, second.tree_size, head.tree_size]) {
        if (to <= from || to > head.tree_size) continue;
        const pair = (await asOperator(`/audit/consistency?from=${from}&to=${to}`)).json;
        assert.ok(rfc9162VerifyConsistency(from, to, hex(pair.root_from), hex(pair.root_to), pair.proof.map(hex)), `consistency ${from} -> ${to}`);
      }
    }

    // The inclusion proof now answers against the newest checkpoint, and still verifies.
    const proof = (await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 })).json;
    assert.equal(proof.tree_size, second.tree_size);
    assert.equal(proof.batch_id, second.batch_id);
    assert.ok(independentlyVerified(proof, auditKey));
  });

  test("bad consistency ranges answer 400", async () => {
    const head = (await asOperator("/audit/head")).json;
    const queries = ["from=0&to=5", "from=6&to=5", `from=1&to=${head.tree_size + 1}`, "from=-1&to=5", "from=1.5&to=5", "from=abc&to=5", "to=5", "from=5", "", "from=1&to=99999999999999999999"];
    for (const query of queries) {
      const reply = await asOperator(`/audit/consistency?${query}`);
      assert.equal(reply.status, 400, `${query}: ${reply.text}`);
      assert.equal(typeof reply.json.error, "string");
    }
  });

  test("zt audit proof prints the same proof as HTTP for the same checkpoint", async () => {
    const store = h.config.store.kind === "sqlite" ? h.config.store.path : assert.fail("the harness runs on SQLite");
    for (const id of [desk7Decision, ops1Decisions[0]!]) {
      const http = (await h.request("GET", `/audit/proofs/${id}`, { token: h.tokens.operator })).json;
      const cli = await runZt(["audit", "proof", id, "--store", `sqlite:${store}`]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.deepEqual(JSON.parse(cli.stdout), http);
    }
    const unknown = await runZt(["audit", "proof", "dec_00000000000000000000000000", "--store", `sqlite:${store}`]);
    assert.equal(unknown.code, 2, "an unknown decision is a usage error");
    assert.match(unknown.stderr, /no decision/);
  });

  test("access: agents see only their own decisions' proofs; head, records, batches and consistency are operator-only", async () => {
    const ownProof = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.desk7 });
    assert.equal(ownProof.status, 200);
    const asOps1 = await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.ops1 });
    assert.equal(asOps1.status, 404, "another agent's decision is not found, not forbidden");
    assert.equal(asOps1.json.error, "not_found");
    assert.equal((await h.request("GET", `/audit/proofs/${ops1Decisions[0]}`, { token: h.tokens.desk7 })).status, 404);
    assert.equal((await h.request("GET", `/audit/proofs/${ops1Decisions[0]}`, { token: h.tokens.ops1 })).status, 200);
    assert.equal((await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: h.tokens.operator })).status, 200, "the operator sees any");
    assert.equal((await h.request("GET", "/audit/proofs/dec_00000000000000000000000000", { token: h.tokens.operator })).status, 404);
    assert.equal((await h.request("GET", "/audit/proofs/not-a-decision-id", { token: h.tokens.operator })).status, 404);
    assert.equal((await h.request("GET", `/audit/proofs/${desk7Decision}`)).status, 401);
    assert.equal((await h.request("GET", `/audit/proofs/${desk7Decision}`, { token: "not-a-token" })).status, 401);

    for (const path of ["/audit/head", "/audit/records", "/audit/batches", "/audit/consistency?from=1&to=2"]) {
      assert.equal((await h.request("GET", path, { token: h.tokens.operator })).status, 200, `${path} as operator`);
      for (const token of [h.tokens.desk7, h.tokens.ops1]) {
        const reply = await h.request("GET", path, { token });
        assert.equal(reply.status, 403, `${path} as an agent`);
        assert.equal(reply.json.error, "forbidden");
      }
      assert.equal((await h.request("GET", path)).status, 401, `${path} without a token`);
    }
  });
});
