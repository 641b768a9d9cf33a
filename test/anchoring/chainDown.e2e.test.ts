/**
 * Failure table, "CDP unavailable" / "Base congestion": the chain stops answering
 * (anvil paused with SIGSTOP, so connections hang rather than fail fast, the worst case
 * for a client) while decisions continue. Decisions stay allowed and fast, batches show
 * `failed` (the one being anchored, with its retries recorded) and `pending` (the ones
 * queued behind it); once anvil resumes (SIGCONT) every batch is anchored, exactly one
 * CheckpointAnchored per root, in tree-size order.
 *
 * The service runs against an RPC URL with the direct submitter (ZT_CHAIN=<url>,
 * ZT_SUBMITTER=direct), the configuration an operator uses for an existing chain.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Effect } from "effect";
import { ANCHOR_CONFIRMED, ANCHOR_FAILED, anchorStream } from "../../src/anchoring/core/events.ts";
import { ANVIL_SUBMITTER_KEY } from "../../src/anchoring/local/localChain.ts";
import { EventStore } from "../../src/events/EventStore.ts";
import { makeHarness, SEED_CONSTRAINTS, swapRequest, type Harness } from "../support/harness.ts";
import { anchoredLogs, anvilWithDaal, stopAllAnvils, waitFor, type ChainWithDaal } from "./anchoringFixtures.ts";

interface Batch {
  readonly batch_id: string;
  readonly tree_size: number;
  readonly root: string;
  readonly anchor: { chain_id: number; contract: string; tx_hash: string | null; status: string } | null;
}

describe("the chain goes down while decisions continue", () => {
  let chain: ChainWithDaal;
  let h: Harness;
  let paused = false;

  const batches = async (): Promise<ReadonlyArray<Batch>> => {
    const reply = await h.request("GET", "/audit/batches", { token: h.tokens.operator });
    assert.equal(reply.status, 200, reply.text);
    return reply.json.batches;
  };
  const streamOf = (stream: string) => h.built.runtime.runPromise(Effect.flatMap(EventStore, (store) => store.readStream(stream)));

  /** A swap under a fresh permit: four events, one checkpoint at ZT_CHECKPOINT_RECORDS=4. Returns how long the decision took. */
  const swap = async (): Promise<number> => {
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
    const started = performance.now();
    const decided = await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) });
    const elapsed = performance.now() - started;
    assert.equal(decided.status, 200, decided.text);
    assert.equal(decided.json.status, "allowed");
    return elapsed;
  };

  /** A swap, then the checkpoint it makes due (so each swap seals its own batch). */
  const swapAndSeal = async (): Promise<number> => {
    const sealedBefore = (await batches()).length;
    const elapsed = await swap();
    await waitFor("a new checkpoint", async () => ((await batches()).length > sealedBefore ? true : undefined), { timeoutMs: 10_000, intervalMs: 25 });
    return elapsed;
  };

  const pause = () => {
    process.kill(chain.anvil.child.pid!, "SIGSTOP");
    paused = true;
  };
  const resume = () => {
    if (paused) process.kill(chain.anvil.child.pid!, "SIGCONT");
    paused = false;
  };

  before(async () => {
    chain = await anvilWithDaal();
    h = await makeHarness({
      env: {
        ZT_CHAIN: chain.rpcUrl,
        ZT_CHAIN_ID: "31337",
        ZT_DAAL_ADDRESS: chain.daal,
        ZT_SUBMITTER: "direct",
        ZT_SUBMITTER_PRIVATE_KEY: ANVIL_SUBMITTER_KEY,
        ZT_CHECKPOINT_RECORDS: "4",
        ZT_CHECKPOINT_MS: "86400000",
        ZT_ANCHOR_POLL_MS: "50",
        ZT_ANCHOR_RPC_TIMEOUT_MS: "300",
        ZT_ANCHOR_RECEIPT_TIMEOUT_MS: "3000",
        ZT_ANCHOR_RETRY_BASE_MS: "100",
        ZT_ANCHOR_RETRY_MAX_MS: "400",
      },
    });
  });
  after(async () => {
    resume();
    await h?.close().catch(() => undefined);
    await stopAllAnvils();
  });

  test("with the chain up, the first batch is anchored", async () => {
    await swapAndSeal();
    await waitFor("batch-1 confirmed", async () => ((await batches())[0]?.anchor?.status === "confirmed" ? true : undefined), { timeoutMs: 15_000, intervalMs: 50 });
  });

  test("with anvil paused, decisions stay allowed and fast; batches show failed (with retries) and pending", async () => {
    pause();
    const durations = [await swapAndSeal(), await swapAndSeal()];
    for (const ms of durations) assert.ok(ms < 2000, `a decision took ${ms} ms while the chain was down`);
    assert.equal((await h.request("GET", "/readyz")).status, 200, "readiness does not depend on the chain");

    const stuck = await waitFor(
      "batch-2 failed with several attempts recorded, batch-3 pending",
      async () => {
        const all = await batches();
        const failures = (await streamOf(anchorStream("batch-2"))).filter((e) => e.type === ANCHOR_FAILED);
        return all.length >= 3 && all[1]?.anchor?.status === "failed" && all[2]?.anchor?.status === "pending" && failures.length >= 3 ? { all, failures } : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 50 },
    );
    assert.equal(stuck.all[0]?.anchor?.status, "confirmed", "what was anchored stays anchored");
    assert.deepEqual(
      stuck.failures.map((e) => e.data["attempt"]),
      stuck.failures.map((_, i) => i + 1),
      "attempts are numbered",
    );
    for (const failure of stuck.failures) {
      assert.ok(["timeout", "unavailable"].includes(failure.data["reason"] as string), JSON.stringify(failure.data));
      assert.equal(failure.data["retryable"], true);
    }
    assert.ok(h.logs.some((line) => line.includes('"checkpoint anchor attempt failed"')));
  });

  test("once anvil resumes, every batch is anchored, one CheckpointAnchored per root, in tree-size order", async () => {
    resume();
    const all = await waitFor(
      "every batch confirmed",
      async () => {
        const list = await batches();
        return list.length >= 3 && list.every((b) => b.anchor?.status === "confirmed") ? list : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
    const logs = await anchoredLogs(chain.client, chain.daal);
    assert.deepEqual(
      logs.map((l) => [l.root, l.treeSize]),
      all.map((b) => [`0x${b.root}`, BigInt(b.tree_size)]),
      "exactly the sealed roots, once each, in order",
    );
    for (const b of all) {
      assert.ok(logs.some((l) => l.txHash === b.anchor?.tx_hash), `${b.batch_id}'s recorded transaction is the one that anchored it`);
      const confirmed = (await streamOf(anchorStream(b.batch_id))).filter((e) => e.type === ANCHOR_CONFIRMED);
      assert.equal(confirmed.length, 1);
    }
    const secret = ANVIL_SUBMITTER_KEY.slice(2);
    assert.ok(!h.logs.some((line) => line.includes(secret)), "the submitter key is never logged");
  });
});
