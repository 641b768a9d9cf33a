/**
 * Acceptance: "Export + offline verify round trip; a bundle with one altered byte in each
 * part fails naming the part." A service on its own anvil (`ZT_CHAIN=local`) makes
 * decisions, seals checkpoints and anchors them; `zt audit export` writes a bundle from
 * the store file, and `zt audit verify --bundle` checks it with no store and no network
 * (inside a bwrap sandbox without a network namespace of the host's, with ZT_STORE and
 * the data directory pointing nowhere). Then bytes are altered: at many positions of
 * every part, each must fail naming that part; the archive's own headers name the
 * archive. The 100,000-event round trip is in test/audit/verify-scale.int.test.ts, on the
 * store that test already fills.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { after, before, describe, test } from "node:test";
import { readAuditKeys } from "../../src/cli/auditCommands.ts";
import { BUNDLE_PART_NAMES, BUNDLE_PARTS, type BundlePart } from "../../src/export/AuditBundle.ts";
import { readTar, writeTar } from "../../src/export/tarArchive.ts";
import { verifyBundle } from "../../src/export/verifyBundle.ts";
import { BWRAP_PATH, requireBwrap, skipWithoutBwrap } from "../execution/brokerSupport.ts";
import { freshAuditKey, writeKeysDocument } from "../audit/auditFixtures.ts";
import { makeHarness, REPO_ROOT, SEED_CONSTRAINTS, swapRequest, tempDir, type Harness } from "../support/harness.ts";
import { killAllChildren, runToExit, runZt, ZT_TS } from "../support/spawnServer.ts";
import { waitFor } from "../support/waitFor.ts";

const ENV = { ZT_CHAIN: "local", ZT_CHECKPOINT_RECORDS: "6", ZT_CHECKPOINT_MS: "86400000", ZT_ANCHOR_POLL_MS: "50", ZT_ANCHOR_RETRY_BASE_MS: "50", ZT_ANCHOR_RETRY_MAX_MS: "500" };

/** A small deterministic generator (mulberry32), so the altered positions are the same on every run. */
function positions(seed: number, length: number, count: number): number[] {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const picked = new Set([0, length - 1]);
  while (picked.size < Math.min(count, length)) picked.add(Math.floor(next() * length));
  return [...picked].sort((a, b) => a - b);
}

/** The bundle with one byte of `part` changed (to a different byte that keeps ASCII text ASCII). */
function alterByte(bundle: Uint8Array, part: BundlePart, offset: number): Uint8Array {
  const read = readTar(bundle);
  assert.ok(read.ok);
  const entries = read.entries.map((entry) => {
    if (entry.name !== BUNDLE_PARTS[part]) return entry;
    const content = entry.content.slice();
    const byte = content[offset]!;
    content[offset] = byte === 0x30 ? 0x31 : byte === 0x0a ? 0x20 : byte ^ 0x01;
    return { name: entry.name, content };
  });
  return writeTar(entries);
}

