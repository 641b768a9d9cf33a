/**
 * Budgets under concurrency (contract section 11, issue 16's acceptance): two control
 * plane processes share one SQLite store and a budget that allows exactly ten swaps
 * (1,421 USD notional a day, each swap 1 SOL at 142.1 USD). A hundred concurrent swaps,
 * spread over both, allow exactly ten and charge no more than the cap. Then the same with
 * one process SIGKILLed while the hundred are in flight and started again: the calls that
 * got no answer are sent again once a charge that lost its decision may be reclaimed, and
 * the store still holds exactly ten allowed swaps within the cap, each charged once, every
 * charge either backed by its recorded decision or voided with its decision abandoned.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, describe, test } from "node:test";
import { BUDGET_CHARGE_VOIDED, BUDGET_CHARGED, DECISION_ABANDONED } from "../../src/budgets/events.ts";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { readSigningKey } from "../../src/identity/KeyFile.ts";
import { uuidV4 } from "../../src/kernel/ids.ts";
import { signPermit } from "../../src/permits/issuePermit.ts";
import { RECLAIM_AFTER_MS } from "../../src/budgets/BudgetLedger.ts";
import { examplePolicyWith, readDevCredentials, SEED_CONSTRAINTS, swapRequest, tempDir, type Reply } from "../support/harness.ts";
import { killAllChildren, spawnServer, type ServerProcess } from "../support/spawnServer.ts";
import { sleep } from "../support/waitFor.ts";

const CAP_USD = 1421;
const SWAPS = 100;

const policyDir = examplePolicyWith((manifest) => {
  manifest.budgets = [{ id: "desk-7-swaps-daily", actor: "agent:desk-7", action: "swap.execute", window_seconds: 86400, max_notional_usd: CAP_USD }];
});
const dirs: string[] = [policyDir];
after(async () => {
  await killAllChildren();
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

interface Stored {
  readonly decided: ReadonlyArray<{ decision_id: string; status: string; reason: string | null; notional_usd: string | null }>;
  readonly charges: ReadonlyArray<{ decision_id: string; notional_usd: string }>;
  readonly voided: ReadonlyArray<{ decision_id: string }>;
  readonly abandoned: ReadonlyArray<string>;
}

function stored(dataDir: string): Stored {
  const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
  try {
    const of = (type: string) => db.prepare("SELECT data FROM events WHERE type = ? ORDER BY position").all(type).map((row) => JSON.parse(String(row["data"])));
    return { decided: of(ACTION_DECIDED), charges: of(BUDGET_CHARGED), voided: of(BUDGET_CHARGE_VOIDED), abandoned: of(DECISION_ABANDONED).map((event) => event.decision_id) };
  } finally {
    db.close();
  }
}

async function twoInstances(dataDir: string): Promise<[ServerProcess, ServerProcess]> {
  const env = { ZT_POLICY_DIR: policyDir };
  // One after the other: the first start writes the development keys and tokens.
  const first = await spawnServer({ dataDir, env });
  const second = await spawnServer({ dataDir, env });
  const tokens = readDevCredentials(dataDir);
  for (const server of [first, second]) {
    const put = await server.request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: new Date().toISOString(), prices: { SOL: 142.1 } } });
    assert.equal(put.status, 200, put.text);
  }
  return [first, second];
}

/** Swap bodies of 1 SOL, each with a fresh permit. */
function swaps(dataDir: string, count: number): string[] {
  const issuer = readSigningKey(join(dataDir, "keys", "issuer.key.json"));
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify(
      swapRequest({
        intent: { protocol: "jupiter", asset: "SOL", amount: "1", slippage_bps: 30 },
        permit: signPermit({
          subject: "agent:desk-7",
          scope: "swap.execute",
          policyId: "policy_mainnet_v1",
          constraints: SEED_CONSTRAINTS,
          now: Date.now(),
          ttlSeconds: 300,
          permitId: `permit_budget_${index}_${crypto.randomUUID().slice(0, 8)}`,
          nonce: uuidV4(crypto.getRandomValues(new Uint8Array(16))),
          key: issuer,
        }),
      }),
    ),
  );
}

