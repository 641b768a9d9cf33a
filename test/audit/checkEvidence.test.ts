/**
 * The evidence checks the console runs in a browser and `zt audit check-proof` runs in
 * Node: a decision's event, its signed audit record and its inclusion proof under a signed
 * checkpoint, built here from the project's own chain and checkpoint code; every single
 * alteration fails the check that names it.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { RecordedEvent } from "../../src/events/EventStore.ts";
import { EMPTY_CHAIN, hashedEventFields, nextRecord, type AuditRecord, type ChainHead } from "../../src/audit/AuditRecord.ts";
import { recordLeaf } from "../../src/audit/AuditTrail.ts";
import { auditKeysFrom, checkDecisionEvidence, checkInclusionProof, decisionHashProblem } from "../../src/audit/checkEvidence.ts";
import { sealCheckpoint } from "../../src/audit/Checkpoint.ts";
import { encodeBase64Url } from "../../src/kernel/base64url.ts";
import { keyIdOf, makeWebCryptoVerifier, publicKeyFromSeed } from "../../src/kernel/ed25519.ts";
import { bytesToHex, sha256Hex } from "../../src/kernel/hashing.ts";
import { canonicalJsonTrusted } from "../../src/kernel/jcs.ts";
import { MerkleTree } from "../../src/kernel/merkle.ts";
import { receiptHash } from "../../src/vocabulary/receipt.ts";

const SEED = new Uint8Array(32).map((_, i) => 200 - i);
const PUBLIC_KEY = publicKeyFromSeed(SEED);
const KEY_ID = keyIdOf(PUBLIC_KEY);
const SIGNER = { keyId: KEY_ID, seed: SEED };
const KEYS = new Map([[KEY_ID, PUBLIC_KEY]]);
const verifier = makeWebCryptoVerifier();
const DECISION = "dec_01JAAAAAAAAAAAAAAAAAAAAAAA";

function decisionData(id: string, n: number) {
  const intent = { protocol: "jupiter", asset: "SOL", amount: `${n}.5`, slippage_bps: 30 };
  const intentHash = sha256Hex(canonicalJsonTrusted(intent));
  const fields = { policy_id: "policy_mainnet_v1", permit_id: null, intent_hash: intentHash, status: "denied" as const, invariant_checks: [{ name: "permit_present", ok: false }], decided_at: `2026-02-23T18:40:0${n}.123Z` };
  return {
    decision_id: id,
    ...fields,
    reason: "permit_required",
    actor: "agent:desk-7",
    request: { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", intent },
    receipt_hash: receiptHash({ ...fields, decision: fields.status, timestamp: fields.decided_at }),
  };
}

/** Five events chained and signed, a checkpoint over them, and the evidence of the third (the decision). */
function fixture() {
  const events: RecordedEvent[] = [0, 1, 2, 3, 4].map((n) => ({
    id: `00000000-0000-4000-8000-00000000000${n}`,
    type: n === 2 ? "ActionDecided.v1" : "SampleQuoted.v1",
    stream: n === 2 ? `decision-${DECISION}` : "sample",
    revision: n === 2 ? 0 : n,
    position: n + 1,
    data: n === 2 ? decisionData(DECISION, n) : { n },
    metadata: {},
    recordedAt: `2026-02-23T18:40:0${n}.200Z`,
  }));
  const tree = new MerkleTree();
  let head: ChainHead = EMPTY_CHAIN;
  const records: AuditRecord[] = [];
  for (const event of events) {
    const record = nextRecord(head, event, SIGNER);
    records.push(record);
    tree.append(recordLeaf(record.hash));
    head = record;
  }
  const checkpoint = sealCheckpoint({ ordinal: 1, treeSize: tree.size, root: tree.root(), signer: SIGNER, sealedAt: "2026-02-23T18:40:06.000Z" });
  const record = records[2]!;
  const proof = {
    decision_id: DECISION,
    record_seq: record.seq,
    record_hash: record.hash,
    leaf_hash: bytesToHex(recordLeaf(record.hash)),
    leaf_index: record.seq - 1,
    tree_size: checkpoint.tree_size,
    audit_path: tree.inclusionProof(record.seq - 1, tree.size)!.map(bytesToHex),
    root: checkpoint.root,
    batch_id: checkpoint.batch_id,
    checkpoint: checkpoint.note,
    anchor: null,
  };
  return { evidence: { event: hashedEventFields(events[2]!), record, proof }, checkpoint };
}

const clone = <A>(value: A): A => JSON.parse(JSON.stringify(value));
const flipHex = (hex: string) => `${hex.slice(0, 10)}${hex[10] === "0" ? "1" : "0"}${hex.slice(11)}`;

test("genuine evidence passes every check and names the checkpoint and the key it was checked against", async () => {
  const { evidence, checkpoint } = fixture();
  const report = await checkDecisionEvidence(DECISION, clone(evidence), KEYS, verifier);
  assert.deepEqual(report.checks.filter((c) => !c.ok), []);
  assert.deepEqual(
    report.checks.map((c) => c.name),
    ["decision", "receipt_hash", "event_hash", "record_hash", "record_signature", "proof_record", "leaf_hash", "inclusion", "checkpoint_signature"],
  );
  assert.equal(report.ok, true);
  assert.deepEqual(report.checkpoint, { batch_id: "batch-1", tree_size: 5, root: checkpoint.root, origin: `zt-infra/audit/${KEY_ID}`, key_id: KEY_ID });
});

