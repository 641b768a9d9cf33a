/**
 * Runs the `execute` block of an allowed, already recorded decision: appends
 * ExecutionStarted to the decision's stream, runs the command through the broker it
 * names, appends ExecutionCompleted or ExecutionFailed, and returns the contract's
 * `execution` object. Output goes to the caller only; events and logs hold its hashes.
 * Never fails: a broker or store problem is an `execution` with status `failed`.
 */
import { Context, Effect, Layer, Schema } from "effect";
import type { ExecuteSpec } from "../decisions/ActionRequest.ts";
import { decisionStream } from "../decisions/events.ts";
import { EventStore, type JsonObject, type NewEvent } from "../events/EventStore.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { Ids } from "../platform/Ids.ts";
import { BrokerError, Brokers, type CommandSpec, type ExecutionOutcome } from "./Broker.ts";
import { EXECUTION_COMPLETED, EXECUTION_FAILED, EXECUTION_STARTED, ExecutionCompleted, ExecutionFailed, ExecutionStarted } from "./events.ts";

export const DEFAULT_TIMEOUT_MS = 5_000;
export const MAX_TIMEOUT_MS = 300_000;
export const OUTPUT_CAP_BYTES = 64 * 1024;
/** The whole environment a command sees. */
export const COMMAND_ENV: Readonly<Record<string, string>> = { PATH: "/usr/local/bin:/usr/bin:/bin", HOME: "/tmp", LANG: "C.UTF-8" };

/** The contract's `execution` object (section 4). */
export interface ExecutionView {
  readonly broker: string;
  readonly status: "completed" | "failed" | "timeout";
  readonly exit_code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly stdout_sha256: string | null;
  readonly stderr_sha256: string | null;
  readonly truncated: boolean;
  readonly duration_ms: number;
  /** Present when status is `failed`: the operational error. */
  readonly error?: { readonly reason: string; readonly message: string };
}

/** The command spec for an `execute` block with this build's limits. Pure. */
export function commandSpec(execute: ExecuteSpec): CommandSpec {
  return {
    argv: execute.command,
    env: COMMAND_ENV,
    readPaths: [],
    writePaths: [],
    network: execute.network === true,
    timeoutMs: Math.min(execute.timeout_ms ?? DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS),
    outputCapBytes: OUTPUT_CAP_BYTES,
  };
}

/** The response view and the completion event of a finished run. Pure. */
export function completedView(decisionId: string, broker: string, outcome: ExecutionOutcome): { view: ExecutionView; event: ExecutionCompleted } {
  const stdout_sha256 = sha256Hex(outcome.stdout);
  const stderr_sha256 = sha256Hex(outcome.stderr);
  const decoder = new TextDecoder();
  return {
    view: {
      broker,
      status: outcome.status,
      exit_code: outcome.exit_code,
      stdout: decoder.decode(outcome.stdout),
      stderr: decoder.decode(outcome.stderr),
      stdout_sha256,
      stderr_sha256,
      truncated: outcome.truncated,
      duration_ms: outcome.duration_ms,
    },
    event: {
      decision_id: decisionId,
      broker,
      status: outcome.status,
      exit_code: outcome.exit_code,
      duration_ms: outcome.duration_ms,
      stdout_sha256,
      stderr_sha256,
      truncated: outcome.truncated,
    },
  };
}

export function failedView(broker: string, reason: string, message: string, durationMs = 0): ExecutionView {
  return {
    broker,
    status: "failed",
    exit_code: null,
    stdout: "",
    stderr: "",
    stdout_sha256: null,
    stderr_sha256: null,
    truncated: false,
    duration_ms: durationMs,
    error: { reason, message },
  };
}

export interface ExecutionServiceShape {
  /**
   * Executes an allowed decision's command; `decidedRevision` is the revision of its
   * ActionDecided, the expected state of the stream for the first execution event.
   */
  readonly execute: (decisionId: string, decidedRevision: number, execute: ExecuteSpec) => Effect.Effect<ExecutionView>;
}

export class ExecutionService extends Context.Tag("zt/ExecutionService")<ExecutionService, ExecutionServiceShape>() {
  static readonly layer = Layer.effect(
    ExecutionService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      const brokers = yield* Brokers;

      const append = <A, I>(decisionId: string, revision: number, type: string, schema: Schema.Schema<A, I>, data: A) =>
        Effect.gen(function* () {
          const event: NewEvent = { id: yield* ids.uuid, type, data: Schema.encodeSync(schema)(data) as unknown as JsonObject };
          return yield* store.append(decisionStream(decisionId), [event], { revision });
        });

      const execute = (decisionId: string, decidedRevision: number, spec: ExecuteSpec): Effect.Effect<ExecutionView> =>
        Effect.gen(function* () {
          const brokerName = spec.broker;
          const log = (message: string, fields: Record<string, unknown>) =>
            Effect.logInfo(message).pipe(Effect.annotateLogs({ decision_id: decisionId, broker: brokerName, ...fields }));

          const started = yield* append(decisionId, decidedRevision, EXECUTION_STARTED, ExecutionStarted, {
            decision_id: decisionId,
            broker: brokerName,
            argv_sha256: sha256Hex(canonicalJsonTrusted(spec.command)),
          });

          const broker = brokers.get(brokerName);
          const outcome = yield* Effect.either(
            broker === undefined
              ? Effect.fail(new BrokerError({ reason: "unavailable", message: `broker ${brokerName} is not configured in this build` }))
              : broker.run(commandSpec(spec)),
          );

          if (outcome._tag === "Left") {
            const { reason, message } = outcome.left;
            yield* append(decisionId, started.revision, EXECUTION_FAILED, ExecutionFailed, { decision_id: decisionId, broker: brokerName, reason, message });
            yield* Effect.logWarning("execution failed").pipe(Effect.annotateLogs({ decision_id: decisionId, broker: brokerName, reason }));
            return failedView(brokerName, reason, message);
          }
          const { view, event } = completedView(decisionId, brokerName, outcome.right);
          yield* append(decisionId, started.revision, EXECUTION_COMPLETED, ExecutionCompleted, event);
          yield* log("execution finished", { status: event.status, exit_code: event.exit_code, duration_ms: event.duration_ms, truncated: event.truncated });
          return view;
        }).pipe(
          // Before the start is recorded nothing runs; after it, the caller still learns the
          // store failed rather than getting an execution the audit trail cannot show.
          Effect.catchTag("EventStoreError", (error) =>
            Effect.logError("execution not recorded: event store unavailable").pipe(
              Effect.annotateLogs({ decision_id: decisionId, broker: spec.broker, reason: error.reason }),
              Effect.as(failedView(spec.broker, "audit_unavailable", `the execution could not be durably recorded (${error.reason})`)),
            ),
          ),
        );

      return { execute };
    }),
  );
}
