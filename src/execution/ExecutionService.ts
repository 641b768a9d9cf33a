/**
 * Runs the `execute` block of an allowed, already recorded decision: appends
 * ExecutionStarted to the decision's stream (expecting the stream to end at the
 * decision, so a decision can start at most once), runs the command through the broker
 * it names within the policy rule's limits, appends ExecutionCompleted or
 * ExecutionFailed, and returns the contract's `execution` object. Output goes to the
 * caller only; events and logs hold its hashes. Never fails: a broker or store problem
 * is an `execution` with status `failed`.
 *
 * At startup, and every REAP_INTERVAL_MS after, it asks every broker that can leave runs
 * behind (Docker) to reap what a process of this control plane that is gone left
 * running, and records those runs as `interrupted`: a crash mid-run ends the run, it
 * never resumes or repeats it.
 */
import { Context, Duration, Effect, Layer, Option, Schedule, Schema } from "effect";
import type { ExecuteSpec } from "../vocabulary/ActionRequest.ts";
import { decisionStream } from "../vocabulary/DecisionId.ts";
import { EventStore, type JsonObject } from "../events/EventStore.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics } from "../platform/Metrics.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import { brokerRuleFor } from "../policy/brokerChecks.ts";
import type { PolicyManifest } from "../policy/PolicyManifest.ts";
import { BrokerError, Brokers, type CommandSpec, type ExecutionOutcome } from "./Broker.ts";
import { commandSpec } from "./commandSpec.ts";
import {
  EXECUTION_COMPLETED,
  EXECUTION_FAILED,
  EXECUTION_STARTED,
  ExecutionCompleted,
  ExecutionFailed,
  ExecutionStarted,
  type ExecutionFailureReason,
} from "./events.ts";

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
  /** Docker: the id of the image that ran. */
  readonly image_id?: string;
  /** Present unless status is `completed`: the operational error. */
  readonly error?: { readonly reason: ExecutionFailureReason; readonly message: string };
}

type Finished = { readonly type: typeof EXECUTION_COMPLETED; readonly data: ExecutionCompleted } | { readonly type: typeof EXECUTION_FAILED; readonly data: ExecutionFailed };

/** The response view and the closing event of a run that started. Pure. */
export function finishedRun(decisionId: string, broker: string, spec: Pick<CommandSpec, "timeoutMs">, outcome: ExecutionOutcome): { view: ExecutionView; event: Finished } {
  const run = {
    exit_code: outcome.exit_code,
    duration_ms: outcome.duration_ms,
    stdout_sha256: sha256Hex(outcome.stdout),
    stderr_sha256: sha256Hex(outcome.stderr),
    truncated: outcome.truncated,
    ...(outcome.image_id === undefined ? {} : { image_id: outcome.image_id }),
  };
  const decoder = new TextDecoder();
  const output = { broker, stdout: decoder.decode(outcome.stdout), stderr: decoder.decode(outcome.stderr), ...run };
  if (outcome.status === "completed") {
    return {
      view: { ...output, status: "completed" },
      event: { type: EXECUTION_COMPLETED, data: { decision_id: decisionId, broker, status: "completed", ...run } },
    };
  }
  const reason = outcome.status;
  const message = reason === "timeout" ? `killed at its ${spec.timeoutMs} ms timeout` : (outcome.detail ?? "killed before it exited");
  return {
    view: { ...output, status: reason === "timeout" ? "timeout" : "failed", error: { reason, message } },
    event: { type: EXECUTION_FAILED, data: { decision_id: decisionId, broker, reason, message, run } },
  };
}

/** The view of a run that never started. Pure. */
export function failedView(broker: string, reason: ExecutionFailureReason, message: string): ExecutionView {
  return {
    broker,
    status: "failed",
    exit_code: null,
    stdout: "",
    stderr: "",
    stdout_sha256: null,
    stderr_sha256: null,
    truncated: false,
    duration_ms: 0,
    error: { reason, message },
  };
}

/** What an allowed decision asks to run. */
export interface ExecutionRequest {
  readonly decisionId: string;
  /** Revision of its ActionDecided: the expected state of the stream for ExecutionStarted. */
  readonly decidedRevision: number;
  readonly actor: string;
  readonly action: string;
  readonly execute: ExecuteSpec;
  /** The manifest of the bundle that allowed the decision, whose broker rule the run keeps to (default: the active bundle's). */
  readonly manifest?: PolicyManifest;
  /** W3C `traceparent` the command sees as `TRACEPARENT`, so its own spans join the caller's trace. */
  readonly traceparent?: string;
}

/** How often runs of processes that are gone are looked for after the first time at start. */
export const REAP_INTERVAL_MS = 30_000;

export const INTERRUPTED_MESSAGE = "the control plane stopped while the command ran; the run was ended at restart and is not repeated";

export interface ExecutionServiceShape {
  /** Executes an allowed decision's command; never fails. */
  readonly execute: (request: ExecutionRequest) => Effect.Effect<ExecutionView>;
}

