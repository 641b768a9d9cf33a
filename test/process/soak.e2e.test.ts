/**
 * Soak (contract section 7): ZT_SOAK_SECONDS (default 300) of mixed traffic against
 * `node src/main.ts` on one data directory (valid quotes and permit swaps, denials,
 * malformed and hostile bodies), with the server SIGKILLed and started again every 30 s.
 * Afterwards: every decision that was answered is in the store exactly as answered, the
 * audit chain covers every event, and `zt audit verify` exits 0. Then one event is made
 * unhashable on purpose (written behind the store port): the restarted service chains
 * past it, and `zt audit verify` exits 1 naming its position.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import { readDevCredentials, SEED_CONSTRAINTS, swapRequest, tempDir, type DevCredentials } from "../support/harness.ts";
import { killAllChildren, runZt, spawnServer, type ServerProcess } from "../support/spawnServer.ts";
import { sleep, waitFor } from "../support/waitFor.ts";

const SOAK_MS = Number(process.env["ZT_SOAK_SECONDS"] ?? 300) * 1000;
const KILL_EVERY_MS = 30_000;
const CLIENTS = 4;

const dataDir = tempDir("zt-soak-");
after(async () => {
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

interface Answer {
  readonly decisionId: string;
  readonly status: string;
  readonly receiptHash: string;
}

const deep = (depth: number) => `{"actor":"agent:desk-7","action":"quote.read","resource":"solana:mainnet/x","intent":${"[".repeat(depth)}${"]".repeat(depth)}}`;

/** One request of the mix, by number: what is sent and by whom. */
function nextRequest(n: number, tokens: DevCredentials, permit: () => Promise<unknown>): Promise<{ token: string; body: string }> {
  const quote = { actor: "agent:desk-7", action: "quote.read", resource: `solana:mainnet/p${n % 7}` };
  switch (n % 10) {
    case 0:
    case 1:
    case 2:
      return Promise.resolve({ token: tokens.desk7, body: JSON.stringify(quote) });
    case 3:
      return permit().then((p) => ({ token: tokens.desk7, body: JSON.stringify(swapRequest({ permit: p })) }));
    case 4:
      return Promise.resolve({ token: tokens.desk7, body: JSON.stringify({ ...quote, resource: "ethereum:mainnet/x" }) });
    case 5:
      return Promise.resolve({ token: tokens.ops1, body: JSON.stringify(quote) });
    case 6:
      return Promise.resolve({ token: tokens.desk7, body: "{not json" });
    case 7:
      return Promise.resolve({ token: tokens.desk7, body: deep(40 + (n % 3000)) });
    case 8:
      return Promise.resolve({ token: tokens.desk7, body: `{"actor":"agent:desk-7","actor":"agent:ops-1","action":"quote.read","resource":"solana:mainnet/x"}` });
    default:
      return Promise.resolve({ token: tokens.desk7, body: JSON.stringify({ ...quote, context: { note: "é😀\u0000".repeat(n % 500), n } }) });
  }
}

function storeDecisions(): Map<string, { status: string; receipt_hash: string }> {
  const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
  try {
    const rows = db.prepare("SELECT data FROM events WHERE type = ?").all(ACTION_DECIDED);
    return new Map(rows.map((row) => JSON.parse(String(row["data"]))).map((d) => [d.decision_id, d]));
  } finally {
    db.close();
  }
}

const verify = (...extra: string[]) =>
  runZt(["audit", "verify", "--store", `sqlite:${join(dataDir, "events.db")}`, "--keys", join(dataDir, "keys", "audit.pub.json"), "--json", ...extra], { timeoutMs: 120_000 });

/** Waits until the audit head covers the store's last event. */
async function projectionCaughtUp(server: ServerProcess, tokens: DevCredentials): Promise<void> {
  await waitFor(
    "the audit projection to cover every event",
    async () => {
      const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
      let last: number;
      try {
        last = Number(db.prepare("SELECT max(position) AS p FROM events").get()?.["p"] ?? 0);
      } finally {
        db.close();
      }
      const head = await server.request("GET", "/audit/head", { token: tokens.operator });
      return head.json?.position === last ? true : undefined;
    },
    { timeoutMs: 60_000 },
  );
}

