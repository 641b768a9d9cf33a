/**
 * Acceptance: "Killing the process right after a 200 never loses that decision".
 * `node src/main.ts` runs as a child on a temp data dir; after the last allowed swap of
 * a round the child is SIGKILLed the moment the status line of the 200 arrives (no
 * graceful shutdown, no WAL checkpoint). The SQLite file is then read directly and every
 * decision answered 200 must be there. A new process on the same data dir must refuse
 * the consumed permits as replays and still serve the decisions.
 */
import assert from "node:assert/strict";
import { connect } from "node:net";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, test } from "node:test";
import { ACTION_DECIDED } from "../../src/decisions/events.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { readDevCredentials, SEED_CONSTRAINTS, swapRequest, tempDir, type DevCredentials } from "../support/harness.ts";
import { killAllChildren, spawnServer, type ServerProcess } from "../support/spawnServer.ts";

const dataDir = tempDir("zt-durability-");
after(async () => {
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

const RAW_TIMEOUT_MS = 10_000;

interface Killed {
  readonly status: number;
  /** The response body when it had fully arrived with the status line, else undefined. */
  readonly body: any;
}

/**
 * POSTs over a raw socket and SIGKILLs the server as soon as the first bytes of a 200
 * arrive, before reading further. Whatever else was already received is parsed.
 */
function postThenKillOn200(server: ServerProcess, path: string, token: string, json: unknown): Promise<Killed> {
  const { hostname, port } = new URL(server.url);
  const payload = Buffer.from(JSON.stringify(json));
  return new Promise<Killed>((resolveKilled, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    let status: number | undefined;
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response to POST ${path} within ${RAW_TIMEOUT_MS} ms`));
    }, RAW_TIMEOUT_MS);
    const finish = () => {
      clearTimeout(timer);
      if (status === undefined) return reject(new Error(`the connection ended without a status line: ${Buffer.concat(chunks).toString("utf8")}`));
      const text = Buffer.concat(chunks).toString("utf8");
      const split = text.indexOf("\r\n\r\n");
      let body: unknown;
      try {
        body = split < 0 ? undefined : JSON.parse(text.slice(split + 4));
      } catch {
        body = undefined;
      }
      resolveKilled({ status, body });
    };
    socket.on("connect", () => {
      socket.write(
        `POST ${path} HTTP/1.1\r\nhost: ${hostname}:${port}\r\nauthorization: Bearer ${token}\r\n` +
          `content-type: application/json\r\ncontent-length: ${payload.length}\r\nconnection: close\r\n\r\n`,
      );
      socket.write(payload);
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      if (status !== undefined) return;
      const head = /^HTTP\/1\.1 (\d{3}) /.exec(Buffer.concat(chunks).toString("latin1"));
      if (head?.[1] === undefined) return;
      status = Number(head[1]);
      if (status === 200) server.child.kill("SIGKILL");
    });
    socket.on("error", () => finish());
    socket.on("close", () => finish());
  });
}

/** Every ActionDecided.v1 event in the SQLite file, read with a plain read-only connection. */
function decidedOnDisk(): Array<{ decision_id: string; status: string; reason: string | null; permit_id: string | null; http_status: number }> {
  const db = new DatabaseSync(join(dataDir, "events.db"), { readOnly: true });
  try {
    return db
      .prepare("SELECT data FROM events WHERE type = ? ORDER BY position")
      .all(ACTION_DECIDED)
      .map((row) => JSON.parse(String(row["data"])));
  } finally {
    db.close();
  }
}

interface Answered {
  readonly permit: Permit;
  readonly decisionId: string | undefined;
}

/** Issues `count` permits and spends each on an allowed swap; SIGKILLs the server on the last 200. */
async function decideThenKill(server: ServerProcess, tokens: DevCredentials, count: number): Promise<Answered[]> {
  const snapshot = await server.request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: new Date().toISOString(), prices: { SOL: 142.1 } } });
  assert.equal(snapshot.status, 200, snapshot.text);
  const permits: Permit[] = [];
  for (let i = 0; i < count; i++) {
    const issued = await server.request("POST", "/permits", {
      token: tokens.operator,
      json: { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 },
    });
    assert.equal(issued.status, 201, issued.text);
    permits.push(issued.json as Permit);
  }
  const answered: Answered[] = [];
  for (const [index, permit] of permits.entries()) {
    if (index < permits.length - 1) {
      const reply = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ permit }) });
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.json.status, "allowed");
      answered.push({ permit, decisionId: reply.json.decision_id });
    } else {
      const last = await postThenKillOn200(server, "/actions", tokens.desk7, swapRequest({ permit }));
      assert.equal(last.status, 200, `the last swap was not allowed: ${JSON.stringify(last.body)}`);
      answered.push({ permit, decisionId: last.body?.decision_id });
    }
  }
  const exit = await server.kill();
  assert.equal(exit.signal, "SIGKILL", `the server was meant to die by SIGKILL, got ${JSON.stringify(exit)}`);
  return answered;
}

/** Checks each answered decision is on disk exactly once; returns them with their on-disk decision ids. */
function assertAllOnDisk(answered: ReadonlyArray<Answered>): Array<{ permit: Permit; decisionId: string }> {
  const onDisk = decidedOnDisk();
  return answered.map(({ permit, decisionId }) => {
    // Replays of the permit are recorded too (denied); exactly one decision spent it.
    const found = onDisk.filter((event) => event.permit_id === permit.permit_id && event.status === "allowed");
    assert.equal(found.length, 1, `exactly one allowed ActionDecided.v1 on disk for ${permit.permit_id}, found ${found.length}`);
    assert.equal(found[0]!.http_status, 200);
    if (decisionId !== undefined) assert.equal(found[0]!.decision_id, decisionId);
    return { permit, decisionId: found[0]!.decision_id };
  });
}

test("decisions answered 200 survive SIGKILL, and their permits stay spent across restarts", async () => {
  const rounds: Answered[][] = [];

  // Round 1: a fresh data dir (development bootstrap), five allowed swaps, SIGKILL on the last 200.
  let server = await spawnServer({ dataDir });
  const tokens = readDevCredentials(dataDir);
  rounds.push(await decideThenKill(server, tokens, 5));
  const round1 = assertAllOnDisk(rounds.flat());

  // Round 2: a new process on the same data dir.
  server = await spawnServer({ dataDir });
  for (const { permit, decisionId } of round1) {
    const replay = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ permit }) });
    assert.equal(replay.status, 403, replay.text);
    assert.equal(replay.json.status, "denied");
    assert.equal(replay.json.reason, "nonce_replay_detected");
    const read = await server.request("GET", `/decisions/${decisionId}`, { token: tokens.desk7 });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.decision_id, decisionId);
    assert.equal(read.json.status, "allowed");
    assert.equal(read.json.permit_id, permit.permit_id);
  }
  // ...which decides again and is killed again right after its last 200.
  rounds.push(await decideThenKill(server, tokens, 3));
  const bothRounds = assertAllOnDisk(rounds.flat());

  // Round 3: the decision killed mid-response in round 2 is readable and its permit spent.
  server = await spawnServer({ dataDir });
  const { permit, decisionId } = bothRounds.at(-1)!;
  const replay = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ permit }) });
  assert.equal(replay.status, 403, replay.text);
  assert.equal(replay.json.reason, "nonce_replay_detected");
  const read = await server.request("GET", `/decisions/${decisionId}`, { token: tokens.operator });
  assert.equal(read.status, 200, read.text);
  assert.equal(read.json.status, "allowed");
  const stopped = await server.stop();
  assert.equal(stopped.code, 0, `SIGTERM is a clean shutdown: ${JSON.stringify(stopped)}\n${server.stderr()}`);

  // 8 allowed + 6 replays, each recorded exactly once.
  const onDisk = decidedOnDisk();
  assert.equal(onDisk.filter((event) => event.status === "allowed").length, 8);
  assert.equal(onDisk.filter((event) => event.reason === "nonce_replay_detected").length, 6);
});