export class ExecutionService extends Context.Tag("zt/ExecutionService")<ExecutionService, ExecutionServiceShape>() {
  /** The service; it reaps interrupted runs in the background once it is built. */
  static readonly layer = Layer.scoped(
    ExecutionService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      const brokers = yield* Brokers;
      const policy = yield* ActivePolicy;
      const metrics = yield* Metrics;

      const append = <A, I>(decisionId: string, revision: number, type: string, schema: Schema.Schema<A, I>, data: A) =>
        Effect.gen(function* () {
          const event = { id: yield* ids.uuid, type, data: Schema.encodeSync(schema)(data) as unknown as JsonObject };
          return yield* store.append(decisionStream(decisionId), [event], { revision });
        });

      const execute = (request: ExecutionRequest): Effect.Effect<ExecutionView> => {
        const { decisionId, execute: spec } = request;
        const brokerName = spec.broker;
        return Effect.gen(function* () {
          const rule = brokerRuleFor(request.manifest ?? policy.manifest, request.actor, request.action, brokerName);
          const command = rule === undefined ? undefined : commandSpec(decisionId, spec, rule, request.traceparent);
          const started = yield* append(decisionId, request.decidedRevision, EXECUTION_STARTED, ExecutionStarted, {
            decision_id: decisionId,
            broker: brokerName,
            argv_sha256: sha256Hex(canonicalJsonTrusted(spec.command)),
            ...(command?.image === undefined ? {} : { image: command.image.ref, ...(command.image.digest === undefined ? {} : { image_digest: command.image.digest }) }),
          });

          const broker = brokers.get(brokerName);
          const finished = yield* Effect.either(
            broker === undefined
              ? Effect.fail(new BrokerError({ reason: "unavailable", message: `broker ${brokerName} is not configured in this build` }))
              : command === undefined
                ? // The decision allowed it, so a rule exists; failing closed costs nothing if that ever breaks.
                  Effect.fail(new BrokerError({ reason: "failed", message: "no broker rule of the active policy covers this run" }))
                : Effect.map(broker.run(command), (outcome) => finishedRun(decisionId, brokerName, command, outcome)),
          );

          if (finished._tag === "Left") {
            const { reason, message } = finished.left;
            yield* append(decisionId, started.revision, EXECUTION_FAILED, ExecutionFailed, { decision_id: decisionId, broker: brokerName, reason, message });
            yield* Effect.logWarning("execution failed").pipe(Effect.annotateLogs({ decision_id: decisionId, broker: brokerName, reason }));
            return failedView(brokerName, reason, message);
          }
          const { view, event } = finished.right;
          if (event.type === EXECUTION_COMPLETED) yield* append(decisionId, started.revision, EXECUTION_COMPLETED, ExecutionCompleted, event.data);
          else yield* append(decisionId, started.revision, EXECUTION_FAILED, ExecutionFailed, event.data);
          yield* Effect.logInfo("execution finished").pipe(
            Effect.annotateLogs({ decision_id: decisionId, broker: brokerName, status: view.status, exit_code: view.exit_code, duration_ms: view.duration_ms, truncated: view.truncated }),
          );
          return view;
        }).pipe(
          // Before the start is recorded nothing runs (a decision whose start is already
          // recorded does not run again); after it, the caller still learns the store
          // failed rather than getting an execution the audit trail cannot show.
          Effect.catchTag("EventStoreError", (error) =>
            Effect.logError("execution not recorded").pipe(
              Effect.annotateLogs({ decision_id: decisionId, broker: brokerName, reason: error.reason }),
              Effect.as(
                error.reason === "wrong_expected_version"
                  ? failedView(brokerName, "failed", "this decision has already started its execution; a decision runs at most once")
                  : failedView(brokerName, "failed", `the execution could not be durably recorded (${error.reason})`),
              ),
            ),
          ),
          Effect.tap((view) => Effect.sync(() => metrics.executions.inc({ broker: brokerName, outcome: view.error?.reason ?? view.status }))),
        );
      };

      /** Records `interrupted` for a reaped run whose stream still ends at its ExecutionStarted. */
      const markInterrupted = (decisionId: string) =>
        Effect.gen(function* () {
          const events = yield* store.readStream(decisionStream(decisionId));
          const last = events.at(-1);
          if (last === undefined || last.type !== EXECUTION_STARTED) return false;
          const start = Schema.decodeUnknownOption(ExecutionStarted)(last.data);
          const broker = Option.isSome(start) ? start.value.broker : "unknown";
          yield* append(decisionId, last.revision, EXECUTION_FAILED, ExecutionFailed, { decision_id: decisionId, broker, reason: "interrupted", message: INTERRUPTED_MESSAGE });
          return true;
        });

      /** Reaps runs an earlier process left behind and records them `interrupted`. Never fails. */
      const recoverInterrupted = Effect.gen(function* () {
        for (const broker of brokers.all) {
          if (broker.reap === undefined) continue;
          const reaped = yield* Effect.either(broker.reap());
          if (reaped._tag === "Left") {
            yield* Effect.logDebug("no runs reaped").pipe(Effect.annotateLogs({ broker: broker.name, reason: reaped.left.reason }));
            continue;
          }
          for (const decisionId of reaped.right) {
            const marked = yield* Effect.either(markInterrupted(decisionId));
            yield* Effect.logWarning("interrupted execution reaped").pipe(
              Effect.annotateLogs({ decision_id: decisionId, broker: broker.name, recorded: marked._tag === "Right" && marked.right }),
            );
          }
        }
      });

      // At start, and then periodically: a process sharing this data directory may die at any time.
      yield* Effect.forkScoped(recoverInterrupted.pipe(Effect.repeat(Schedule.spaced(Duration.millis(REAP_INTERVAL_MS)))));
      return { execute };
    }),
  );
}
