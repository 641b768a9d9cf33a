/**
 * Micro benchmarks of the decision path's parts, medians over 7 rounds in one run:
 * ed25519 verify (@noble/ed25519 vs WebCrypto), Cedar evaluation against the preparsed
 * example bundle, JCS + sha256 of a typical receipt, SQLite appends through the store
 * adapter (one at a time vs concurrent appends sharing a commit), and RFC 9162 inclusion
 * proofs in a tree of 1,000,000 leaves.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, Either, ManagedRuntime } from "effect";
import { receiptHash } from "../src/vocabulary/receipt.ts";
import { EventStore, type NewEvent } from "../src/events/EventStore.ts";
import { SqliteEventStore } from "../src/events/sqlite/SqliteEventStore.ts";
import { makeWebCryptoVerifier, publicKeyFromSeed, sign, verify } from "../src/kernel/ed25519.ts";
import { leafHash, MerkleTree, verifyInclusion } from "../src/kernel/merkle.ts";
import { compilePolicyBundle } from "../src/policy/PolicyBundle.ts";
import { finishSection, opsPerSecond, type BenchRow } from "./report.ts";

const rows: BenchRow[] = [];

// --- ed25519 -------------------------------------------------------------------------
const seed = crypto.getRandomValues(new Uint8Array(32));
const publicKey = publicKeyFromSeed(seed);
const message = new TextEncoder().encode(JSON.stringify({ permit_id: "permit_x", nonce: crypto.randomUUID(), constraints: { max_notional_usd: 10000 } }));
const signature = sign(message, seed);
const webCryptoVerify = makeWebCryptoVerifier();
const noble = await opsPerSecond(300, () => verify(signature, message, publicKey));
const webcrypto = await opsPerSecond(3000, () => webCryptoVerify(signature, message, publicKey));
rows.push({ name: "ed25519 verify, @noble/ed25519 (zip215: false)", value: noble, unit: "ops/s" });
rows.push({ name: "ed25519 verify, WebCrypto (the request path)", value: webcrypto, unit: "ops/s", ratio: { to: "noble", value: webcrypto / noble } });

// --- Cedar and receipts ----------------------------------------------------------------
const policyDir = fileURLToPath(new URL("../policies/", import.meta.url));
const bundle = compilePolicyBundle(readdirSync(policyDir).map((path) => ({ path, bytes: new Uint8Array(readFileSync(join(policyDir, path))) })));
if (Either.isLeft(bundle)) throw new Error("the example bundle does not compile");
const request = { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", context: {} };
let distinct = 0;
const evaluated = await opsPerSecond(3000, () => bundle.right.authorize({ ...request, context: { n: distinct++ } }));
const memoised = await opsPerSecond(30_000, () => bundle.right.authorize(request));
rows.push({ name: "Cedar authorize, preparsed bundle, a new request each time (evaluated)", value: evaluated, unit: "ops/s" });
rows.push({ name: "Cedar authorize, a repeated request (memoised answer)", value: memoised, unit: "ops/s", ratio: { to: "evaluated", value: memoised / evaluated } });
const receipt = {
  policy_id: "policy_mainnet_v1",
  permit_id: "permit_01J9QJ",
  intent_hash: "a".repeat(64),
  decision: "allowed" as const,
  invariant_checks: Array.from({ length: 17 }, (_, i) => ({ name: `check_${i}`, ok: true })),
  timestamp: "2026-02-23T18:40:00.123Z",
};
rows.push({ name: "receipt_hash (JCS + sha256), 17 checks", value: await opsPerSecond(20_000, () => receiptHash(receipt)), unit: "ops/s" });

// --- SQLite appends ---------------------------------------------------------------------
const dir = mkdtempSync(join(tmpdir(), "zt-bench-micro-"));
try {
  const runtime = ManagedRuntime.make(SqliteEventStore.layer({ path: join(dir, "events.db") }));
  const store = await runtime.runPromise(EventStore);
  const decision = (): NewEvent => ({ id: crypto.randomUUID(), type: "BenchDecided.v1", data: { decision_id: crypto.randomUUID(), status: "allowed", checks: [1, 2, 3] } });
  // Every append is a new stream expecting no_stream, as a decision's is.
  const single = await opsPerSecond(500, () => Effect.runPromise(store.append(`bench-${crypto.randomUUID()}`, [decision()], "no_stream")));
  const CONCURRENT = 64;
  const grouped = await opsPerSecond(20, () =>
    Effect.runPromise(Effect.all(Array.from({ length: CONCURRENT }, () => store.append(`bench-${crypto.randomUUID()}`, [decision()], "no_stream")), { concurrency: "unbounded" })),
  ) * CONCURRENT;
  rows.push({ name: "SQLite append, one durable append at a time", value: single, unit: "appends/s" });
  rows.push({ name: `SQLite append, ${CONCURRENT} concurrent appends (group commit)`, value: grouped, unit: "appends/s", ratio: { to: "one at a time", value: grouped / single } });
  await runtime.dispose();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

// --- Merkle inclusion proofs at 1M leaves -------------------------------------------------
const LEAVES = 1_000_000;
const tree = new MerkleTree();
let started = performance.now();
const leafData = new Uint8Array(32);
for (let i = 0; i < LEAVES; i++) {
  new DataView(leafData.buffer).setUint32(0, i);
  tree.append(leafHash(leafData));
}
const buildSeconds = (performance.now() - started) / 1000;
rows.push({ name: `Merkle tree append (RFC 6962 leaves), up to ${LEAVES.toLocaleString("en-US")}`, value: LEAVES / buildSeconds, unit: "leaves/s" });
const root = tree.root();
let probe = 0;
const proofs = await opsPerSecond(20_000, () => {
  probe = (probe * 7919 + 104_729) % LEAVES;
  return tree.inclusionProof(probe, LEAVES);
});
rows.push({ name: `inclusion proof at ${LEAVES.toLocaleString("en-US")} leaves`, value: proofs, unit: "proofs/s" });
started = performance.now();
const index = 123_456;
const proof = tree.inclusionProof(index, LEAVES)!;
if (!verifyInclusion(index, LEAVES, tree.leaf(index)!, proof, root).ok) throw new Error("the benchmark's proof does not verify");
rows.push({ name: "inclusion proof verify (20 nodes)", value: await opsPerSecond(20_000, () => verifyInclusion(index, LEAVES, tree.leaf(index)!, proof, root)), unit: "ops/s" });

finishSection({
  section: "micro",
  method: `in-process, ${process.version}; each figure the median of 7 rounds; SQLite on a temporary file through the store (WAL, synchronous=NORMAL, each append answered once the WAL is fdatasynced)`,
  rows,
});
