/**
 * Audit throughput, medians not needed here (one long run each): fill a fresh SQLite
 * store with N events (default 100,000; `ZT_BENCH_EVENTS`), let the projection writer
 * build the signed chain and checkpoints, then replay everything as an auditor with the
 * verifier `zt audit verify` uses. Prints records per second for each phase.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Effect, Layer, ManagedRuntime } from "effect";
import { AuditLog } from "../src/audit/AuditLog.ts";
import { verifyAudit } from "../src/audit/verifyAudit.ts";
import { loadConfig } from "../src/config.ts";
import { EventStore, type NewEvent } from "../src/events/EventStore.ts";
import { openDataDirectory } from "../src/identity/DataDirectory.ts";
import { auditLogLayer, startProjector, storeLayer } from "../src/server.ts";

const total = Number(process.env["ZT_BENCH_EVENTS"] ?? 100_000);
const dataDir = mkdtempSync(join(tmpdir(), "zt-bench-audit-"));
const config = loadConfig({ ZT_DATA_DIR: dataDir, ZT_CHAIN: "off", ZT_LOG_LEVEL: "warn" });
const identity = openDataDirectory(dataDir, { production: false });
const storeRuntime = ManagedRuntime.make(Layer.mergeAll(storeLayer(config), auditLogLayer(config)));

function event(n: number): NewEvent {
  return { id: crypto.randomUUID(), type: "BenchQuoted.v1", data: { n, asset: "SOL", amount: `${n}.5`, tags: ["bench", n % 2 ? "odd" : "even"] } };
}

try {
  let started = performance.now();
  for (let done = 0; done < total; done += 1000) {
    const batch = Array.from({ length: Math.min(1000, total - done) }, (_, i) => event(done + i));
    await storeRuntime.runPromise(Effect.flatMap(EventStore, (store) => store.append(`bench-${done % 97}`, batch, "any")));
  }
  const appendSeconds = (performance.now() - started) / 1000;

  started = performance.now();
  const projector = await startProjector(config);
  // Done when every event, checkpoint events included, has its record.
  for (;;) {
    const caughtUp = await storeRuntime.runPromise(
      Effect.gen(function* () {
        const head = yield* Effect.flatMap(AuditLog, (log) => log.head);
        const pending = yield* Effect.flatMap(EventStore, (store) => store.readAll({ after: head?.position ?? 0, limit: 1 }));
        return (head?.seq ?? 0) >= total && pending.length === 0;
      }),
    );
    if (caughtUp) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const projectSeconds = (performance.now() - started) / 1000;
  await projector.close();

  started = performance.now();
  const report = await storeRuntime.runPromise(verifyAudit({ auditKeys: new Map([[identity.auditKey.keyId, identity.auditKey.publicKey]]) }));
  const verifySeconds = (performance.now() - started) / 1000;
  if (!report.ok) throw new Error(`verify failed: ${JSON.stringify(report.failure)}`);

  console.log(`| audit phase (${total.toLocaleString("en-US")} events, ${process.version}) | seconds | records/s |`);
  console.log("|---|---:|---:|");
  console.log(`| append (1000 per append, durable) | ${appendSeconds.toFixed(1)} | ${Math.round(total / appendSeconds).toLocaleString("en-US")} |`);
  console.log(`| projection: chain + sign + checkpoints | ${projectSeconds.toFixed(1)} | ${Math.round(report.records / projectSeconds).toLocaleString("en-US")} |`);
  console.log(`| auditor replay (zt audit verify) | ${verifySeconds.toFixed(1)} | ${Math.round(report.records / verifySeconds).toLocaleString("en-US")} |`);
  console.log(`\nverified ${report.records} records, ${report.checkpoints} checkpoints`);
} finally {
  await storeRuntime.dispose();
  rmSync(dataDir, { recursive: true, force: true });
}
