/**
 * The decision path of `POST /actions` and of the MCP gateway's calls, orchestration
 * only: parse the body (or take a call its adapter parsed), gather the facts the decider
 * needs (the permit's signature and nonce state, the trusted snapshot), decide (pure,
 * decide.ts), append the decider's events in order (a nonce lost to a concurrent
 * decision folds in as a replay denial), then, with the decision durable, run an allowed
 * `execute` block. Fail closed: a store that cannot record makes the answer
 * `audit_unavailable` and nothing runs; no other failure escapes.
 */
import { Clock, Context, Effect, Layer } from "effect";
import { EventStore, type EventStoreError } from "../events/EventStore.ts";
import { ExecutionService, type ExecutionView } from "../execution/ExecutionService.ts";
import type { Principal } from "../identity/Credentials.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { MarketSnapshots } from "../market/MarketSnapshots.ts";
import { PermitVerifier } from "../permits/PermitVerifier.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics } from "../platform/Metrics.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import { decide, loseNonceRace, type Decided, type DecisionEvent } from "./decide.ts";
import type { ActionDecided } from "./events.ts";
import { parseActionRequest, type ParsedActionRequest } from "./parseActionRequest.ts";

export interface ActionBody {
  readonly bytes: Uint8Array;
  /** The body was cut off at the size limit. */
  readonly tooLarge: boolean;
}

/**
 * A request an adapter other than `POST /actions` already turned into the decider's
 * terms (the MCP gateway's calls): the parsed request, and the sha256 that names what
 * was asked (recorded as `request_sha256`).
 */
export interface ParsedCall {
  readonly requestSha256: string;
  readonly parsed: ParsedActionRequest;
}

/**
 * What a call came to: a recorded decision (with the revision of its ActionDecided in the
 * decision's stream, where later events of the call go, and its run), or a decision the
 * store could not record.
 */
export type DecisionOutcome =
  | { readonly recorded: true; readonly decided: Decided; readonly revision: number; readonly execution: ExecutionView | null }
  | { readonly recorded: false; readonly decisionId: string; readonly reason: EventStoreError["reason"] };

export interface DecisionServiceShape {
  /** Decides one `POST /actions` call and records it before answering; never fails. */
  readonly decideAction: (principal: Principal, body: ActionBody) => Effect.Effect<DecisionOutcome>;
  /** Decides one parsed call the same way (same decider, store, metrics and audit chain); never fails. */
  readonly decideCall: (principal: Principal, call: ParsedCall) => Effect.Effect<DecisionOutcome>;
}

export class DecisionService extends Context.Tag("zt/DecisionService")<DecisionService, DecisionServiceShape>() {
  static readonly layer = Layer.effect(
    DecisionService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const policy = yield* ActivePolicy;
      const permits = yield* PermitVerifier;
      const markets = yield* MarketSnapshots;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const executions = yield* ExecutionService;

      const append = (event: DecisionEvent) =>
        Effect.gen(function* () {
          const started = performance.now();
          const appended = yield* store.append(event.stream, [{ id: yield* ids.uuid, type: event.type, data: event.data }], event.expected).pipe(
            Effect.tapError((error) => Effect.sync(() => metrics.storeFailures.inc({ operation: "append", reason: error.reason }))),
          );
          metrics.appendLatency.observe((performance.now() - started) / 1000);
          return appended;
        });

      /**
       * Appends the decider's events in order: the nonce first, when the decision spends
       * one (a concurrent decision that won it turns this one into a replay denial), then
       * the decision itself.
       */
      const record = (decided: Decided) =>
        Effect.gen(function* () {
          let final = decided;
          for (const event of decided.events.slice(0, -1)) {
            const won = yield* append(event).pipe(
              Effect.as(true),
              Effect.catchIf((error) => error.reason === "wrong_expected_version", () => Effect.succeed(false)),
            );
            if (!won) final = loseNonceRace(decided);
          }
          const appended = yield* append(final.events.at(-1)!);
          return { decided: final, ...appended };
        });

      const decideParsed = (principal: Principal, requestSha256: string, parse: () => ParsedActionRequest): Effect.Effect<DecisionOutcome> =>
        Effect.gen(function* () {
          const started = performance.now();
          const now = yield* Clock.currentTimeMillis;
          const decisionId = `dec_${yield* ids.ulid(now)}`;
          return yield* Effect.gen(function* () {
            const parsed = parse();
            // Facts only where the decider can reach the checks that read them: an agent's permit, a notional limit's prices.
            const permit = parsed.ok && principal.role === "agent" ? parsed.request.permit : undefined;
            const permitFacts = permit === undefined ? undefined : yield* permits.factsOf(permit);
            const market = permit?.constraints.max_notional_usd === undefined ? undefined : yield* markets.current;
            const decided = decide({ decisionId, now, caller: principal, bodySha256: requestSha256, parsed, policy, permitFacts, market });
            const { decided: recorded, revision, position } = yield* record(decided);
            const decision = recorded.decision;
            metrics.decisions.inc({ status: decision.status, reason: decision.reason ?? "none" });
            metrics.decisionLatency.observe((performance.now() - started) / 1000);
            yield* Effect.logInfo("decision recorded").pipe(Effect.annotateLogs({ ...logFields(decision), position }));
            // Only now, with the decision durable, may anything run.
            const allowed = decision.status === "allowed" && parsed.ok ? parsed.request : undefined;
            const execution =
              allowed?.execute === undefined
                ? null
                : yield* executions.execute({ decisionId, decidedRevision: revision, actor: decision.actor, action: allowed.action, execute: allowed.execute });
            return { recorded: true, decided: recorded, revision, execution } as const;
          }).pipe(
            Effect.catchTag("EventStoreError", (error) =>
              Effect.gen(function* () {
                metrics.decisions.inc({ status: "denied", reason: "audit_unavailable" });
                yield* Effect.logError("decision not recorded: event store unavailable").pipe(Effect.annotateLogs({ decision_id: decisionId, reason: error.reason }));
                return { recorded: false, decisionId, reason: error.reason } as const;
              }),
            ),
          );
        });

      return {
        decideAction: (principal, body) => decideParsed(principal, sha256Hex(body.bytes), () => parseActionRequest(body.bytes, body.tooLarge)),
        decideCall: (principal, call) => decideParsed(principal, call.requestSha256, () => call.parsed),
      };
    }),
  );
}

/** What a recorded decision's log line says: ids, outcome and where, never request values. */
function logFields(decision: ActionDecided): Record<string, unknown> {
  return { decision_id: decision.decision_id, actor: decision.actor, action: decision.request?.action ?? null, status: decision.status, reason: decision.reason };
}
