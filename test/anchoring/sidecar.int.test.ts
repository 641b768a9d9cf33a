/**
 * The sidecar's idempotency and ordering rules on a real anvil, with checkpoints sealed
 * first (ZT_CHAIN=off) and the chain prepared by hand before the sidecar starts:
 *
 * - a root already on the DAAL (the transaction landed but the service stopped before
 *   recording it) is confirmed from the chain, never resubmitted;
 * - a batch whose tree size the DAAL has already passed (a later checkpoint anchored
 *   first) is recorded as AnchorFailed `superseded` and skipped; the later one is
 *   confirmed. The DAAL refuses non-growing sizes, so anchoring it is impossible; the
 *   consistency proof from it to the anchored checkpoint covers it;
 * - anchor events are chained into the audit log but never make a checkpoint due by
 *   themselves (else each anchor would seal a checkpoint needing an anchor, forever).
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { after, describe, test } from "node:test";
import { Effect } from "effect";
import type { Hex } from "viem";
import { makeDirectSubmitter } from "../../src/anchoring/adapters/direct/DirectSubmitter.ts";
import { ANCHOR_CONFIRMED, ANCHOR_FAILED, ANCHOR_SUBMITTED, anchorStream } from "../../src/anchoring/core/events.ts";
import { ANVIL_SUBMITTER_KEY } from "../../src/anchoring/local/localChain.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, tempDir, type Harness } from "../support/harness.ts";
import { anchoredLogs, anvilWithDaal, stopAllAnvils, waitFor, type ChainWithDaal } from "./anchoringFixtures.ts";

interface Batch {
  readonly batch_id: string;
  readonly tree_size: number;
  readonly root: string;
  readonly anchor: { chain_id: number; contract: string; tx_hash: string | null; status: string } | null;
}

const SEAL = { ZT_CHECKPOINT_RECORDS: "4", ZT_CHECKPOINT_MS: "86400000" };

async function batches(h: Harness): Promise<ReadonlyArray<Batch>> {
  const reply = await h.request("GET", "/audit/batches", { token: h.tokens.operator });
  assert.equal(reply.status, 200, reply.text);
  return reply.json.batches;
}

/** Two sealed batches in `dataDir`, made with anchoring off. */
async function sealTwoBatches(dataDir: string): Promise<ReadonlyArray<Batch>> {
  const h = await makeHarness({ dataDir, env: { ZT_CHAIN: "off", ...SEAL } });
  try {
    for (let n = 1; n <= 2; n++) {
      assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
      const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
      assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) })).status, 200);
      await waitFor(`batch ${n}`, async () => ((await batches(h)).length >= n ? true : undefined), { timeoutMs: 10_000 });
    }
    const sealed = await batches(h);
    assert.ok(sealed.every((b) => b.anchor === null), "no anchor while ZT_CHAIN=off");
    return sealed;
  } finally {
    await h.close({ keepData: true });
  }
}

function anchoringEnv(chain: ChainWithDaal) {
  return {
    ZT_CHAIN: chain.rpcUrl,
    ZT_CHAIN_ID: "31337",
    ZT_DAAL_ADDRESS: chain.daal,
    ZT_SUBMITTER_PRIVATE_KEY: ANVIL_SUBMITTER_KEY,
    ZT_ANCHOR_POLL_MS: "50",
    ZT_ANCHOR_RETRY_BASE_MS: "50",
    ZT_ANCHOR_RETRY_MAX_MS: "200",
    ...SEAL,
  };
}

/** Anchors `batch` straight through the direct submitter, as a sidecar that stopped before recording would have. */
async function anchorByHand(chain: ChainWithDaal, batch: Batch): Promise<Hex> {
  const submitter = await Effect.runPromise(makeDirectSubmitter({ rpcUrl: chain.rpcUrl, chainId: 31337, contract: chain.daal, privateKey: ANVIL_SUBMITTER_KEY }));
  const { txHash } = await Effect.runPromise(submitter.submit({ root: `0x${batch.root}`, treeSize: batch.tree_size }));
  await chain.client.waitForTransactionReceipt({ hash: txHash, pollingInterval: 50, timeout: 10_000 });
  return txHash;
}

