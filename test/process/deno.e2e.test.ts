/**
 * Acceptance: "A Deno smoke test starts the app under Deno and gets an allowed and a
 * denied decision". The service runs as `deno run` with deno.json's `start` permissions
 * (Deno.serve, node:sqlite under Deno, Cedar wasm under Deno) on a temp data dir.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { stripTypeScriptTypes } from "node:module";
import { join } from "node:path";
import { after, test } from "node:test";
import { readDevCredentials, REPO_ROOT, SEED_CONSTRAINTS, swapRequest, tempDir } from "../support/harness.ts";
import { killAllChildren, requireDeno, spawnServer } from "../support/spawnServer.ts";

const dataDir = tempDir("zt-deno-");
after(async () => {
  await killAllChildren();
  rmSync(dataDir, { recursive: true, force: true });
});

test("under Deno: ready, an allowed quote, a denied swap, a permit-verified swap, and the console", async () => {
  requireDeno();
  const server = await spawnServer({ runtime: "deno", dataDir });
  try {
    const ready = await server.request("GET", "/readyz");
    assert.equal(ready.status, 200, ready.text);
    assert.equal(ready.json.status, "ready");
    assert.equal(ready.json.policy_id, "policy_mainnet_v1");

    const tokens = readDevCredentials(dataDir);
    const quote = await server.request("POST", "/actions", {
      token: tokens.desk7,
      json: { actor: "agent:desk-7", action: "quote.read", resource: "solana:mainnet/jupiter" },
    });
    assert.equal(quote.status, 200, quote.text);
    assert.equal(quote.json.status, "allowed");
    assert.equal(quote.json.reason, null);
    assert.match(quote.json.decision_id, /^dec_[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.match(quote.json.receipt_hash, /^[0-9a-f]{64}$/);

    const noPermit = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest() });
    assert.equal(noPermit.status, 403, noPermit.text);
    assert.equal(noPermit.json.status, "denied");
    assert.equal(noPermit.json.reason, "permit_required");

    const snapshot = await server.request("PUT", "/market/snapshot", { token: tokens.operator, json: { as_of: new Date().toISOString(), prices: { SOL: 142.1 } } });
    assert.equal(snapshot.status, 200, snapshot.text);
    const issued = await server.request("POST", "/permits", {
      token: tokens.operator,
      json: { subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 60 },
    });
    assert.equal(issued.status, 201, issued.text);
    assert.match(issued.json.signature, /^ed25519:[A-Za-z0-9_-]{86}$/);
    const swap = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ permit: issued.json }) });
    assert.equal(swap.status, 200, swap.text);
    assert.equal(swap.json.status, "allowed");
    assert.equal(swap.json.permit_id, issued.json.permit_id);
    assert.equal(swap.json.notional_usd, "1776.25");

    const replay = await server.request("POST", "/actions", { token: tokens.desk7, json: swapRequest({ permit: issued.json }) });
    assert.equal(replay.status, 403, replay.text);
    assert.equal(replay.json.reason, "nonce_replay_detected");

    const read = await server.request("GET", `/decisions/${swap.json.decision_id}`, { token: tokens.desk7 });
    assert.equal(read.status, 200, read.text);
    assert.equal(read.json.status, "allowed");

    // The console is served by the control plane under Deno too, its modules stripped by Deno's own stripper.
    const page = await fetch(`${server.url}/console`);
    assert.equal(page.status, 200);
    const entry = /<script type="module" src="([^"]+)"/.exec(await page.text())?.[1];
    assert.equal(entry, "/console/assets/src/console/page/main.ts");
    const merkle = await fetch(`${server.url}/console/assets/src/kernel/merkle.ts`);
    assert.equal(merkle.status, 200);
    assert.equal(await merkle.text(), stripTypeScriptTypes(readFileSync(join(REPO_ROOT, "src/kernel/merkle.ts"), "utf8"), { mode: "strip" }), "the same stripped code as Node serves");
    const session = await server.request("GET", "/console/api/session", { token: tokens.desk7 });
    assert.deepEqual(session.json, { role: "agent", actor: "agent:desk-7" });

    const stopped = await server.stop();
    assert.equal(stopped.code, 0, `SIGTERM is a clean shutdown under Deno: ${JSON.stringify(stopped)}\n${server.stderr()}`);
  } finally {
    await server.kill();
  }
});
