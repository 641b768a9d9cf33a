/**
 * End to end with `ZT_CHAIN=local`: the service starts its own anvil, deploys the DAAL,
 * writes chain.json, and anchors every sealed checkpoint while decisions are made. The
 * anchor is then checked from outside: the receipt through verifyAnchorReceipt against
 * the anvil RPC, the CheckpointAnchored logs and the raw calldata of every transaction
 * sent to the DAAL (only a root and a tree size, nothing of the decisions). A restart on
 * the same data directory reloads the chain and anchors only what is new.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { decodeFunctionData, hexToBytes, type Hex } from "viem";
import { DAAL_ABI } from "../../src/anchoring/generated/daalArtifact.ts";
import { ANCHOR_CONFIRMED, ANCHOR_SUBMITTED, anchorStream } from "../../src/anchoring/core/events.ts";
import { verifyAnchorReceipt } from "../../src/anchoring/adapters/rpc/verifyAnchorReceipt.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, tempDir, type Harness } from "../support/harness.ts";
import { deployDaal } from "../../src/anchoring/deploy/deployDaal.ts";
import { ANVIL_DEPLOYER_KEY } from "../../src/anchoring/local/localChain.ts";
import { runZt } from "../support/spawnServer.ts";
import { anchoredLogs, readerFor, SUBMITTER_ADDRESS, transactionsTo, waitFor } from "./anchoringFixtures.ts";

// A checkpoint per swap: its five records (the first swap's with the start's policy
// activation) reach five with its nonce and decision, which are committed together.
const ENV = { ZT_CHAIN: "local", ZT_CHECKPOINT_RECORDS: "5", ZT_CHECKPOINT_MS: "86400000", ZT_ANCHOR_POLL_MS: "50", ZT_ANCHOR_RETRY_BASE_MS: "50", ZT_ANCHOR_RETRY_MAX_MS: "500" };

interface Batch {
  readonly batch_id: string;
  readonly tree_size: number;
  readonly root: string;
  readonly anchor: { chain_id: number; contract: string; tx_hash: string | null; status: string } | null;
}

async function batches(h: Harness): Promise<ReadonlyArray<Batch>> {
  const reply = await h.request("GET", "/audit/batches", { token: h.tokens.operator });
  assert.equal(reply.status, 200, reply.text);
  return reply.json.batches;
}

function confirmedBatches(h: Harness, count: number) {
  return waitFor(`${count} confirmed batch(es)`, async () => {
    const all = await batches(h);
    return all.length >= count && all.slice(0, count).every((b) => b.anchor?.status === "confirmed") ? all : undefined;
  }, { timeoutMs: 20_000, intervalMs: 50 });
}

async function streamOf(h: Harness, stream: string) {
  return h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(stream)));
}

/** A swap by desk-7 on Jupiter under a permit (snapshot, permit, budget charge, nonce, decision: five events). */
async function swap(h: Harness): Promise<string> {
  assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
  const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
  const decided = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
  assert.equal(decided.status, 200, decided.text);
  assert.equal(decided.json.status, "allowed");
  return decided.json.decision_id;
}

