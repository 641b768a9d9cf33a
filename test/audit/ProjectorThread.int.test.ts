/**
 * ProjectorThread's supervision with real worker threads: a writer thread that dies is
 * started again, its progress counts reach this thread's metrics and its log lines this
 * thread's logger; one that cannot start fails the layer with its reason.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, test } from "node:test";
import { Effect, Layer, ManagedRuntime } from "effect";
import { ProjectorThread } from "../../src/audit/ProjectorThread.ts";
import { AuditProjector } from "../../src/audit/AuditProjector.ts";
import { loadConfig } from "../../src/config.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { effectLoggerLayer, makeLogSink } from "../../src/platform/Logging.ts";
import { auditLogLayer, storeLayer } from "../../src/layers.ts";
import { tempDir } from "../support/harness.ts";
import { sleep } from "../support/waitFor.ts";

const dir = tempDir("zt-projector-thread-");
after(() => rmSync(dir, { recursive: true, force: true }));
const exiting = new URL("./fixtures/exitingProjectorWorker.ts", import.meta.url);

function runtimeWith(lines: string[]) {
  const config = loadConfig({ ZT_DATA_DIR: join(dir, "data"), ZT_CHAIN: "off" });
  const base = Layer.mergeAll(storeLayer(config.store), auditLogLayer(config.store, config.dataDir), Metrics.layer);
  return ManagedRuntime.make(
    ProjectorThread.layer({ workerUrl: exiting, settings: {} }).pipe(Layer.provideMerge(base), Layer.provide(effectLoggerLayer(makeLogSink("debug", (line) => lines.push(line))))),
  );
}

test("a writer thread that exits is started again, about a second later; its counts and logs reach this thread", async () => {
  const lines: string[] = [];
  const runtime = runtimeWith(lines);
  try {
    await runtime.runPromise(AuditProjector);
    await sleep(2_700);
    const starts = lines.filter((line) => line.includes("zt-test-writer")).length;
    const restarts = lines.filter((line) => line.includes("the audit projection writer thread stopped; starting it again")).length;
    assert.ok(starts >= 2, `started ${starts} times: ${lines.join("\n")}`);
    assert.ok(restarts >= 1 && restarts <= starts, `${restarts} restarts for ${starts} starts`);
    assert.ok(lines.some((line) => line.includes('"exit_code":7')));
    const metrics = await runtime.runPromise(Metrics);
    assert.equal(metrics.auditRecords.value(), 3 * starts);
    assert.equal(metrics.checkpoints.value(), starts);
  } finally {
    await runtime.dispose();
  }
});

test("a writer thread that cannot start fails the layer with its reason", async () => {
  process.env["ZT_TEST_WORKER_FAIL"] = "1";
  const runtime = runtimeWith([]);
  try {
    await assert.rejects(runtime.runPromise(AuditProjector), /the audit projection writer cannot start: the test worker refuses to start/);
  } finally {
    delete process.env["ZT_TEST_WORKER_FAIL"];
    await runtime.dispose().catch(() => undefined);
  }
});

test("a writer thread that exits before anyone waits on it is still seen: no hang at stop, and the state reads restarting", async () => {
  // The race behind a test run that once sat idle for minutes: the thread exited between
  // its start and the supervisor's (or the finalizer's) wait for its exit, which then never came.
  process.env["ZT_TEST_WORKER_EXIT_MS"] = "0";
  const lines: string[] = [];
  const runtime = runtimeWith(lines);
  try {
    const projector = await runtime.runPromise(AuditProjector);
    await sleep(200);
    const status = await runtime.runPromise(projector.status);
    assert.equal(status.writer.state, "restarting");
    assert.equal((await runtime.runPromise(Metrics)).auditWriterUp.value(), 0);
  } finally {
    delete process.env["ZT_TEST_WORKER_EXIT_MS"];
    const disposed = runtime.dispose().then(() => "disposed");
    assert.equal(await Promise.race([disposed, sleep(15_000).then(() => "hung")]), "disposed");
  }
});
