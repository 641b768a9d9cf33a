/**
 * The audit projection writer on a thread of its own (see ProjectorThread): the same
 * writer `zt project` runs, on its own store and audit log connections, so chaining,
 * signing, sealing and its commits never hold up the thread that answers requests.
 * It reports to the parent thread by message: started (or failed), its log lines, and
 * every `progressMs` whether it holds the lease and how many records and checkpoints it
 * wrote since the last report.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { ServiceConfig } from "../config.ts";
import type { LogLevelName } from "../platform/Logging.ts";
import type { WriterState } from "./AuditProjector.ts";
import { makeMetrics } from "../platform/Metrics.ts";
import { startProjector } from "../server.ts";

export interface ProjectorWorkerData {
  readonly config: ServiceConfig;
  /** How often the writer's store looks for appends made on the other thread's connection. */
  readonly pollIntervalMs: number;
  readonly progressMs: number;
}

export type ProjectorWorkerMessage =
  | { readonly type: "started" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "log"; readonly level: Exclude<LogLevelName, "none">; readonly message: string; readonly fields: Record<string, unknown> }
  | { readonly type: "progress"; readonly writer: WriterState; readonly records: number; readonly checkpoints: number; readonly unhashable: number };

const port = parentPort;
if (port === null) throw new Error("projectorWorker.ts runs as a worker thread only");
const post = (message: ProjectorWorkerMessage) => port.postMessage(message);
const { config, pollIntervalMs, progressMs } = workerData as ProjectorWorkerData;

const metrics = makeMetrics();
const logs = { write: (level: Exclude<LogLevelName, "none">, message: string, fields: Record<string, unknown>) => post({ type: "log", level, message, fields }) };
try {
  const projector = await startProjector(config, logs, { metrics, pollIntervalMs });
  post({ type: "started" });
  let reported = { records: 0, checkpoints: 0, unhashable: 0 };
  const report = async () => {
    const status = await projector.status().catch(() => undefined);
    const now = { records: metrics.auditRecords.value(), checkpoints: metrics.checkpoints.value(), unhashable: metrics.unhashableEvents.value() };
    const writer: WriterState = status?.writer ?? { state: "restarting", reason: "the writer's status cannot be read", since: new Date().toISOString(), failures: 0 };
    post({ type: "progress", writer, records: now.records - reported.records, checkpoints: now.checkpoints - reported.checkpoints, unhashable: now.unhashable - reported.unhashable });
    reported = now;
  };
  const timer = setInterval(report, progressMs);
  port.on("message", (message: { readonly type?: string }) => {
    if (message.type !== "stop") return;
    clearInterval(timer);
    // The parent waits for this thread's exit, which closing the port allows.
    void report()
      .then(() => projector.close())
      .finally(() => port.close());
  });
} catch (error) {
  post({ type: "failed", message: error instanceof Error ? error.message : String(error) });
  port.close();
}
