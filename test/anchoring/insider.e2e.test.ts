/**
 * An insider holding the audit key and the database against on-chain verification
 * (contract section 7), on a real anvil with a DAAL deployed by the service's deployer:
 * a genuine log is anchored batch by batch, then rewritten the ways the review found
 * passing before. Each rewrite is complete where the insider can make it so (the store
 * re-projected and re-signed with the same audit key by a second instance), so only the
 * chain can tell; `zt audit verify --rpc` must fail with the right kind and tree size.
 * The genuine log passes, also for a fresh auditor holding only the audit public key,
 * the RPC URL and the deployment record.
 */
import assert from "node:assert/strict";
import { copyFileSync, cpSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { after, before, describe, test } from "node:test";
import { deployDaal, type DaalDeployment } from "../../src/anchoring/deploy/deployDaal.ts";
import { deploymentRecord } from "../../src/anchoring/deploy/deploymentRecord.ts";
import { ANVIL_CHAIN_ID, ANVIL_DEPLOYER_KEY, ANVIL_SUBMITTER_KEY } from "../../src/anchoring/local/localChain.ts";
import { makeHarness, tempDir, type Harness } from "../support/harness.ts";
import { runZt } from "../support/spawnServer.ts";
import { anchoredLogs, readerFor, stopAllAnvils, SUBMITTER_ADDRESS, trackedAnvil, waitFor } from "./anchoringFixtures.ts";

const root = tempDir("zt-insider-");
let rpcUrl: string;
let genuine: DaalDeployment;
let recordFile: string;
/** The genuine data directory, closed; every attack works on a copy. */
const genuineDir = join(root, "genuine");
let copies = 0;

after(async () => {
  await stopAllAnvils();
  rmSync(root, { recursive: true, force: true });
});

const chainEnv = (daal: string) => ({
  ZT_CHAIN: rpcUrl,
  ZT_CHAIN_ID: String(ANVIL_CHAIN_ID),
  ZT_DAAL_ADDRESS: daal,
  ZT_SUBMITTER: "direct",
  ZT_SUBMITTER_PRIVATE_KEY: ANVIL_SUBMITTER_KEY,
  ZT_CHECKPOINT_RECORDS: "4",
  ZT_CHECKPOINT_MS: "86400000",
  ZT_ANCHOR_POLL_MS: "50",
  ZT_ANCHOR_RETRY_BASE_MS: "50",
  ZT_ANCHOR_RETRY_MAX_MS: "500",
});

const quote = (h: Harness, n: number) =>
  h.request("POST", "/actions", { token: h.tokens.desk7, json: { actor: "agent:desk-7", action: "quote.read", resource: `solana:mainnet/p${n}` } });

async function batches(h: Harness): Promise<ReadonlyArray<{ batch_id: string; tree_size: number; root: string; anchor: { status: string } | null }>> {
  return (await h.request("GET", "/audit/batches", { token: h.tokens.operator })).json.batches;
}

/** A copy of the genuine data directory (keys, tokens, store). */
function copyOfGenuine(): string {
  const dir = join(root, `copy-${++copies}`);
  cpSync(genuineDir, dir, { recursive: true });
  return dir;
}

function withDb<A>(dir: string, use: (db: DatabaseSync) => A): A {
  const db = new DatabaseSync(join(dir, "events.db"));
  try {
    return use(db);
  } finally {
    db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    db.close();
  }
}

/**
 * The insider's second instance: a new store holding `keep`'s events (as rewritten by
 * `rewrite`), without the old checkpoints and records, re-projected and re-sealed by a
 * service with the same keys; anchoring as `env` says (off by default).
 */
async function reprojected(from: string, rewrite: (events: Array<Record<string, any>>) => Array<Record<string, any>>, env: Record<string, string> = { ZT_CHAIN: "off", ZT_CHECKPOINT_RECORDS: "4", ZT_CHECKPOINT_MS: "86400000" }): Promise<string> {
  const dir = join(root, `rewritten-${++copies}`);
  mkdirSync(dir);
  cpSync(join(from, "keys"), join(dir, "keys"), { recursive: true });
  copyFileSync(join(from, "tokens.json"), join(dir, "tokens.json"));
  copyFileSync(join(from, "dev-credentials.json"), join(dir, "dev-credentials.json"));
  const events = withDb(from, (db) => db.prepare("SELECT event_id, stream, revision, type, data, metadata, recorded_at FROM events ORDER BY position").all() as Array<Record<string, any>>);
  const kept = rewrite(events.filter((e) => e.stream !== "audit-checkpoints" && !String(e.stream).startsWith("anchor-")));
  // The service creates the schema; the events go in before the projection starts.
  const h = await makeHarness({ dataDir: dir, env: { ZT_CHAIN: "off" } });
  await h.close({ keepData: true });
  withDb(dir, (db) => {
    db.exec("DELETE FROM audit_records; DELETE FROM audit_lease; DELETE FROM events; DELETE FROM sqlite_sequence WHERE name = 'events'");
    const insert = db.prepare("INSERT INTO events (event_id, stream, revision, type, data, metadata, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
    for (const e of kept) insert.run(e.event_id, e.stream, e.revision, e.type, e.data, e.metadata, e.recorded_at);
  });
  const second = await makeHarness({ dataDir: dir, env });
  await waitFor("the second instance to re-project, seal (and anchor, when it anchors)", async () => {
    const sealed = await batches(second);
    const head = (await second.request("GET", "/audit/head", { token: second.tokens.operator })).json;
    const anchored = env["ZT_CHAIN"] === "off" || sealed.every((b) => b.anchor?.status === "confirmed");
    return sealed.length > 0 && head.lag === 0 && head.seq >= kept.length && anchored ? true : undefined;
  }, { timeoutMs: 30_000 });
  await second.close({ keepData: true });
  return dir;
}

async function verify(dir: string, ...flags: string[]) {
  const run = await runZt(["audit", "verify", "--store", `sqlite:${join(dir, "events.db")}`, "--keys", join(dir, "keys", "audit.pub.json"), "--json", ...flags], { timeoutMs: 60_000 });
  let report: any;
  try {
    report = JSON.parse(run.stdout);
  } catch {
    assert.fail(`no JSON from zt audit verify (exit ${run.code}):\n${run.stdout}\n${run.stderr}`);
  }
  return { run, report };
}

const onChain = (daal = genuine.address) => ["--rpc", rpcUrl, "--contract", daal];

async function rpc(method: string, params: unknown[]): Promise<unknown> {
  const reply = await fetch(rpcUrl, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method, params }) });
  const body = (await reply.json()) as { result?: unknown; error?: unknown };
  if (body.error !== undefined) throw new Error(`${method}: ${JSON.stringify(body.error)}`);
  return body.result;
}

