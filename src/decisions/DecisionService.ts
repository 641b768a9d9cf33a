/**
 * The decision path of `POST /actions` and of the MCP gateway's calls, orchestration
 * only: parse the body (or take a call its adapter parsed), gather the facts the decider
 * needs (the permit's signature and nonce state, the trusted snapshot, the approvals of
 * the request), decide (pure, decide.ts), append the decider's events in one store call
 * (a claim lost to a concurrent decision, an approval's use or a permit's nonce, folds in
 * as that claim's denial), then, with the decision durable, run an allowed `execute`
 * block. Fail closed: a store that cannot record makes the answer
 * `audit_unavailable` and nothing runs; no other failure escapes.
 */
import { Clock, Context, Effect, Layer } from "effect";
import { ApprovalBook } from "../approvals/ApprovalBook.ts";
import { applicableRule, approvedRequestOf, requestDigest, rulesForCall, type ApprovalFacts } from "../approvals/approvalStage.ts";
import { EventStore, type EventStoreError } from "../events/EventStore.ts";
import { ExecutionService, type ExecutionView } from "../execution/ExecutionService.ts";
import type { Principal } from "../identity/Credentials.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { MarketSnapshots } from "../market/MarketSnapshots.ts";
import { PermitVerifier } from "../permits/PermitVerifier.ts";
import { Ids } from "../platform/Ids.ts";
import { Logs } from "../platform/Logging.ts";
import { Metrics } from "../platform/Metrics.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { decide, loseClaim, type Decided, type DecisionEvent, type PendingApproval } from "./decide.ts";
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
 * What a decision request came to: a recorded allow or denial (with the revision of its
 * ActionDecided in the decision's stream, where later events of the call go, and its
 * run), a recorded decision that waits for human approval (contract section 9: nothing
 * ran, nothing was consumed; the caller repeats the identical request once operators
 * grant it), or a decision the store could not record. A caller matches on `_tag`
 * exhaustively.
 */