describe("zt audit export and zt audit verify --bundle", () => {
  const dataDir = tempDir("zt-bundle-");
  const work = tempDir("zt-bundle-out-");
  const storePath = join(dataDir, "events.db");
  const keysPath = join(dataDir, "keys", "audit.pub.json");
  let h: Harness;
  let bundlePath: string;
  let bundle: Uint8Array;
  const sealedBatches = async () => (await h.request("GET", "/audit/batches", { token: h.tokens.operator })).json.batches as Array<{ batch_id: string; tree_size: number; root: string; anchor: any }>;

  before(async () => {
    h = await makeHarness({ dataDir, env: ENV });
    assert.equal((await h.putSnapshot({ SOL: 142.1 })).status, 200);
    for (let i = 0; i < 5; i++) {
      const permit = await h.issuePermit({ subject: "agent:desk-7", scope: "swap.execute", constraints: SEED_CONSTRAINTS, ttl_seconds: 120 });
      assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest({ permit }) })).status, 200);
      assert.equal((await h.request("POST", "/actions", { token: h.tokens.desk7, json: swapRequest() })).status, 403);
      assert.equal((await h.request("POST", "/actions", { token: h.tokens.ops1, json: { actor: "agent:ops-1", action: "quote.read", resource: "solana:mainnet/x" } })).status, 403);
      // A pause, so the writer seals more than one checkpoint (it seals after each batch it projects).
      await waitFor("the projection to catch up", async () => ((await h.request("GET", "/audit/head", { token: h.tokens.operator })).json.lag === 0 ? true : undefined));
    }
    // At least two checkpoints, each anchored and confirmed.
    await waitFor(
      "two confirmed anchors",
      async () => {
        const batches = await sealedBatches();
        return batches.length >= 2 && batches.slice(0, 2).every((b) => b.anchor?.status === "confirmed") ? batches : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100 },
    );
  });
  after(async () => {
    await h?.close().catch(() => undefined);
    await killAllChildren();
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });

  test("zt audit export writes a ustar archive of the six parts that tar itself lists", async () => {
    bundlePath = join(work, "audit.tar");
    const run = await runZt(["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--out", bundlePath]);
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.match(run.stdout, /wrote .*audit\.tar: records 1\.\.\d+ \(\d+ events\), \d+ checkpoints, \d+ anchoring events/);
    // A plain Uint8Array: Buffer's slice() is a view, and the tests alter copies.
    bundle = new Uint8Array(readFileSync(bundlePath));
    const listed = execFileSync("tar", ["-tf", bundlePath], { encoding: "utf8" }).trim().split("\n");
    assert.deepEqual(listed, BUNDLE_PART_NAMES.map((part) => BUNDLE_PARTS[part]));
    // An auditor can read every part with ordinary tools.
    const extracted = join(work, "extracted");
    execFileSync("mkdir", ["-p", extracted]);
    execFileSync("tar", ["-xf", bundlePath, "-C", extracted]);
    assert.deepEqual(readdirSync(extracted).sort(), Object.values(BUNDLE_PARTS).sort());
    const manifest = JSON.parse(readFileSync(join(extracted, "manifest.json"), "utf8"));
    assert.equal(manifest.format, "zt-infra/audit-bundle/v1");
    assert.equal(manifest.from_seq, 1);
    assert.deepEqual(manifest.tree_prefix, { size: 0, compact_range: [] });

    const again = await runZt(["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--out", bundlePath]);
    assert.equal(again.code, 2, "never overwrites");
    assert.match(again.stderr, /exists/);
  });

  test("zt audit verify --bundle passes with no store and no network, and names the checkpoint, the key and the anchors", async (t) => {
    if (skipWithoutBwrap) return t.skip(skipWithoutBwrap);
    requireBwrap();
    const nowhere = join(work, "no-such-data-dir");
    // No network namespace of the host's: no interface but a loopback that is down.
    const run = await runToExit(
      BWRAP_PATH!,
      // The checkout and the runtime are bound again over the scratch /tmp, for a checkout that lives under /tmp.
      ["--unshare-net", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp", "--ro-bind", REPO_ROOT, REPO_ROOT, "--ro-bind", dirname(process.execPath), dirname(process.execPath),
        "--ro-bind", bundlePath, "/tmp/audit.tar", "--ro-bind", keysPath, "/tmp/keys.json", "--",
        process.execPath, ZT_TS, "audit", "verify", "--bundle", "/tmp/audit.tar", "--keys", "/tmp/keys.json", "--json"],
      { env: { ZT_STORE: `sqlite:${join(nowhere, "events.db")}`, ZT_DATA_DIR: nowhere, ZT_CHAIN: "http://127.0.0.1:1" }, timeoutMs: 60_000 },
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assert.equal(existsSync(nowhere), false, "no store or data directory was created");
    const report = JSON.parse(run.stdout);
    const batches = await sealedBatches();
    const last = batches.find((b) => b.tree_size === report.to_seq)!;
    assert.deepEqual(report.failure, null);
    assert.equal(report.from_seq, 1);
    assert.deepEqual(report.last_checkpoint, { batch_id: last.batch_id, tree_size: last.tree_size, root: last.root });
    assert.equal(report.records, report.to_seq);
    const decisions = (await h.decisionEvents()).filter((event) => event.position <= report.to_seq);
    assert.ok(decisions.length >= 3);
    assert.equal(report.decisions, decisions.length, "one record per event, so record seq n is store position n here");
    const auditKeyId = [...readAuditKeys(keysPath).keys()][0];
    assert.deepEqual(report.keys.map((k: any) => [k.key_id, k.pinned]), [[auditKeyId, true]]);
    const confirmed = report.anchors.filter((a: any) => a.status === "confirmed");
    assert.ok(confirmed.length >= 2, JSON.stringify(report.anchors));
    for (const anchor of confirmed) {
      const batch = batches.find((b) => b.batch_id === anchor.batch_id)!;
      assert.deepEqual([anchor.chain_id, anchor.contract, anchor.tx_hash], [batch.anchor.chain_id, batch.anchor.contract, batch.anchor.tx_hash], `the receipt of ${anchor.batch_id} is the one the service reports`);
      assert.equal(typeof anchor.block_number, "number");
    }

    const text = await runZt(["audit", "verify", "--bundle", bundlePath]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    assert.match(text.stdout, /^zt audit verify --bundle: OK \(\d+ records and events records 1\.\.\d+, \d+ decisions, \d+ checkpoints\)/);
    assert.match(text.stdout, /taken from the bundle; pin it with --keys/);
    assert.match(text.stdout, /anchor of batch-1: confirmed on chain 31337/);
  });

  test("one altered byte anywhere in any part fails, naming that part", async () => {
    const read = readTar(bundle);
    assert.ok(read.ok);
    const trustedKeys = readAuditKeys(keysPath);
    const baseline = await verifyBundle(bundle, { trustedKeys });
    assert.equal(baseline.ok, true, JSON.stringify(baseline.failure));
    let tried = 0;
    for (const [index, part] of BUNDLE_PART_NAMES.entries()) {
      const length: number = read.entries[index]!.content.length;
      assert.ok(length > 0, `${part} is not empty in this bundle`);
      for (const offset of positions(index + 1, length, 24) as number[]) {
        const report = await verifyBundle(alterByte(bundle, part, offset), { trustedKeys });
        assert.equal(report.ok, false, `a byte altered at ${part}:${offset} is noticed`);
        assert.equal(report.failure?.part, part, `a byte altered at ${part}:${offset} is blamed on ${part}: ${JSON.stringify(report.failure)}`);
        tried += 1;
      }
    }
    assert.ok(tried > 100);
    // The CLI says it the same way, with exit 1.
    for (const part of BUNDLE_PART_NAMES) {
      const file = join(work, `altered-${part}.tar`);
      const content = read.entries[BUNDLE_PART_NAMES.indexOf(part)]!.content;
      writeFileSync(file, alterByte(bundle, part, Math.floor(content.length / 2)));
      const run = await runZt(["audit", "verify", "--bundle", file, "--keys", keysPath]);
      assert.equal(run.code, 1, `${part}: ${run.stdout}${run.stderr}`);
      assert.match(run.stdout, new RegExp(`^zt audit verify --bundle: FAILED in part "${part}"`), run.stdout);
    }
  });

  test("the archive itself: an altered header, padding or end, or a part missing, names the archive", async () => {
    const read = readTar(bundle);
    assert.ok(read.ok);
    const header = bundle.slice();
    header[3]! ^= 0x01; // a file name
    const size = bundle.slice();
    size[124 + 5]! ^= 0x01; // a size digit
    const end = bundle.slice(0, bundle.length - 1);
    const missing = writeTar(read.entries.filter((e) => e.name !== BUNDLE_PARTS.anchors));
    for (const [what, altered] of [["a header", header], ["a size", size], ["the end", end], ["a missing part", missing], ["not a tar at all", new TextEncoder().encode("{}")]] as const) {
      const report = await verifyBundle(altered);
      assert.equal(report.failure?.part, "archive", `${what}: ${JSON.stringify(report.failure)}`);
    }
  });

  test("a range: records N..M widened to the checkpoint sealing M, bound by the tree prefix", async () => {
    const [first, second] = await sealedBatches();
    const from = first!.tree_size + 2;
    const out = join(work, "range.tar");
    const run = await runZt(["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--from-seq", String(from), "--to-seq", String(from + 1), "--out", out]);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.match(run.stdout, new RegExp(`records ${from}\\.\\.${second!.tree_size} `), "widened to the checkpoint that seals the last record asked for");
    const ranged = new Uint8Array(readFileSync(out));
    const report = await verifyBundle(ranged, { trustedKeys: readAuditKeys(keysPath) });
    assert.equal(report.ok, true, JSON.stringify(report.failure));
    assert.deepEqual([report.from_seq, report.to_seq, report.records, report.checkpoints], [from, second!.tree_size, second!.tree_size - from + 1, 1]);
    // The prefix is what binds records 8..12 to the signed root: altering it is caught.
    const manifest = readTar(ranged);
    assert.ok(manifest.ok);
    const text = new TextDecoder().decode(manifest.entries[0]!.content);
    const prefixHash = JSON.parse(text).tree_prefix.compact_range[0] as string;
    const forged = writeTar(manifest.entries.map((e, i) => (i === 0 ? { name: e.name, content: new TextEncoder().encode(text.replace(prefixHash, `${prefixHash.slice(0, 63)}${prefixHash.endsWith("0") ? "1" : "0"}`)) } : e)));
    const refused = await verifyBundle(forged);
    assert.deepEqual([refused.failure?.part, refused.failure?.kind], ["manifest", "checkpoint_root_mismatch"]);

    const unsealed = await runZt(["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--to-seq", "100000", "--out", join(work, "never.tar")]);
    assert.equal(unsealed.code, 2);
    assert.match(unsealed.stderr, /no sealed checkpoint covers record 100000 yet/);
    assert.equal(existsSync(join(work, "never.tar")), false);
  });

  test("pinned keys: a bundle whose key is not the auditor's fails in keys", async () => {
    const stranger = writeKeysDocument(join(work, "stranger.json"), [freshAuditKey()]);
    const run = await runZt(["audit", "verify", "--bundle", bundlePath, "--keys", stranger, "--json"]);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const report = JSON.parse(run.stdout);
    assert.deepEqual([report.failure.part, report.failure.kind], ["keys", "untrusted_key"]);
  });

  test("bad usage is exit 2", async () => {
    for (const args of [
      ["audit", "verify", "--bundle", bundlePath, "--store", `sqlite:${storePath}`],
      ["audit", "verify", "--bundle", join(work, "absent.tar")],
      ["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath],
      ["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--from-seq", "0", "--out", join(work, "x.tar")],
      ["audit", "export", "--store", `sqlite:${storePath}`, "--keys", keysPath, "--from-seq", "9", "--to-seq", "3", "--out", join(work, "x.tar")],
    ]) {
      const run = await runZt(args);
      assert.equal(run.code, 2, `${args.join(" ")}: ${run.stdout}${run.stderr}`);
    }
  });
});
