/**
 * The AuditProjector of a serving instance: the projection writer runs on a worker
 * thread (its entry module is given: the composition root's projectorWorker.ts) with its
 * own connections and only the settings it is given, so its chaining, signing,
 * sealing, commits and garbage never stall the thread that decides and answers
 * requests; on a machine with a spare core it also runs beside them. Its status is read
 * here from the store and the audit log, its writer state and counts come by message,
 * and its log lines are written through this thread's logger. A writer thread that
 * dies is started again after a second (its state reads `restarting` meanwhile); one
 * that cannot start fails startup.
 */
import { Worker } from "node:worker_threads";
import { Data, Duration, Effect, Layer, LogLevel, Runtime } from "effect";
import { EventStore } from "../events/EventStore.ts";
import type { LogLevelName } from "../platform/Logging.ts";
import { Metrics } from "../platform/Metrics.ts";
import { AuditLog } from "./AuditLog.ts";
import { AuditProjector, projectionStatus, writerHealthy, type WriterState } from "./AuditProjector.ts";

/** What the writer thread is started with (its `workerData`). */
export interface ProjectorWorkerData<Settings> {
  readonly settings: Settings;
  /** How often the writer's store looks for appends made on the other thread's connection. */
  readonly pollIntervalMs: number;
  readonly progressMs: number;
}

/**
 * What the writer thread tells this one: started (or failed), its log lines, and every
 * `progressMs` its writer state and how many records, checkpoints and unhashable events
 * it wrote since the last report.
 */
export type ProjectorWorkerMessage =
  | { readonly type: "started" }
  | { readonly type: "failed"; readonly message: string }
  | { readonly type: "log"; readonly level: Exclude<LogLevelName, "none">; readonly message: string; readonly fields: Record<string, unknown> }
  | { readonly type: "progress"; readonly writer: WriterState; readonly records: number; readonly checkpoints: number; readonly unhashable: number };

export class ProjectorThreadError extends Data.TaggedError("ProjectorThreadError")<{ readonly message: string }> {}

/** The writer's store polls this often for this thread's appends (they come through another connection). */
export const WRITER_POLL_MS = 20;
const PROGRESS_MS = 500;
const STOP_TIMEOUT_MS = 10_000;

const LEVELS = { debug: LogLevel.Debug, info: LogLevel.Info, warn: LogLevel.Warning, error: LogLevel.Error } as const;

/** A writer thread and the promise of its exit code, taken when it was spawned so that no later wait can miss the exit. */
interface WriterThread {
  readonly worker: Worker;
  readonly exited: Promise<number>;
}

export const ProjectorThread = {
  /** `workerUrl` is the writer thread's entry module, started with `settings` (structured-cloned: plain data). */
  layer: <Settings>(options: { readonly workerUrl: URL; readonly settings: Settings }): Layer.Layer<AuditProjector, ProjectorThreadError, EventStore | AuditLog | Metrics> =>
    Layer.scoped(
      AuditProjector,
      Effect.gen(function* () {
        const metrics = yield* Metrics;
        const runFork = Runtime.runFork(yield* Effect.runtime<never>());
        let writer: WriterState = { state: "starting" };
        let stopping = false;

        const setWriter = (state: WriterState) => {
          writer = state;
          metrics.auditWriterUp.set(writerHealthy(state) ? 1 : 0);
        };

        const onMessage = (message: ProjectorWorkerMessage) => {
          if (message.type === "progress") {
            setWriter(message.writer);
            metrics.auditRecords.inc({}, message.records);
            metrics.checkpoints.inc({}, message.checkpoints);
            metrics.unhashableEvents.inc({}, message.unhashable);
          } else if (message.type === "log") {
            runFork(Effect.logWithLevel(LEVELS[message.level], message.message).pipe(Effect.annotateLogs(message.fields)));
          }
        };

        /** Starts a writer thread; succeeds once it reports `started`. */
        const start = Effect.async<WriterThread, ProjectorThreadError>((resume) => {
          const workerData: ProjectorWorkerData<Settings> = { settings: options.settings, pollIntervalMs: WRITER_POLL_MS, progressMs: PROGRESS_MS };
          const worker = new Worker(options.workerUrl, { workerData });
          const exited = new Promise<number>((resolve) => worker.once("exit", resolve));
          let settled = false;
          const settle = (outcome: Effect.Effect<WriterThread, ProjectorThreadError>) => {
            if (settled) return;
            settled = true;
            resume(outcome);
          };
          const failed = (message: string) => {
            settle(Effect.fail(new ProjectorThreadError({ message })));
            void worker.terminate();
          };
          worker.on("message", (message: ProjectorWorkerMessage) => {
            if (!settled && message.type === "started") settle(Effect.succeed({ worker, exited }));
            else if (!settled && message.type === "failed") failed(`the audit projection writer cannot start: ${message.message}`);
            else onMessage(message);
          });
          worker.once("error", (error) => failed(`the audit projection writer thread failed: ${error.message}`));
          void exited.then((code) => failed(`the audit projection writer thread exited (${code})`));
        });

        /** Asks the thread to stop and waits for its exit (terminating it after STOP_TIMEOUT_MS); a thread that already exited is done. */
        const stop = (thread: WriterThread) =>
          Effect.promise(() => {
            stopping = true;
            const timer = setTimeout(() => void thread.worker.terminate(), STOP_TIMEOUT_MS);
            thread.worker.postMessage({ type: "stop" });
            return thread.exited.finally(() => clearTimeout(timer));
          });

        /** Keeps a writer thread running for the scope's lifetime: one that exits is started again. */
        let current = yield* start;
        const supervise = Effect.gen(function* () {
          for (;;) {
            const code = yield* Effect.promise(() => current.exited);
            if (stopping) return;
            setWriter({ state: "restarting", reason: `the writer thread exited (${code})`, since: new Date().toISOString(), failures: 1 });
            yield* Effect.logWarning("the audit projection writer thread stopped; starting it again").pipe(Effect.annotateLogs({ exit_code: code }));
            for (;;) {
              yield* Effect.sleep(Duration.seconds(1));
              const restarted = yield* Effect.either(start);
              if (restarted._tag === "Right") {
                current = restarted.right;
                break;
              }
              yield* Effect.logWarning("the audit projection writer thread cannot start").pipe(Effect.annotateLogs({ reason: restarted.left.message }));
            }
          }
        });
        // Finalizers run in reverse: the supervisor is interrupted first, then the thread stopped.
        yield* Effect.addFinalizer(() => stop(current));
        yield* Effect.forkScoped(supervise);

        const store = yield* EventStore;
        const log = yield* AuditLog;
        return { status: projectionStatus({ store, log, metrics }, () => writer) };
      }),
    ),
};