export type DecisionOutcome =
  | { readonly _tag: "Decided"; readonly decided: Decided; readonly revision: number; readonly execution: ExecutionView | null }
  | { readonly _tag: "PendingApproval"; readonly decided: Decided; readonly approval: PendingApproval }
  | { readonly _tag: "Unrecorded"; readonly decisionId: string; readonly reason: EventStoreError["reason"] };

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
      const logs = yield* Logs;
      const book = yield* ApprovalBook;

      /**
       * What the decider needs to know of approvals: the approval the request names (read
       * from its streams), or, when an approval rule applies to it, the approvals of the
       * same request by digest. Nothing is read for a request no rule applies to.
       */
      const approvalFacts = (actor: string, request: ActionRequest, market: MarketSnapshot | undefined, now: number) =>
        Effect.gen(function* () {
          const named = request.approval_id;
          const rule = named === undefined ? applicableRule({ manifest: policy.manifest, actor, request, notionalUsd: null, market, now }) : undefined;
          if (named === undefined && (rule === undefined || "reason" in rule || rule.rule === undefined)) return undefined;
          const digest = requestDigest(approvedRequestOf(request));
          if (named !== undefined) return { digest, presented: yield* book.read(named), sameRequest: [] } satisfies ApprovalFacts;
          return { digest, presented: undefined, sameRequest: yield* book.forDigest(digest) } satisfies ApprovalFacts;
        });

      /** Appends events in one store call (one commit and one sync on SQLite), timed and counted. */
      const appendAll = (events: ReadonlyArray<DecisionEvent>) =>
        Effect.gen(function* () {
          const started = performance.now();
          const appends = [];
          for (const event of events) appends.push({ stream: event.stream, events: [{ id: yield* ids.uuid, type: event.type, data: event.data }], expected: event.expected });
          const appended = yield* store.appendMany(appends).pipe(
            Effect.tapError((error) => Effect.sync(() => metrics.storeFailures.inc({ operation: "append", reason: error.reason }))),
          );
          metrics.appendLatency.observe((performance.now() - started) / 1000);
          return appended.at(-1)!;
        });

      /**
       * Appends the decider's events together: its claims (the approval it uses, the nonce
       * it spends) or a new approval request, then the decision itself. A claim refused
       * because a concurrent decision won it turns this one into that claim's denial, and
       * only that denial is appended (on SQLite nothing else was written; on EventStoreDB
       * the claims before it stay, as the port says).
       */
      const record = (decided: Decided) =>
        Effect.gen(function* () {
          const together = yield* appendAll(decided.events).pipe(Effect.either);
          if (together._tag === "Right") return { decided, ...together.right };
          const error = together.left;
          const lost = error.reason === "wrong_expected_version" ? decided.events.find((event) => event.claim !== undefined && event.stream === error.stream) : undefined;
          if (lost === undefined) return yield* Effect.fail(error);
          const final = loseClaim(decided, lost);
          return { decided: final, ...(yield* appendAll([final.events.at(-1)!])) };
        });

      const decideParsed = (principal: Principal, requestSha256: string, parse: () => ParsedActionRequest): Effect.Effect<DecisionOutcome> =>
        Effect.gen(function* () {
          const started = performance.now();
          const now = yield* Clock.currentTimeMillis;
          const decisionId = `dec_${yield* ids.ulid(now)}`;
          return yield* Effect.gen(function* () {
            const parsed = parse();
            // Facts only where the decider can reach the checks that read them: an agent's
            // permit, the prices of a notional limit or an approval threshold, approvals.
            const agent = parsed.ok && principal.role === "agent" ? { actor: principal.actor, request: parsed.request } : undefined;
            const permit = agent?.request.permit;
            const permitFacts = permit === undefined ? undefined : yield* permits.factsOf(permit);
            const rules = agent === undefined ? [] : rulesForCall(policy.manifest, agent.actor, agent.request.action, agent.request.resource);
            const needsPrices = permit?.constraints.max_notional_usd !== undefined || rules.some((rule) => rule.notional_usd_over !== undefined);
            const market = needsPrices ? yield* markets.current : undefined;
            const approvals = agent === undefined || (rules.length === 0 && agent.request.approval_id === undefined) ? undefined : yield* approvalFacts(agent.actor, agent.request, market, now);
            const decided = decide({ decisionId, now, caller: principal, bodySha256: requestSha256, parsed, policy, permitFacts, market, approvals });
            const { decided: recorded, revision, position } = yield* record(decided);
            const decision = recorded.decision;
            metrics.decisions.inc({ status: decision.status, reason: decision.reason ?? "none" });
            metrics.decisionLatency.observe((performance.now() - started) / 1000);
            logs.write("info", "decision recorded", { ...logFields(decision), position });
            if (recorded.pending !== null) return { _tag: "PendingApproval", decided: recorded, approval: recorded.pending } as const;
            // Only now, with the decision durable, may anything run.
            const allowed = decision.status === "allowed" && parsed.ok ? parsed.request : undefined;
            const execution =
              allowed?.execute === undefined
                ? null
                : yield* executions.execute({ decisionId, decidedRevision: revision, actor: decision.actor, action: allowed.action, execute: allowed.execute });
            return { _tag: "Decided", decided: recorded, revision, execution } as const;
          }).pipe(
            Effect.catchTag("EventStoreError", (error) =>
              Effect.gen(function* () {
                metrics.decisions.inc({ status: "denied", reason: "audit_unavailable" });
                logs.write("error", "decision not recorded: event store unavailable", { decision_id: decisionId, reason: error.reason });
                return { _tag: "Unrecorded", decisionId, reason: error.reason } as const;
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
  return { decision_id: decision.decision_id, actor: decision.actor, action: decision.request?.action ?? null, status: decision.status, reason: decision.reason, approval_id: decision.approval_id ?? null };
}
