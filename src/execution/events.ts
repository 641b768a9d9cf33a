/**
 * Events of the execution capability, appended to the decision's own stream
 * (`decision-<id>`) after its ActionDecided. Command output never appears here: only
 * its sha256, so the audit trail and the anchor never carry execution output.
 */
import { Schema } from "effect";

export const EXECUTION_STARTED = "ExecutionStarted.v1";
export const EXECUTION_COMPLETED = "ExecutionCompleted.v1";
export const EXECUTION_FAILED = "ExecutionFailed.v1";

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));

export const ExecutionStarted = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  /** sha256 of the JCS canonical JSON of the argv array. */
  argv_sha256: Hex64,
});
export type ExecutionStarted = typeof ExecutionStarted.Type;

export const ExecutionCompleted = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  status: Schema.Literal("completed", "timeout"),
  exit_code: Schema.NullOr(Schema.Int),
  duration_ms: Schema.NonNegativeInt,
  stdout_sha256: Hex64,
  stderr_sha256: Hex64,
  truncated: Schema.Boolean,
});
export type ExecutionCompleted = typeof ExecutionCompleted.Type;

export const ExecutionFailed = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  reason: Schema.Literal("unavailable", "failed", "killed"),
  /** An operational message; never output or environment values. */
  message: Schema.String,
});
export type ExecutionFailed = typeof ExecutionFailed.Type;
