/**
 * Events of the execution capability, appended to the decision's own stream
 * (`decision-<id>`) after its ActionDecided. Command output never appears here: only
 * its sha256, so the audit trail and the anchor never carry execution output.
 *
 *   ExecutionStarted   the broker is about to run the command (recorded before it runs)
 *   ExecutionCompleted the command ran and exited on its own, with its exit code
 *   ExecutionFailed    it could not run (`unavailable`, `failed`, `image_mismatch`), was
 *                      killed at its timeout (`timeout`) or by something else (`killed`),
 *                      or the control plane stopped while it ran (`interrupted`)
 */
import { Schema } from "effect";

export const EXECUTION_STARTED = "ExecutionStarted.v1";
export const EXECUTION_COMPLETED = "ExecutionCompleted.v1";
export const EXECUTION_FAILED = "ExecutionFailed.v1";

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));
const ImageId = Schema.String.pipe(Schema.pattern(/^sha256:[0-9a-f]{64}$/));

export const ExecutionStarted = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  /** sha256 of the JCS canonical JSON of the argv array. */
  argv_sha256: Hex64,
  /** Docker: the image reference as allowed, and the digest the policy pins, if any. */
  image: Schema.optional(Schema.String),
  image_digest: Schema.optional(ImageId),
});
export type ExecutionStarted = typeof ExecutionStarted.Type;

/** What is kept of a run that started: how long, how it exited, hashes of its output. */
const RunFields = {
  exit_code: Schema.NullOr(Schema.Int),
  duration_ms: Schema.NonNegativeInt,
  stdout_sha256: Hex64,
  stderr_sha256: Hex64,
  truncated: Schema.Boolean,
  /** Docker: the id of the image that actually ran. */
  image_id: Schema.optional(ImageId),
};

export const ExecutionCompleted = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  status: Schema.Literal("completed"),
  ...RunFields,
});
export type ExecutionCompleted = typeof ExecutionCompleted.Type;

export const EXECUTION_FAILURE_REASONS = ["unavailable", "failed", "image_mismatch", "timeout", "killed", "interrupted"] as const;
export type ExecutionFailureReason = (typeof EXECUTION_FAILURE_REASONS)[number];

export const ExecutionFailed = Schema.Struct({
  decision_id: Schema.String,
  broker: Schema.String,
  reason: Schema.Literal(...EXECUTION_FAILURE_REASONS),
  /** An operational message; never output or environment values. */
  message: Schema.String,
  /** Present when the command had started (`timeout`, `killed`): what it left behind. */
  run: Schema.optional(Schema.Struct(RunFields)),
});
export type ExecutionFailed = typeof ExecutionFailed.Type;
