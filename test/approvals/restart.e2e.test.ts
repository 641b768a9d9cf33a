/**
 * Approvals survive SIGKILL: `node src/main.ts` runs as a child on a temp data dir; with a
 * pending approval, a granted one not yet used and a used one in the store, the child is
 * SIGKILLed (no graceful shutdown, no WAL checkpoint) and started again on the same
 * directory. The pending approval is still pending and the granted one still granted,
 * each still single-use; the operator's CLI (`zt approvals`) lists and approves against
 * the restarted server; and `zt audit verify` passes with every approval event chained.
 */
import assert from "node:assert/strict";
import { rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { readDevCredentials, SEED_CONSTRAINTS, swapRequest, tempDir, type DevCredentials } from "../support/harness.ts";
import { killAllChildren, runZt, spawnServer, type ServerProcess } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

const dataDir = tempDir("zt-approvals-restart-");
after(async () => {
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

const BIG_INTENT = { protocol: "jupiter", asset: "SOL", amount: "100", slippage_bps: 30 };

async function swap(server: ServerProcess, tokens: DevCredentials, amount: string, approvalId?: string) {
  const permit = await server.request("POST", "/permits", {
    token: tokens.operator,
    json: { subject: "agent:desk-7", scope: "swap.execute", constraints: { ...SEED_CONSTRAINTS, max_notional_usd: 50_000 }, ttl_seconds: 120 },
  });
  assert.equal(permit.status, 201, permit.text);
  return server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ intent: { ...BIG_INTENT, amount }, permit: permit.json, ...(approvalId ? { approval_id: approvalId } : {}) }) });
}

const snapshot = (server: ServerProcess, tokens: DevCredentials) =>
  server.request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: new Date().toISOString(), prices: { SOL: 142.1 } } });

/** The store's last position, read from the file. */
function lastPosition(): number {
  const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
  try {
    return Number(db.prepare("SELECT max(position) AS p FROM events").get()?.["p"] ?? 0);
  } finally {
    db.close();
  }
}

test("after SIGKILL and restart, pending approvals and grants are intact and still single-use; the CLI and audit verify see them", { timeout: 180_000 }, async () => {
  let server = await spawnServer({ dataDir, env: { ZT_CHECKPOINT_MS: "500" } });
  const tokens = readDevCredentials(dataDir);
  await snapshot(server, tokens);

  const pending = await swap(server, tokens, "100");
  assert.equal(pending.status, 202, pending.text);
  const granted = await swap(server, tokens, "101");
  const used = await swap(server, tokens, "102");
  const rejected = await swap(server, tokens, "103");
  for (const [id, token] of [[granted.json.approval_id, tokens.alice], [used.json.approval_id, tokens.bob]] as const) {
    const reply = await server.request("POST", `/approvals/${id}/approve`, { token, json: {} });
    assert.equal(reply.status, 200, reply.text);
  }
  assert.equal((await server.request("POST", `/approvals/${rejected.json.approval_id}/reject`, { token: tokens.bob, json: { note: "no" } })).status, 200);
  assert.equal((await swap(server, tokens, "102", used.json.approval_id)).status, 200);

  await server.kill();
  server = await spawnServer({ dataDir, env: { ZT_CHECKPOINT_MS: "500" } });
  await snapshot(server, tokens);

  const status = async (id: string) => (await server.request("GET", `/approvals/${id}`, { token: tokens.operator })).json.status;
  assert.equal(await status(pending.json.approval_id), "pending");
  assert.equal(await status(granted.json.approval_id), "granted");
  assert.equal(await status(used.json.approval_id), "consumed");
  assert.equal(await status(rejected.json.approval_id), "rejected");

  // The operator's CLI against the restarted server.
  const aliceFile = join(dataDir, "alice.token");
  const desk7File = join(dataDir, "desk7.token");
  writeFileSync(aliceFile, `${tokens.alice}\n`, { mode: 0o600 });
  writeFileSync(desk7File, `${tokens.desk7}\n`, { mode: 0o600 });
  const cli = (args: string[], tokenFile = aliceFile) => runZt(["approvals", ...args, "--url", server.url, "--token-file", tokenFile]);
  const list = await cli(["list", "--status", "pending"]);
  assert.equal(list.code, 0, list.stderr);
  assert.match(list.stdout, new RegExp(`${pending.json.approval_id}\\s+pending\\s+agent:desk-7 swap\\.execute solana:mainnet/jupiter 14210 USD`));
  assert.doesNotMatch(list.stdout, new RegExp(granted.json.approval_id), "only the pending ones");
  const listed = JSON.parse((await cli(["list", "--status", "granted", "--json"])).stdout);
  assert.deepEqual(listed.approvals.map((a: { approval_id: string }) => a.approval_id), [granted.json.approval_id]);
  assert.ok(!list.stdout.includes(tokens.alice) && !list.stderr.includes(tokens.alice), "the token is never printed");

  const byAgent = await cli(["approve", pending.json.approval_id], desk7File);
  assert.equal(byAgent.code, 2, "an agent token is refused (403)");
  assert.match(byAgent.stderr, /403 forbidden/);
  const closed = await cli(["approve", used.json.approval_id]);
  assert.equal(closed.code, 1, "the server refuses a vote on a used approval");
  assert.match(closed.stderr, /409 approval_closed/);
  const approved = await cli(["approve", pending.json.approval_id, "--note", "after the restart"]);
  assert.equal(approved.code, 0, approved.stderr);
  assert.deepEqual(JSON.parse(approved.stdout).granted_by, ["operator:alice"]);

  // Still single-use after the restart, the grant from before it and the one after.
  assert.equal((await swap(server, tokens, "101", granted.json.approval_id)).status, 200);
  assert.equal((await swap(server, tokens, "101", granted.json.approval_id)).json.reason, "approval_consumed");
  assert.equal((await swap(server, tokens, "102", used.json.approval_id)).json.reason, "approval_consumed");
  const concurrent = await Promise.all(Array.from({ length: 10 }, () => swap(server, tokens, "100", pending.json.approval_id)));
  assert.deepEqual(concurrent.map((r) => r.status).filter((s) => s === 200), [200], JSON.stringify(concurrent.map((r) => r.json.reason)));

  // Every approval event is a chained audit record, and the whole log verifies.
  await waitFor("the audit projection to cover every event", async () => ((await server.request("GET", "/audit/head", { token: tokens.operator })).json?.position === lastPosition() ? true : undefined), { timeoutMs: 60_000 });
  const records = await server.request("GET", "/audit/records?after=0&limit=1000", { token: tokens.operator });
  const types = new Set(records.json.records.map((r: { event_type: string }) => r.event_type));
  for (const type of ["ApprovalRequested.v1", "ApprovalGranted.v1", "ApprovalRejected.v1", "ApprovalConsumed.v1"]) assert.ok(types.has(type), `${type} is chained`);
  await server.stop();
  const verify = await runZt(["audit", "verify", "--store", `sqlite:${join(dataDir, "events.db")}`, "--keys", join(dataDir, "keys", "audit.pub.json"), "--json"], { timeoutMs: 120_000 });
  assert.equal(verify.code, 0, verify.stdout + verify.stderr);
});
