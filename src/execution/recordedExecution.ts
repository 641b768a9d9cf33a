/**
 * The `execution` of a decision as its events tell it, for `GET /decisions/:id`. Pure.
 * Output was returned to the caller only, so here `stdout` and `stderr` are null and
 * the hashes are what remains of them.
 */
import { Option, Schema } from "effect";
import { EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_STARTED, ExecutionCompleted, ExecutionFailed, ExecutionStarted, type ExecutionFailureReason } from "./events.ts";

export interface RecordedExecutionView {
  readonly broker: string;
  /** `started`: the start is recorded and no end (yet). */
  readonly status: "started" | "completed" | "failed" | "timeout";
  readonly exit_code: number | null;
  readonly stdout: null;
  readonly stderr: null;
  readonly stdout_sha256: string | null;
  readonly stderr_sha256: string | null;
  readonly truncated: boolean;
  readonly duration_ms: number | null;
  readonly image_id?: string | undefined;
  readonly error?: { readonly reason: ExecutionFailureReason; readonly message: string };
}

/** Null when nothing was started. */
export function recordedExecution(events: ReadonlyArray<{ readonly type: string; readonly data: unknown }>): RecordedExecutionView | null {
  const started = events.find((event) => event.type === EXECUTION_STARTED);
  if (started === undefined) return null;
  const start = Schema.decodeUnknownOption(ExecutionStarted)(started.data);
  const broker = Option.isSome(start) ? start.value.broker : "unknown";
  const base = { broker, exit_code: null, stdout: null, stderr: null, stdout_sha256: null, stderr_sha256: null, truncated: false, duration_ms: null } as const;
  for (const event of events) {
    if (event.type === EXECUTION_COMPLETED) {
      const done = Schema.decodeUnknownOption(ExecutionCompleted)(event.data);
      if (Option.isSome(done)) {
        const { decision_id: _id, broker: _broker, ...run } = done.value;
        return { ...base, ...run };
      }
    }
    if (event.type === EXECUTION_FAILED) {
      const failed = Schema.decodeUnknownOption(ExecutionFailed)(event.data);
      if (Option.isSome(failed)) {
        const { reason, message, run } = failed.value;
        return { ...base, ...run, status: reason === "timeout" ? "timeout" : "failed", error: { reason, message } };
      }
    }
  }
  return { ...base, status: "started" };
}
