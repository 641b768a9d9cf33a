/**
 * Events of the MCP gateway, appended to an allowed call's decision stream
 * (`decision-<id>`) after its ActionDecided (contract section 8). The upstream's answer
 * never appears here: only the sha256 of the JCS of what it answered.
 *
 *   McpCallAnswered  the upstream answered the forwarded call: a result (which may be a
 *                    tool error, `is_error`) or a JSON-RPC error (`error_code`)
 *   McpCallFailed    the call got no answer from the upstream: it was down or went away
 *                    (`upstream_unavailable`), did not answer in time (`timeout`), or the
 *                    caller cancelled it (`cancelled`)
 */
import { Schema } from "effect";

export const MCP_CALL_ANSWERED = "McpCallAnswered.v1";
export const MCP_CALL_FAILED = "McpCallFailed.v1";

const Hex64 = Schema.String.pipe(Schema.pattern(/^[0-9a-f]{64}$/));

export const McpCallAnswered = Schema.Struct({
  decision_id: Schema.String,
  server_id: Schema.String,
  method: Schema.String,
  /** sha256 of the JCS of the result, or of the error object when the upstream answered an error. */
  response_sha256: Hex64,
  /** A tool result that the tool itself marked as an error. */
  is_error: Schema.Boolean,
  /** The JSON-RPC error code when the upstream answered an error instead of a result. */
  error_code: Schema.NullOr(Schema.Int),
  duration_ms: Schema.NonNegativeInt,
});
export type McpCallAnswered = typeof McpCallAnswered.Type;

export const MCP_CALL_FAILURE_REASONS = ["upstream_unavailable", "timeout", "cancelled"] as const;
export type McpCallFailureReason = (typeof MCP_CALL_FAILURE_REASONS)[number];

export const McpCallFailed = Schema.Struct({
  decision_id: Schema.String,
  server_id: Schema.String,
  method: Schema.String,
  reason: Schema.Literal(...MCP_CALL_FAILURE_REASONS),
  /** An operational message; never a value of the call or of an answer. */
  message: Schema.String,
  duration_ms: Schema.NonNegativeInt,
});
export type McpCallFailed = typeof McpCallFailed.Type;
