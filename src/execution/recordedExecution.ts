/**
 * The `execution` of a decision as its events tell it, for `GET /decisions/:id`. Pure.
 * Output was returned to the caller only, so here `stdout` and `stderr` are null and
 * the hashes are what remains of them.
 */
import { Option, Schema } from "effect";
import { EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_STARTED, ExecutionCompleted, ExecutionFailed, ExecutionStarted } from "./events.ts";

export interface RecordedExecutionView {
  readonly broker: string;
  readonly status: "started" | "completed" | "failed" | "timeout";
  readonly exit_code: number | null;
  readonly stdout: null;
  readonly stderr: null;
  readonly stdout_sha256: string | null;
  readonly stderr_sha256: string | null;
  readonly truncated: boolean;
  readonly duration_ms: number | null;
  readonly error?: { readonly reason: string; readonly message: string };
}

/** Null when nothing was started; `started` when the start is recorded but no end (yet). */
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
        const { status, exit_code, duration_ms, stdout_sha256, stderr_sha256, truncated } = done.value;
        return { ...base, status, exit_code, duration_ms, stdout_sha256, stderr_sha256, truncated };
      }
    }
    if (event.type === EXECUTION_FAILED) {
      const failed = Schema.decodeUnknownOption(ExecutionFailed)(event.data);
      if (Option.isSome(failed)) return { ...base, status: "failed", error: { reason: failed.value.reason, message: failed.value.message } };
    }
  }
  return { ...base, status: "started" };
}
