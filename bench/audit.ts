/**
 * The audit pipeline at 100,000 and 1,000,000 events (ZT_BENCH_AUDIT_EVENTS, a comma
 * list): fill a fresh SQLite store with decision-sized events, start the control plane
 * on it and time its projection writer (chain, WebCrypto signatures, checkpoints) until
 * it has caught up, read the server's peak RSS, then time `zt audit verify` replaying
 * everything as an auditor would, in its own process.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Effect, ManagedRuntime } from "effect";
import { loadConfig } from "../src/config.ts";
import { EventStore, type NewEvent } from "../src/events/EventStore.ts";
import { openDataDirectory } from "../src/identity/DataDirectory.ts";
import { storeLayer } from "../src/layers.ts";
import { controlPlane, until } from "./processes.ts";
import { finishSection, type BenchRow } from "./report.ts";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const SIZES = (process.env["ZT_BENCH_AUDIT_EVENTS"] ?? "100000,1000000").split(",").map(Number);
const BATCH = 1000;

/** An event the size and shape of an ActionDecided (about 900 bytes of JSON). */
function decisionLike(n: number): NewEvent {
  return {
    id: crypto.randomUUID(),
    type: "BenchDecided.v1",
    data: {
      decision_id: `dec_bench_${n}`,
      status: n % 5 === 0 ? "denied" : "allowed",
      reason: n % 5 === 0 ? "max_notional_exceeded" : null,
      detail: "allowed by policy and permit permit_01M8R9E70KAXNVMTHXJVX6FE09",
      invariant_checks: ["actor_binding", "cedar_policy", "permit_present", "permit_issuer", "permit_signature", "permit_subject", "permit_scope", "nonce_unused", "protocol_allowlist", "max_notional"].map((name) => ({ name, ok: true })),
      policy_id: "policy_mainnet_v1",
      policy_hash: "d0829dd95c12ae2845d1e8ecb9e90131b1053f9b0b4245343417a34be9801006",
      permit_id: `permit_bench_${n}`,
      intent_hash: "4c1f6e1c3a2b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e",
      receipt_hash: "9f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a0",
      decided_at: new Date(1_760_000_000_000 + n).toISOString(),
      actor: "agent:desk-7",
      request: { actor: "agent:desk-7", action: "swap.execute", resource: "solana:mainnet/jupiter", intent: { protocol: "jupiter", asset: "SOL", amount: "12.5", slippage_bps: 30 } },
    },
  };
}

const rows: BenchRow[] = [];
// The reference of the verify target: cores x one core's WebCrypto verify rate, measured here.
const oneCore = spawnSync(process.execPath, [join(ROOT, "bench", "verifyOneCore.ts")], { cwd: ROOT, encoding: "utf8", env: { ...process.env, UV_THREADPOOL_SIZE: "1" } });
if (oneCore.status !== 0) throw new Error(`bench/verifyOneCore.ts failed: ${oneCore.stderr.slice(0, 500)}`);
const oneCoreVerify = (JSON.parse(oneCore.stdout) as { opsPerSecond: number }).opsPerSecond;
const cores = availableParallelism();
rows.push({ name: "Ed25519 verify (WebCrypto), one core", value: oneCoreVerify, unit: "ops/s", note: `${cores} cores: the verify target is 0.8 x ${cores} x this` });
for (const total of SIZES) {
  const label = total.toLocaleString("en-US");
  const dataDir = mkdtempSync(join(tmpdir(), "zt-bench-audit-"));
  try {
    const identity = openDataDirectory(dataDir, { production: false });
    const config = loadConfig({ ZT_DATA_DIR: dataDir, ZT_CHAIN: "off" });
    const store = ManagedRuntime.make(storeLayer(config.store));
    let started = performance.now();
    for (let done = 0; done < total; done += BATCH) {
      const batch = Array.from({ length: Math.min(BATCH, total - done) }, (_, i) => decisionLike(done + i));
      await store.runPromise(Effect.flatMap(EventStore, (events) => events.append(`bench-${done % 97}`, batch, "any")));
    }
    const appendSeconds = (performance.now() - started) / 1000;
    await store.dispose();

    // The projection is the server's own writer, from a cold start on the filled store.
    const server = await controlPlane(dataDir, { ZT_LOG_LEVEL: "warn" });
    started = performance.now();
    const head = await until(
      "the projection to catch up",
      async () => {
        const answer = (await server.get("/audit/head")) as { seq: number; lag: number };
        return answer.seq >= total && answer.lag === 0 ? answer : undefined;
      },
      3_600_000,
      250,
    );
    const projectSeconds = (performance.now() - started) / 1000;
    const rss = server.peakRssMiB();
    await server.stop();

    started = performance.now();
    const verify = spawnSync(
      process.execPath,
      [join(ROOT, "src", "cli", "zt.ts"), "audit", "verify", "--store", `sqlite:${join(dataDir, "events.db")}`, "--keys", join(dataDir, "keys", "audit.pub.json"), "--json"],
      { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 },
    );
    const verifySeconds = (performance.now() - started) / 1000;
    if (verify.status !== 0) throw new Error(`zt audit verify failed (exit ${verify.status}): ${verify.stdout.slice(0, 500)} ${verify.stderr.slice(0, 500)}`);
    const report = JSON.parse(verify.stdout) as { records: number; checkpoints: number };
    void identity;

    rows.push(
      { name: `append ${label} events, ${BATCH} per durable append`, value: total / appendSeconds, unit: "events/s" },
      { name: `projection writer, cold start to caught up, ${label} events`, value: head.seq / projectSeconds, unit: "records/s", note: `${projectSeconds.toFixed(1)} s, ${report.checkpoints} checkpoints` },
      { name: `control plane peak RSS, ${label} events projected`, value: rss, unit: "MiB" },
      {
        name: `zt audit verify, ${label} events`,
        value: report.records / verifySeconds,
        unit: "records/s",
        ratio: { to: "cores x one core's verify", value: report.records / verifySeconds / (cores * oneCoreVerify) },
        note: `${verifySeconds.toFixed(1)} s, exit 0, ${report.records} records`,
      },
    );
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

finishSection({
  section: "audit",
  method: `fresh SQLite store per size, events of ActionDecided size (~900 bytes); the projection timed in the control plane from a cold start (ZT_CHAIN=off), RSS as VmHWM; zt audit verify in its own process (${process.version})`,
  rows,
});