describe("ZT_CHAIN=local: anchoring on the service's own anvil", () => {
  const dataDir = tempDir("zt-anchor-local-");
  let h: Harness;
  let chain: { rpc_url: string; chain_id: number; daal_address: Hex; deployment_block: number };
  let decisionId: string;

  before(async () => {
    h = await makeHarness({ dataDir, env: ENV });
  });
  after(async () => {
    await h?.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  });

  test("chain.json names the local chain and the deployed DAAL", async () => {
    chain = JSON.parse(readFileSync(join(dataDir, "chain.json"), "utf8"));
    assert.deepEqual(Object.keys(chain).sort(), ["chain_id", "daal_address", "deployment_block", "rpc_url"]);
    assert.equal(chain.chain_id, 31337);
    assert.match(chain.rpc_url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.match(chain.daal_address, /^0x[0-9a-fA-F]{40}$/);
    assert.ok(Number.isInteger(chain.deployment_block) && chain.deployment_block >= 1);
    const code = await readerFor(chain.rpc_url).getCode({ address: chain.daal_address });
    assert.ok(code !== undefined && code.length > 2, "the DAAL is deployed there");
    assert.ok(h.logs.some((line) => line.includes('"local chain started"')));
  });

  test("decisions seal a checkpoint; its anchor is confirmed and recorded as AnchorSubmitted then AnchorConfirmed", async () => {
    decisionId = await swap(h);
    const [batch] = await confirmedBatches(h, 1);
    assert.ok(batch?.anchor);
    assert.equal(batch.anchor.chain_id, 31337);
    assert.equal(batch.anchor.contract.toLowerCase(), chain.daal_address.toLowerCase());
    assert.match(batch.anchor.tx_hash ?? "", /^0x[0-9a-f]{64}$/);

    const events = await streamOf(h, anchorStream(batch.batch_id));
    assert.deepEqual(events.map((e) => e.type), [ANCHOR_SUBMITTED, ANCHOR_CONFIRMED]);
    assert.equal(events[0]?.data["tx_hash"], batch.anchor.tx_hash);
    assert.equal(events[0]?.data["root"], `0x${batch.root}`);
    assert.equal(events[0]?.data["tree_size"], batch.tree_size);
    assert.equal(events[0]?.data["submitter"], "direct");
    assert.equal(events[1]?.data["tx_hash"], batch.anchor.tx_hash);
    assert.ok((events[1]?.data["confirmations"] as number) >= 1);
  });

  test("the receipt verifies against the anvil RPC: success, to the DAAL, its CheckpointAnchored(root, size) log", async () => {
    const [batch] = await batches(h);
    assert.ok(batch?.anchor?.tx_hash);
    const expected = { chainId: 31337, contract: chain.daal_address, root: `0x${batch.root}` as Hex, treeSize: batch.tree_size, minConfirmations: 1 };
    const verdict = await Effect.runPromise(verifyAnchorReceipt({ rpcUrl: chain.rpc_url, txHash: batch.anchor.tx_hash as Hex, expected }));
    assert.deepEqual(verdict.ok ? "ok" : verdict.failed, "ok");
    const logs = await anchoredLogs(readerFor(chain.rpc_url), chain.daal_address);
    assert.deepEqual(logs.map((l) => [l.root, l.treeSize, l.txHash]), [[`0x${batch.root}`, BigInt(batch.tree_size), batch.anchor.tx_hash]]);
  });

  test("the inclusion proof of the decision carries its batch's anchor", async () => {
    const proof = await h.request("GET", `/audit/proofs/${decisionId}`, { token: h.tokens.desk7 });
    assert.equal(proof.status, 200, proof.text);
    const [batch] = await batches(h);
    assert.equal(proof.json.batch_id, batch?.batch_id);
    assert.deepEqual(proof.json.anchor, batch?.anchor);
    assert.equal(proof.json.anchor.status, "confirmed");
  });

  test("zt audit check-proof --rpc proves the decision's proof against the chain; a root the DAAL never saw fails", async () => {
    const proof = await h.request("GET", `/audit/proofs/${decisionId}`, { token: h.tokens.desk7 });
    assert.equal(proof.status, 200, proof.text);
    const dir = tempDir("zt-proof-");
    const file = join(dir, "proof.json");
    writeFileSync(file, JSON.stringify(proof.json));
    const keys = join(dataDir, "keys", "audit.pub.json");
    const ok = await runZt(["audit", "check-proof", file, "--keys", keys, "--rpc", chain.rpc_url, "--json"]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    const report = JSON.parse(ok.stdout);
    assert.deepEqual(report.checks.find((c: { name: string }) => c.name === "anchored_on_chain")?.ok, true);

    // A well-formed proof of another tree (one leaf: root = leaf) the chain never anchored.
    const forged = { ...proof.json, leaf_index: 0, tree_size: 1, audit_path: [], root: proof.json.leaf_hash, checkpoint: undefined, anchor: { ...proof.json.anchor, tx_hash: null } };
    writeFileSync(file, JSON.stringify(forged));
    const refused = await runZt(["audit", "check-proof", file, "--rpc", chain.rpc_url, "--contract", chain.daal_address, "--json"]);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    const failed = JSON.parse(refused.stdout).checks.find((c: { name: string }) => c.name === "anchored_on_chain");
    assert.equal(failed.ok, false);
    assert.match(failed.detail, /not anchored/);
    rmSync(dir, { recursive: true, force: true });
  });

  test("zt audit verify --rpc --contract checks every anchor the DAAL emitted against the verified log", async () => {
    const store = `sqlite:${join(dataDir, "events.db")}`;
    const keys = join(dataDir, "keys", "audit.pub.json");
    const run = await runZt(["audit", "verify", "--store", store, "--keys", keys, "--rpc", chain.rpc_url, "--contract", chain.daal_address, "--json"]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.equal(report.ok, true);
    const confirmed = (await batches(h)).filter((b) => b.anchor?.status === "confirmed");
    assert.ok(confirmed.length >= 1);
    assert.equal(report.chain.anchors, (await anchoredLogs(readerFor(chain.rpc_url), chain.daal_address)).length);
    assert.equal(report.chain.anchored_size, Math.max(...confirmed.map((b) => b.tree_size)));
    assert.equal(report.chain.from_block, chain.deployment_block, "found by the contract's code");
    assert.equal(report.chain.from_block_source, "the contract's code");

    // Another DAAL (a fresh deployment) anchored none of them, and the store names the real one.
    const other = (await deployDaal({ chain: "local", rpcUrl: chain.rpc_url, privateKey: ANVIL_DEPLOYER_KEY, submitter: SUBMITTER_ADDRESS })).address;
    const elsewhere = await runZt(["audit", "verify", "--store", store, "--keys", keys, "--rpc", chain.rpc_url, "--contract", other, "--json"]);
    assert.equal(elsewhere.code, 1, elsewhere.stdout + elsewhere.stderr);
    assert.equal(JSON.parse(elsewhere.stdout).chain.failure.kind, "anchor_contract_mismatch");
  });

  test("calldata: every anchoring transaction carries only a root and a tree size, nothing of the decisions", async () => {
    await swap(h);
    await confirmedBatches(h, 2);
    const sealed = await batches(h);
    const txs = (await transactionsTo(readerFor(chain.rpc_url), chain.daal_address)).filter((tx) => tx.from.toLowerCase() === SUBMITTER_ADDRESS.toLowerCase());
    assert.ok(txs.length >= 2, `anchoring transactions: ${txs.length}`);
    const forbidden = ["agent:desk-7", "jupiter", "policy_mainnet_v1", "swap.execute", "solana:mainnet/jupiter"].map((text) => [text, new TextEncoder().encode(text)] as const);
    for (const tx of txs) {
      const decoded = decodeFunctionData({ abi: DAAL_ABI, data: tx.input });
      assert.equal(decoded.functionName, "anchorCheckpoint");
      const [root, treeSize] = decoded.args as readonly [Hex, bigint];
      assert.ok(
        sealed.some((b) => `0x${b.root}` === root && BigInt(b.tree_size) === treeSize),
        `${root} at ${treeSize} is a sealed checkpoint`,
      );
      // selector + two 32-byte words, and nothing else.
      const bytes = hexToBytes(tx.input);
      assert.equal(bytes.length, 4 + 32 + 32);
      const raw = Buffer.from(bytes);
      for (const [text, utf8] of forbidden) assert.equal(raw.indexOf(utf8), -1, `calldata carries "${text}"`);
    }
  });

  test("a restart on the same data directory reloads the chain: confirmed batches stay confirmed, new ones are anchored once", async () => {
    const before = await batches(h);
    const logsBefore = await anchoredLogs(readerFor(chain.rpc_url), chain.daal_address);
    await h.close({ keepData: true });
    h = await makeHarness({ dataDir, env: ENV });
    const again: typeof chain = JSON.parse(readFileSync(join(dataDir, "chain.json"), "utf8"));
    assert.equal(again.daal_address, chain.daal_address, "the DAAL from the first run is reused");
    assert.ok(existsSync(join(dataDir, "anvil-state.json")));
    chain = again;

    const reloaded = await batches(h);
    assert.deepEqual(reloaded.map((b) => [b.batch_id, b.anchor?.status, b.anchor?.tx_hash]), before.map((b) => [b.batch_id, b.anchor?.status, b.anchor?.tx_hash]));
    await swap(h);
    const now = await confirmedBatches(h, before.length + 1);
    const logs = await anchoredLogs(readerFor(chain.rpc_url), chain.daal_address);
    assert.deepEqual(logs.slice(0, logsBefore.length), logsBefore, "the earlier anchors are still on the reloaded chain");
    assert.equal(logs.length, now.filter((b) => b.anchor?.status === "confirmed").length, "one CheckpointAnchored per confirmed batch");
    assert.equal(new Set(logs.map((l) => l.root)).size, logs.length);
    for (const b of before) assert.deepEqual((await streamOf(h, anchorStream(b.batch_id))).map((e) => e.type), [ANCHOR_SUBMITTED, ANCHOR_CONFIRMED], "nothing resubmitted");
  });

  test("closing the service stops its anvil", async () => {
    const rpcUrl = chain.rpc_url;
    await h.close({ keepData: true });
    const reachable = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: '{"jsonrpc":"2.0","id":1,"method":"eth_chainId"}', signal: AbortSignal.timeout(1000) }).then(
      () => true,
      () => false,
    );
    assert.equal(reachable, false);
  });
});