/** What the store holds is within the cap: every allowed swap charged once, charges (less voided ones) summing to at most the cap. */
function assertWithinCap(store: Stored, allowedExpected: number): void {
  const allowed = store.decided.filter((decision) => decision.status === "allowed");
  assert.equal(allowed.length, allowedExpected, `allowed: ${allowed.length}`);
  const voided = new Set(store.voided.map((event) => event.decision_id));
  const standing = store.charges.filter((charge) => !voided.has(charge.decision_id));
  // In cents: the notionals here have at most two decimals.
  const cents = (usd: string | null) => Math.round(Number(usd) * 100);
  const sum = standing.reduce((total, charge) => total + cents(charge.notional_usd), 0);
  assert.ok(sum <= CAP_USD * 100, `charged ${sum / 100} USD, over the cap ${CAP_USD}`);
  assert.equal(allowed.reduce((total, decision) => total + cents(decision.notional_usd), 0), 14210 * allowedExpected);
  // Each allowed decision holds exactly one standing charge; no charge stands for a decision that is not allowed.
  const charged = new Map<string, number>();
  for (const charge of standing) charged.set(charge.decision_id, (charged.get(charge.decision_id) ?? 0) + 1);
  for (const decision of allowed) assert.equal(charged.get(decision.decision_id), 1, `the charge of ${decision.decision_id}`);
  const allowedIds = new Set(allowed.map((decision) => decision.decision_id));
  for (const id of charged.keys()) assert.ok(allowedIds.has(id), `a standing charge for ${id}, which is not an allowed decision`);
  // A voided charge's decision was abandoned, never recorded.
  const decidedIds = new Set(store.decided.map((decision) => decision.decision_id));
  for (const id of voided) {
    assert.ok(store.abandoned.includes(id), `voided ${id} without abandoning its decision`);
    assert.ok(!decidedIds.has(id), `voided ${id}, a recorded decision`);
  }
}

const send = (server: ServerProcess, token: string, body: string): Promise<Reply | Error> =>
  server.request("POST", "/actions", { token, body, headers: { "content-type": "application/json" } }).catch((error: Error) => error);

describe("a budget that allows ten swaps, two instances on one store", () => {
  test("100 concurrent swaps: exactly ten allowed, the rest budget_exceeded naming what remains, within the cap", async () => {
    const dataDir = tempDir("zt-budget-");
    dirs.push(dataDir);
    const servers = await twoInstances(dataDir);
    const { desk7 } = readDevCredentials(dataDir);
    const replies = await Promise.all(swaps(dataDir, SWAPS).map((body, index) => send(servers[index % 2]!, desk7, body)));
    const answers = replies.map((reply) => (reply instanceof Error ? assert.fail(reply) : reply));
    const allowed = answers.filter((reply) => reply.status === 200);
    const exceeded = answers.filter((reply) => reply.json?.reason === "budget_exceeded");
    assert.equal(allowed.length, 10, JSON.stringify(answers.filter((reply) => reply.status !== 200 && reply.json?.reason !== "budget_exceeded").map((reply) => reply.text).slice(0, 3)));
    assert.equal(exceeded.length, SWAPS - 10);
    for (const reply of exceeded) {
      assert.equal(reply.status, 403);
      assert.equal(reply.json.detail, "budget desk-7-swaps-daily: 0 of 1421 USD notional remain in its rolling 86400 s window; this call needs 142.1 USD");
    }
    await Promise.all(servers.map((server) => server.stop()));
    assertWithinCap(stored(dataDir), 10);
  });

  test("the same with one instance SIGKILLed mid-run and started again: still exactly ten, within the cap", { timeout: 120_000 }, async () => {
    const dataDir = tempDir("zt-budget-kill-");
    dirs.push(dataDir);
    let [victim, survivor] = await twoInstances(dataDir);
    const { desk7 } = readDevCredentials(dataDir);
    const bodies = swaps(dataDir, SWAPS);
    let answered = 0;
    let killed: Promise<unknown> | undefined;
    const replies = await Promise.all(
      bodies.map((body, index) =>
        send(index % 2 === 0 ? victim : survivor, desk7, body).then((reply) => {
          // Mid-run: at the third answer, while most calls are still in flight.
          if (++answered === 3) killed = victim.kill();
          return reply;
        }),
      ),
    );
    await killed;
    const killedAt = Date.now();
    const unanswered = replies.filter((reply) => reply instanceof Error || reply.status >= 500).length;
    assert.ok(unanswered > 0, "the kill landed after every call was answered");

    victim = await spawnServer({ dataDir, env: { ZT_POLICY_DIR: policyDir } });
    // A charge whose decision the kill lost is reclaimed once it is that old.
    await sleep(Math.max(0, killedAt + RECLAIM_AFTER_MS + 500 - Date.now()));
    const again = await Promise.all(swaps(dataDir, unanswered).map((body, index) => send(index % 2 === 0 ? victim : survivor, desk7, body)));
    for (const reply of again) {
      assert.ok(!(reply instanceof Error), String(reply));
      assert.ok(reply.status === 200 || reply.json?.reason === "budget_exceeded", reply.text);
    }
    await Promise.all([victim.stop(), survivor.stop()]);
    assertWithinCap(stored(dataDir), 10);
  });
});