async function assertChainFails(dir: string, kind: string, flags: string[] = onChain()) {
  const offline = await verify(dir);
  assert.equal(offline.run.code, 0, `the rewrite is consistent offline (only the chain can tell): ${offline.run.stdout}`);
  const { run, report } = await verify(dir, ...flags);
  assert.equal(run.code, 1, run.stdout + run.stderr);
  assert.equal(report.ok, false);
  assert.equal(report.chain.failure.kind, kind, JSON.stringify(report.chain.failure));
  return report.chain.failure;
}

describe("an insider with the audit key and the database, against on-chain verification", () => {
  let anchoredSizes: number[];

  before(async () => {
    const anvil = await trackedAnvil();
    rpcUrl = anvil.rpcUrl;
    genuine = await deployDaal({ chain: "local", rpcUrl, privateKey: ANVIL_DEPLOYER_KEY, submitter: SUBMITTER_ADDRESS });
    recordFile = join(root, "deployment.json");
    writeFileSync(recordFile, JSON.stringify(deploymentRecord(genuine)));
    const h = await makeHarness({ dataDir: genuineDir, env: chainEnv(genuine.address) });
    try {
      // A checkpoint seals per projected batch: four decisions, then wait for their anchor, seven times.
      for (let batch = 1; batch <= 7; batch++) {
        for (let n = 0; n < 4; n++) assert.equal((await quote(h, batch * 10 + n)).status, 200);
        await waitFor(`${batch} confirmed batch(es)`, async () => {
          const sealed = await batches(h);
          return sealed.length >= batch && sealed.every((b) => b.anchor?.status === "confirmed") ? true : undefined;
        }, { timeoutMs: 20_000, intervalMs: 50 });
      }
    } finally {
      await h.close({ keepData: true });
    }
    anchoredSizes = (await anchoredLogs(readerFor(rpcUrl), genuine.address)).map((log) => Number(log.treeSize));
    assert.ok(anchoredSizes.length >= 7, `anchors: ${anchoredSizes.join(", ")}`);
  });

  test("the genuine log passes, also for a fresh auditor with only the public key, the RPC URL and the deployment record", async () => {
    const { run, report } = await verify(genuineDir, ...onChain());
    assert.equal(run.code, 0, run.stdout);
    assert.equal(report.chain.anchors, anchoredSizes.length);
    const auditor = join(root, "auditor");
    mkdirSync(auditor);
    copyFileSync(join(genuineDir, "keys", "audit.pub.json"), join(auditor, "audit.pub.json"));
    const fresh = await runZt(["audit", "verify", "--store", `sqlite:${join(genuineDir, "events.db")}`, "--keys", join(auditor, "audit.pub.json"), "--rpc", rpcUrl, "--deployment", recordFile]);
    assert.equal(fresh.code, 0, fresh.stdout + fresh.stderr);
    assert.match(fresh.stdout, new RegExp(`on-chain: DAAL ${genuine.address} on chain 31337, deployed in block ${genuine.deploymentBlock} at \\S+ \\(deployment record\\), owner ${genuine.owner}`));
    assert.match(fresh.stdout, new RegExp(`${anchoredSizes.length} anchors \\(1 confirmation\\(s\\)\\) from \\S+Z to \\S+Z, up to tree size ${Math.max(...anchoredSizes)}`));
    assert.match(fresh.stdout, /on-chain OK/);
  });

  test("wholesale replacement by a second instance signing with the same keys: anchor_mismatch at the first anchored size", async () => {
    // One decision deleted; the store's own anchor events dropped; everything re-signed.
    const dir = await reprojected(genuineDir, (events) => {
      const victim = events.findIndex((e) => e.type === "ActionDecided.v1" && e !== events[0]);
      return events.filter((_, index) => index !== victim);
    });
    const failure = await assertChainFails(dir, "anchor_mismatch");
    assert.equal(failure.treeSize, anchoredSizes[0]);
  });

  test("truncation after a tree size below the chain's latest, with plain SQL deletes: anchor_mismatch at the latest anchored size", async () => {
    const dir = copyOfGenuine();
    const keep = anchoredSizes[3]! - 1;
    withDb(dir, (db) => {
      const position = Number(db.prepare("SELECT position FROM audit_records WHERE seq = ?").get(keep)?.["position"]);
      db.prepare("DELETE FROM events WHERE position > ?").run(position);
      db.prepare("DELETE FROM audit_records WHERE seq > ?").run(keep);
    });
    const failure = await assertChainFails(dir, "anchor_mismatch");
    assert.equal(failure.treeSize, anchoredSizes[3]);
    assert.match(failure.message, new RegExp(`holds ${keep} records`));
  });

  test("a rewritten late decision with the anchor events dropped: anchor_mismatch at the first anchor covering it", async () => {
    let rewrittenIndex = -1;
    const dir = await reprojected(genuineDir, (events) => {
      // The detail is not part of the receipt: the rewrite verifies offline.
      rewrittenIndex = events.findLastIndex((e) => e.type === "ActionDecided.v1");
      return events.map((e, index) => (index === rewrittenIndex ? { ...e, data: JSON.stringify({ ...JSON.parse(e.data), detail: "rewritten by the insider" }) } : e));
    });
    const failure = await assertChainFails(dir, "anchor_mismatch");
    // The log differs from the first dropped anchoring event on (the rewritten decision is later): the first anchor past it fails.
    const firstDropped = withDb(genuineDir, (db) => Number(db.prepare("SELECT min(a.seq) AS s FROM audit_records a JOIN events e ON e.position = a.position WHERE e.stream = 'audit-checkpoints' OR e.stream LIKE 'anchor-%'").get()?.["s"]));
    assert.ok(rewrittenIndex + 1 > firstDropped);
    assert.equal(failure.treeSize, anchoredSizes.find((size) => size >= firstDropped));
  });

  test("a fabricated decision in a batch never anchored: caught with --max-unanchored, by block time with --max-anchor-age", async () => {
    const dir = copyOfGenuine();
    const genuineReport = (await verify(dir, ...onChain())).report;
    const allowed = genuineReport.chain.unanchored_records;
    assert.equal((await verify(dir, ...onChain(), "--max-unanchored", String(allowed))).run.code, 0);
    const insider = await makeHarness({ dataDir: dir, env: { ZT_CHAIN: "off" } });
    try {
      assert.equal((await quote(insider, 999)).status, 200);
      await waitFor("the fabricated decision chained", async () => ((await insider.request("GET", "/audit/head", { token: insider.tokens.operator })).json.lag === 0 ? true : undefined));
    } finally {
      await insider.close({ keepData: true });
    }
    const failure = await assertChainFails(dir, "unanchored_records", [...onChain(), "--max-unanchored", String(allowed)]);
    assert.equal(failure.treeSize, Math.max(...anchoredSizes));
    // By block time, not by any time the store claims: an hour passes on the chain.
    assert.equal((await verify(dir, ...onChain(), "--max-anchor-age", "600")).run.code, 0);
    await rpc("evm_increaseTime", [3600]);
    await rpc("evm_mine", []);
    const stale = await assertChainFails(dir, "anchor_too_old", [...onChain(), "--max-anchor-age", "600"]);
    assert.match(stale.message, /is 36\d\d s old by block time/);
  });

  test("a substituted contract: rewritten roots anchored on a second DAAL fail against the deployment record; a store still naming the genuine DAAL fails against the second", async () => {
    const second = await deployDaal({ chain: "local", rpcUrl, privateKey: ANVIL_DEPLOYER_KEY, submitter: SUBMITTER_ADDRESS });
    // The insider's rewritten store, anchored on the second DAAL by the insider's own service.
    const dir = await reprojected(genuineDir, (events) => events.slice(0, -3), chainEnv(second.address));
    assert.ok((await anchoredLogs(readerFor(rpcUrl), second.address)).length > 0, "the rewritten roots are anchored on the second DAAL");
    // Pointed at the second DAAL with nothing from outside, the rewrite passes: the address must not come from the insider.
    assert.equal((await verify(dir, ...onChain(second.address))).run.code, 0);
    // The auditor pins the DAAL by its deployment record.
    await assertChainFails(dir, "anchor_contract_mismatch", ["--rpc", rpcUrl, "--deployment", recordFile]);
    await assertChainFails(dir, "deployment_mismatch", [...onChain(second.address), "--deployment", recordFile]);
    // The genuine store names the genuine DAAL: pointed at the second, it fails.
    const { run, report } = await verify(genuineDir, ...onChain(second.address));
    assert.equal(run.code, 1);
    assert.equal(report.chain.failure.kind, "anchor_contract_mismatch");
  });

  test("the service restarted on a rewritten store against the genuine DAAL: an alarm, nothing superseded, nothing anchored; check-proof --rpc refuses a rewritten decision's proof", async () => {
    const dir = await reprojected(genuineDir, (events) => events.filter((_, index) => index !== 5));
    const logsBefore = await anchoredLogs(readerFor(rpcUrl), genuine.address);
    const h = await makeHarness({ dataDir: dir, env: chainEnv(genuine.address) });
    try {
      const ready = await waitFor("/readyz to report the divergence", async () => {
        const reply = await h.request("GET", "/readyz");
        return reply.json.status === "degraded" ? reply : undefined;
      });
      assert.equal(ready.status, 200, "decisions go on");
      assert.equal(ready.json.anchoring.state, "diverged");
      assert.match(ready.json.anchoring.detail, /rewritten|removed/);
      assert.match((await h.request("GET", "/metrics", { token: h.tokens.operator })).text, /^zt_anchor_diverged 1$/m);
      const rewrittenDecision = withDb(dir, (db) => JSON.parse(String(db.prepare("SELECT data FROM events WHERE type = 'ActionDecided.v1' ORDER BY position DESC LIMIT 1").get()?.["data"])).decision_id);
      assert.equal((await quote(h, 1234)).status, 200, "decisions go on");
      assert.ok(h.logs.some((line) => line.includes("ALARM: the audit log diverges")));
      const sealed = await batches(h);
      assert.ok(sealed.every((b) => b.anchor?.status !== "confirmed"), "nothing anchored");
      const superseded = withDb(dir, (db) => db.prepare("SELECT count(*) AS n FROM events WHERE type = 'AnchorFailed.v1' AND data LIKE '%superseded%'").get()?.["n"]);
      assert.equal(superseded, 0, "no batch marked superseded");

      // A rewritten decision's proof against the rewritten checkpoint cannot be checked on-chain.
      const proof = await h.request("GET", `/audit/proofs/${rewrittenDecision}`, { token: h.tokens.operator });
      assert.equal(proof.status, 200, proof.text);
      const file = join(dir, "proof.json");
      writeFileSync(file, JSON.stringify(proof.json));
      const checked = await runZt(["audit", "check-proof", file, "--rpc", rpcUrl, "--deployment", recordFile, "--json"]);
      assert.equal(checked.code, 1, checked.stdout + checked.stderr);
      const anchored = JSON.parse(checked.stdout).checks.find((c: { name: string }) => c.name === "anchored_on_chain");
      assert.equal(anchored.ok, false);
    } finally {
      await h.close();
    }
    assert.deepEqual(await anchoredLogs(readerFor(rpcUrl), genuine.address), logsBefore, "the genuine DAAL got no anchor from the rewritten store");
    assert.equal((await verify(dir, ...onChain())).report.chain.failure.kind, "anchor_mismatch");
  });

  test("check-proof --rpc: a proof of an anchored checkpoint passes; one of a checkpoint between anchors needs a consistency proof, and a wrong one fails", async () => {
    // A genuine service, briefly, to serve proofs and consistency proofs of the genuine log.
    const dir = copyOfGenuine();
    const h = await makeHarness({ dataDir: dir, env: chainEnv(genuine.address) });
    try {
      const decision = withDb(dir, (db) => JSON.parse(String(db.prepare("SELECT data FROM events WHERE type = 'ActionDecided.v1' ORDER BY position LIMIT 1").get()?.["data"])).decision_id);
      const proof = (await h.request("GET", `/audit/proofs/${decision}`, { token: h.tokens.operator })).json;
      assert.equal(proof.anchor.status, "confirmed");
      const file = join(dir, "proof.json");
      writeFileSync(file, JSON.stringify(proof));
      const ok = await runZt(["audit", "check-proof", file, "--rpc", rpcUrl, "--deployment", recordFile]);
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      assert.match(ok.stdout, new RegExp(`anchored_on_chain: anchored at tree size ${proof.tree_size} by 0x`));

      // The same leaf proven against a tree size the chain never anchored, with and without a consistency proof to the next anchor.
      const between = anchoredSizes[0]! + 1;
      assert.ok(!anchoredSizes.includes(between));
      const next = anchoredSizes.find((size) => size > between)!;
      const atBetween = await h.request("GET", `/audit/consistency?from=${between}&to=${next}`, { token: h.tokens.operator });
      assert.equal(atBetween.status, 200, atBetween.text);
      const unanchored = { ...proof, tree_size: between, root: atBetween.json.root_from, checkpoint: undefined };
      writeFileSync(file, JSON.stringify(unanchored));
      const refused = await runZt(["audit", "check-proof", file, "--rpc", rpcUrl, "--deployment", recordFile, "--json"]);
      const refusedCheck = JSON.parse(refused.stdout).checks.find((c: { name: string }) => c.name === "anchored_on_chain");
      assert.equal(refusedCheck.ok, false);
      assert.match(refusedCheck.detail, /give a consistency proof/);
      const consistencyFile = join(dir, "consistency.json");
      writeFileSync(consistencyFile, JSON.stringify(atBetween.json));
      const consistent = await runZt(["audit", "check-proof", file, "--rpc", rpcUrl, "--deployment", recordFile, "--consistency", consistencyFile, "--json"]);
      const consistentCheck = JSON.parse(consistent.stdout).checks.find((c: { name: string }) => c.name === "anchored_on_chain");
      assert.equal(consistentCheck.ok, true, consistentCheck.detail);
      assert.match(consistentCheck.detail, new RegExp(`consistent with the root anchored at tree size ${next}`));
      const forged = { ...atBetween.json, proof: [...atBetween.json.proof].reverse() };
      writeFileSync(consistencyFile, JSON.stringify(forged.proof.length > 1 ? forged : { ...forged, proof: ["00".repeat(32)] }));
      const wrong = await runZt(["audit", "check-proof", file, "--rpc", rpcUrl, "--deployment", recordFile, "--consistency", consistencyFile, "--json"]);
      assert.equal(JSON.parse(wrong.stdout).checks.find((c: { name: string }) => c.name === "anchored_on_chain").ok, false);
    } finally {
      await h.close();
    }
  });
});