test("every alteration fails the check that names it", async () => {
  const { evidence } = fixture();
  const mutations: ReadonlyArray<readonly [string, (e: any) => void, string]> = [
    ["another decision asked for", () => undefined, "decision"],
    ["the recorded status", (e) => (e.event.data.status = "allowed"), "receipt_hash"],
    ["the recorded intent", (e) => (e.event.data.request.intent.amount = "99"), "receipt_hash"],
    ["an event field outside the receipt", (e) => (e.event.data.actor = "agent:ops-1"), "event_hash"],
    ["the event's recorded_at", (e) => (e.event.recorded_at = "2026-02-23T18:40:09.200Z"), "event_hash"],
    ["the record's event_hash", (e) => (e.record.event_hash = flipHex(e.record.event_hash)), "event_hash"],
    ["the record's prev_hash", (e) => (e.record.prev_hash = flipHex(e.record.prev_hash)), "record_hash"],
    ["the record's signature", (e) => (e.record.signature = `${e.record.signature.slice(0, 20)}${e.record.signature[20] === "A" ? "B" : "A"}${e.record.signature.slice(21)}`), "record_signature"],
    ["an unknown signing key", (e) => (e.record.key_id = "zt-0000000000000000"), "record_signature"],
    ["a proof of another record", (e) => (e.proof.record_seq = 4), "proof_record"],
    ["an audit path node", (e) => (e.proof.audit_path[0] = flipHex(e.proof.audit_path[0])), "inclusion"],
    ["the proof's root", (e) => (e.proof.root = flipHex(e.proof.root)), "inclusion"],
    ["the proof's tree size", (e) => (e.proof.tree_size = 6), "checkpoint_signature"],
    ["the checkpoint note's size", (e) => (e.proof.checkpoint = e.proof.checkpoint.replace("\n5\n", "\n6\n")), "checkpoint_signature"],
  ];
  for (const [what, mutate, failing] of mutations) {
    const altered = clone(evidence);
    mutate(altered);
    const asked = what === "another decision asked for" ? "dec_01JBBBBBBBBBBBBBBBBBBBBBBB" : DECISION;
    const report = await checkDecisionEvidence(asked, altered, KEYS, verifier);
    assert.equal(report.ok, false, what);
    assert.equal(report.checks.find((c) => c.name === failing)?.ok, false, `${what} fails ${failing}: ${JSON.stringify(report.checks)}`);
  }
});

test("hostile shapes are refused as evidence_format or proof_format, never thrown", async () => {
  const { evidence } = fixture();
  for (const hostile of [null, 42, "x", [], {}, { ...clone(evidence), event: null }, { ...clone(evidence), record: { ...evidence.record, seq: -1 } }, { ...clone(evidence), proof: [] }]) {
    const report = await checkDecisionEvidence(DECISION, hostile, KEYS, verifier);
    assert.equal(report.ok, false);
    assert.deepEqual(report.checks.map((c) => c.name), ["evidence_format"]);
  }
  for (const hostile of [null, {}, { ...evidence.proof, audit_path: ["AB".repeat(32)] }, { ...evidence.proof, leaf_index: 1.5 }, { ...evidence.proof, tree_size: 0 }]) {
    const report = await checkInclusionProof(hostile, KEYS, verifier);
    assert.deepEqual(report.checks.map((c) => [c.name, c.ok]), [["proof_format", false]]);
  }
  const skipped = await checkInclusionProof(evidence.proof, null, verifier);
  assert.equal(skipped.ok, true);
  assert.deepEqual(skipped.checks.at(-1), { name: "checkpoint_signature", ok: true, detail: "skipped: no audit key given" });
  assert.equal(skipped.checkpoint?.key_id, null);
});

test("auditKeysFrom keeps audit keys whose key_id is their key's, and nothing else", () => {
  const other = publicKeyFromSeed(new Uint8Array(32).fill(3));
  const document = {
    keys: [
      { key_id: KEY_ID, use: "audit", alg: "Ed25519", public_key: encodeBase64Url(PUBLIC_KEY) },
      { key_id: keyIdOf(other), use: "permit", alg: "Ed25519", public_key: encodeBase64Url(other) },
      { key_id: KEY_ID, use: "audit", alg: "Ed25519", public_key: encodeBase64Url(other) },
      { key_id: "x", use: "audit", public_key: "not base64url!" },
      null,
    ],
  };
  assert.deepEqual([...auditKeysFrom(document)], [[KEY_ID, PUBLIC_KEY]]);
  assert.equal(auditKeysFrom(null).size, 0);
  assert.equal(auditKeysFrom({ keys: "no" }).size, 0);
});

test("decisionHashProblem: recorded fields recompute, a changed one does not", () => {
  const data = decisionData(DECISION, 1);
  assert.equal(decisionHashProblem(data), null);
  assert.match(decisionHashProblem({ ...data, policy_id: "other" }) ?? "", /receipt_hash/);
  assert.match(decisionHashProblem({ ...data, request: { ...data.request, intent: { ...data.request.intent, asset: "BTC" } } }) ?? "", /intent_hash/);
  assert.match(decisionHashProblem({ ...data, invariant_checks: "none" }) ?? "", /not all there/);
  assert.match(decisionHashProblem(null) ?? "", /not an object/);
});