test(`soak: ${SOAK_MS / 1000} s of mixed traffic, SIGKILL and restart every ${KILL_EVERY_MS / 1000} s; nothing acknowledged is lost and verify passes`, { timeout: SOAK_MS + 300_000 }, async () => {
  let server = await spawnServer({ dataDir, env: { ZT_CHECKPOINT_MS: "1000" } });
  const tokens = readDevCredentials(dataDir);
  const answered: Answer[] = [];
  const statuses = new Map<number, number>();
  let restarts = 0;
  let refusedWhileDown = 0;
  const end = Date.now() + SOAK_MS;

  const permit = async () => {
    const reply = await server.request("POST", "/permits", { token: tokens.operator, json: { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 } });
    return reply.json;
  };
  const snapshot = () => server.request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: new Date().toISOString(), prices: { SOL: 142.1 } } });
  await snapshot();

  const client = async (id: number) => {
    for (let n = id; Date.now() < end; n += CLIENTS) {
      try {
        const { token, body } = await nextRequest(n, tokens, permit);
        const reply = await server.request("POST", "/actions", { token, body });
        statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
        assert.ok(reply.status < 500, `a ${reply.status} during the soak: ${reply.text.slice(0, 300)}`);
        answered.push({ decisionId: reply.json.decision_id, status: reply.json.status, receiptHash: reply.json.receipt_hash });
      } catch (error) {
        if (error instanceof assert.AssertionError) throw error;
        // The server was killed under this request: unanswered, so nothing is owed for it.
        refusedWhileDown += 1;
        await sleep(50);
      }
    }
  };

  const killer = async () => {
    while (Date.now() + KILL_EVERY_MS < end) {
      await sleep(KILL_EVERY_MS);
      await server.kill();
      server = await spawnServer({ dataDir, env: { ZT_CHECKPOINT_MS: "1000" } });
      restarts += 1;
      await snapshot();
    }
  };

  await Promise.all([killer(), ...Array.from({ length: CLIENTS }, (_, id) => client(id))]);
  await projectionCaughtUp(server, tokens);
  const exit = await server.stop();
  assert.equal(exit.code, 0);

  assert.ok(restarts >= Math.floor(SOAK_MS / KILL_EVERY_MS) - 1, `only ${restarts} restarts`);
  assert.ok(answered.length > 200, `only ${answered.length} answers (${refusedWhileDown} requests hit a dead server)`);
  assert.ok((statuses.get(200) ?? 0) > 0 && (statuses.get(400) ?? 0) > 0 && (statuses.get(403) ?? 0) > 0, JSON.stringify(Object.fromEntries(statuses)));
  const stored = storeDecisions();
  for (const answer of answered) {
    const decision = stored.get(answer.decisionId);
    assert.ok(decision !== undefined, `answered decision ${answer.decisionId} is not in the store`);
    assert.equal(decision.status, answer.status);
    assert.equal(decision.receipt_hash, answer.receiptHash);
  }

  const clean = await verify();
  assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  const report = JSON.parse(clean.stdout);
  assert.equal(report.unprojected, 0, "the chain covers every event");
  assert.equal(report.records, report.events);

  // One event made unhashable on purpose, behind the store port; the service goes on past it.
  const db = new DatabaseSync(join(dataDir, "events.db"));
  let position: number;
  try {
    position = Number(
      db.prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, 0, 'Insider.v1', ?, '{}', ?)")
        .run(randomUUID(), `insider-${randomUUID()}`, `{"x":${"[".repeat(80)}${"]".repeat(80)}}`, new Date().toISOString()).lastInsertRowid,
    );
  } finally {
    db.close();
  }
  server = await spawnServer({ dataDir });
  try {
    const reply = await server.request("POST", "/actions", { token: tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/x" } });
    assert.equal(reply.status, 200);
    await projectionCaughtUp(server, tokens);
  } finally {
    await server.stop();
  }
  const broken = await verify();
  assert.equal(broken.code, 1, broken.stdout + broken.stderr);
  const failure = JSON.parse(broken.stdout).failure;
  assert.equal(failure.kind, "unhashable_event");
  assert.equal(failure.position, position);
});