describe("anchoring sidecar: idempotent restarts and tree-size order", () => {
  const dirs: string[] = [];
  let h: Harness | undefined;
  after(async () => {
    await h?.close().catch(() => undefined);
    await stopAllAnvils();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const streamOf = (harness: Harness, stream: string) => harness.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(stream)));

  test("a root already anchored is confirmed from the chain's own record, with no second transaction", async () => {
    const dataDir = tempDir("zt-anchor-idem-");
    dirs.push(dataDir);
    const sealed = await sealTwoBatches(dataDir);
    const chain = await anvilWithDaal();
    const [first, second] = sealed as [Batch, Batch];
    const manual = await anchorByHand(chain, first);

    h = await makeHarness({ dataDir, env: anchoringEnv(chain) });
    const all = await waitFor("both batches confirmed", async () => {
      const list = await batches(h!);
      return list.length >= 2 && list.slice(0, 2).every((b) => b.anchor?.status === "confirmed") ? list : undefined;
    }, { timeoutMs: 15_000, intervalMs: 50 });

    assert.equal(all[0]?.anchor?.tx_hash, manual, "batch-1 points at the transaction that is on chain");
    assert.deepEqual((await streamOf(h, anchorStream(first.batch_id))).map((e) => e.type), [ANCHOR_CONFIRMED], "confirmed without submitting");
    assert.deepEqual((await streamOf(h, anchorStream(second.batch_id))).map((e) => e.type), [ANCHOR_SUBMITTED, ANCHOR_CONFIRMED]);
    const logs = await anchoredLogs(chain.client, chain.daal);
    assert.deepEqual(logs.map((l) => l.root).slice(0, 2), [`0x${first.root}`, `0x${second.root}`]);
    assert.equal(new Set(logs.map((l) => l.root)).size, logs.length, "one CheckpointAnchored per root");
    await h.close();
    h = undefined;
  });

  test("when a later checkpoint is anchored first, the earlier batch is recorded as superseded and the later one confirmed", async () => {
    const dataDir = tempDir("zt-anchor-superseded-");
    dirs.push(dataDir);
    const sealed = await sealTwoBatches(dataDir);
    const chain = await anvilWithDaal();
    const [first, second] = sealed as [Batch, Batch];
    const manual = await anchorByHand(chain, second);

    h = await makeHarness({ dataDir, env: anchoringEnv(chain) });
    const all = await waitFor("batch-2 confirmed", async () => {
      const list = await batches(h!);
      return list[1]?.anchor?.status === "confirmed" ? list : undefined;
    }, { timeoutMs: 15_000, intervalMs: 50 });

    assert.equal(all[0]?.anchor?.status, "failed");
    const failed = await streamOf(h, anchorStream(first.batch_id));
    assert.deepEqual(failed.map((e) => e.type), [ANCHOR_FAILED]);
    assert.equal(failed[0]?.data["reason"], "superseded");
    assert.equal(failed[0]?.data["retryable"], false);
    assert.equal(all[1]?.anchor?.tx_hash, manual);
    const logs = await anchoredLogs(chain.client, chain.daal);
    assert.deepEqual(logs.map((l) => l.root), [`0x${second.root}`], "only the later root is on chain");

    // Covered all the same: the consistency proof from the superseded size to the anchored one.
    const proof = await h.request("GET", `/audit/consistency?from=${first.tree_size}&to=${second.tree_size}`, { token: h.tokens.operator });
    assert.equal(proof.status, 200, proof.text);
    assert.equal(proof.json.root_to, second.root);
    await h.close();
    h = undefined;
  });

  test("anchor events are chained but do not seal checkpoints by themselves; the next decision's checkpoint covers them", async () => {
    const chain = await anvilWithDaal();
    h = await makeHarness({ env: { ...anchoringEnv(chain), ZT_CHECKPOINT_RECORDS: "1000", ZT_CHECKPOINT_MS: "200" } });
    const decide = async () => assert.equal((await h!.request("POST", "/actions", { token: h!.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" } })).status, 200);
    await decide();
    const [first] = await waitFor("batch-1 confirmed", async () => {
      const list = await batches(h!);
      return list[0]?.anchor?.status === "confirmed" ? list : undefined;
    }, { timeoutMs: 15_000, intervalMs: 50 });
    assert.ok(first);
    // The anchor events are audit records after the checkpoint...
    const headAfter = await waitFor("the anchor events projected", async () => {
      const head = await h!.request("GET", "/audit/head", { token: h!.tokens.operator });
      return head.json.tree_size >= first.tree_size + 3 ? head.json : undefined;
    });
    // ...and several timed-seal periods later no checkpoint was sealed for them alone.
    await new Promise((resolve) => setTimeout(resolve, 1200));
    assert.equal((await batches(h)).length, 1, "no checkpoint sealed for anchor records alone");
    await decide();
    const [, second] = await waitFor("batch-2", async () => {
      const list = await batches(h!);
      return list.length >= 2 ? list : undefined;
    });
    assert.ok(second && second.tree_size > headAfter.tree_size, "the next checkpoint covers the anchor records");
  });
});
