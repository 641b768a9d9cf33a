/**
 * The entry module of the audit projection writer's thread (audit/ProjectorThread.ts
 * starts it): the same writer `zt project` runs, on its own store and audit log
 * connections, with only the settings it was given. It reports to the parent thread by
 * message: started (or failed), its log lines, and every `progressMs` its writer state
 * and how many records, checkpoints and unhashable events it wrote since the last report.
 */
import { parentPort, workerData } from "node:worker_threads";
import type { WriterState } from "./audit/AuditProjector.ts";
import type { ProjectorWorkerData, ProjectorWorkerMessage } from "./audit/ProjectorThread.ts";
import type { ProjectorSettings } from "./layers.ts";
import type { LogLevelName } from "./platform/Logging.ts";
import { makeMetrics } from "./platform/Metrics.ts";
import { startProjector } from "./projector.ts";

const port = parentPort;
if (port === null) throw new Error("projectorWorker.ts runs as a worker thread only");
const post = (message: ProjectorWorkerMessage) => port.postMessage(message);
const { settings, pollIntervalMs, progressMs } = workerData as ProjectorWorkerData<ProjectorSettings>;

const metrics = makeMetrics();
const logs = { write: (level: Exclude<LogLevelName, "none">, message: string, fields: Record<string, unknown>) => post({ type: "log", level, message, fields }) };
try {
  const projector = await startProjector(settings, logs, { metrics, pollIntervalMs });
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
