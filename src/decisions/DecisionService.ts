/**
 * The decision path of `POST /actions` and of the MCP gateway's calls, orchestration
 * only: parse the body (or take a call its adapter parsed), gather the facts the decider
 * needs (the permit's signature and nonce state, the trusted snapshot, the approvals of
 * the request, what its budgets' windows hold), decide (pure, decide.ts), make an allowed
 * call's budget charges, append the decider's events in one store call (a claim lost to a
 * concurrent decision, an approval's use or a permit's nonce, folds in as that claim's
 * denial), then, with the decision durable, run an allowed `execute` block. Fail closed: a
 * store that cannot record makes the answer `audit_unavailable` and nothing runs; no
 * other failure escapes.
 *
 * One decision sees one policy bundle: the bundle in force when it starts, whose hash it
 * records, even if a reload swaps it meanwhile. A candidate bundle, when configured, is
 * evaluated with the same facts after the answer is recorded, on a fiber of its own, and
 * never changes it (CandidateDisagreements records where it would have). With tracing on,
 * the stages are spans (parse, facts, decide, record, execute) under the caller's.
 */
import { setImmediate } from "node:timers";
import { Clock, Context, Effect, Layer, Option } from "effect";
import { ApprovalBook } from "../approvals/ApprovalBook.ts";
import { applicableRule, approvedRequestOf, requestDigest, rulesForCall, type ApprovalFacts } from "../approvals/approvalStage.ts";
import { BudgetLedger } from "../budgets/BudgetLedger.ts";
import { budgetsForCall } from "../budgets/budgetStage.ts";
import type { BudgetRule } from "../policy/PolicyManifest.ts";
import { EventStore, EventStoreError } from "../events/EventStore.ts";
import { ExecutionService, type ExecutionView } from "../execution/ExecutionService.ts";
import type { Principal } from "../identity/Credentials.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { formatTraceParent, parseTraceParent } from "../kernel/traceparent.ts";
import { MarketSnapshots } from "../market/MarketSnapshots.ts";
import { PermitVerifier } from "../permits/PermitVerifier.ts";
import { Ids } from "../platform/Ids.ts";
import { Logs } from "../platform/Logging.ts";
import { Metrics } from "../platform/Metrics.ts";
import { traced, Tracing } from "../platform/Tracing.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { PolicyBundle } from "../policy/PolicyBundle.ts";
import { CandidateDisagreements } from "../rollout/CandidateDisagreements.ts";
import { firstDifference } from "../rollout/disagreement.ts";
import type { ActionRequest } from "../vocabulary/ActionRequest.ts";
import type { MarketSnapshot } from "../vocabulary/MarketSnapshot.ts";
import { decide, loseClaim, type DecideAction, type Decided, type DecisionEvent, type PendingApproval } from "./decide.ts";
import type { ActionDecided } from "./events.ts";
import { parseActionRequest, type ParsedActionRequest } from "./parseActionRequest.ts";

export interface ActionBody {
  readonly bytes: Uint8Array;
  /** The body was cut off at the size limit. */
  readonly tooLarge: boolean;
}

/** What the caller's transport adds to a decision request. */
export interface DecisionContext {
  /** The W3C `traceparent` header as received (it is parsed here; one that does not parse is ignored). */
  readonly traceparent?: string | undefined;
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
  readonly decideAction: (principal: Principal, body: ActionBody, context?: DecisionContext) => Effect.Effect<DecisionOutcome>;
  /** Decides one parsed call the same way (same decider, store, budgets, metrics and audit chain); never fails. */
  readonly decideCall: (principal: Principal, call: ParsedCall, context?: DecisionContext) => Effect.Effect<DecisionOutcome>;
}

/** The facts of a call that needs none. */
const NO_FACTS = { permitFacts: undefined, market: undefined, approvals: undefined } as const;

/** How many times a call is decided again after its budget charge met another writer's. */
export const MAX_BUDGET_ATTEMPTS = 32;

export class DecisionService extends Context.Tag("zt/DecisionService")<DecisionService, DecisionServiceShape>() {
  static readonly layer = Layer.effect(
    DecisionService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const policies = yield* ActivePolicy;
      const permits = yield* PermitVerifier;
      const markets = yield* MarketSnapshots;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const executions = yield* ExecutionService;
      const logs = yield* Logs;
      const book = yield* ApprovalBook;
      const ledger = yield* BudgetLedger;
      // Optional: absent means off.
      const tracing = Option.getOrElse(yield* Effect.serviceOption(Tracing), () => ({ enabled: false }));
      const disagreements = Option.getOrUndefined(yield* Effect.serviceOption(CandidateDisagreements));

      /**
       * What the decider needs to know of approvals: the approval the request names (read
       * from its streams), or, when an approval rule applies to it, the approvals of the
       * same request by digest. Nothing is read for a request no rule applies to.
       */
      const approvalFacts = (policy: PolicyBundle, actor: string, request: ActionRequest, market: MarketSnapshot | undefined, now: number) =>
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

      /**
       * Decides, and makes an allowed call's budget charges (contract section 11): the
       * budgets' windows are read from the ledger, decided on and charged in one synchronous
       * step, so that this instance's concurrent calls see each other's charges; a charge
       * another instance beat is folded in and the call decided again. A denial for budget is
       * made only on a fresh read of the budget, after reclaiming charges whose decisions
       * were never recorded. Answers the decision, its reservation, and the inputs it was
       * decided on (for the candidate bundle).
       */
      const decideWithBudgets = (input: Omit<DecideAction, "budgets">, actor: string | undefined, rules: ReadonlyArray<BudgetRule>) =>
        Effect.gen(function* () {
          if (actor === undefined || rules.length === 0) return { decided: decide(input), reservation: undefined, input };
          let reclaimed = false;
          let refreshed = false;
          // Streams this decision already charged (a call under two budgets may win one and lose the other).
          const charged = new Set<string>();
          for (let attempt = 0; attempt < MAX_BUDGET_ATTEMPTS; attempt += 1) {
            const step = Effect.sync(() => {
              const facts = { ...input, budgets: ledger.view(rules, actor, input.now, charged.size === 0 ? undefined : input.decisionId) };
              const decided = decide(facts);
              const owed = decided.charges.filter((charge) => !charged.has(charge.stream));
              const reservation = owed.length === 0 ? undefined : ledger.reserve(input.decisionId, owed, input.now, input.policy.policyHash);
              return { decided, reservation, input: facts };
            });
            const { decided, reservation, input: decidedOn } = yield* step;
            if (decided.decision.reason === "budget_exceeded" && !refreshed) {
              // Never deny on what this instance folded alone: read what others appended and voided.
              refreshed = true;
              yield* ledger.refresh(rules, actor);
              if (!reclaimed && ledger.reclaimable(rules, actor, input.now)) {
                reclaimed = true;
                const voided = yield* ledger.reclaim(rules, actor, input.now);
                if (voided > 0) metrics.budgetReclaims.inc({}, voided);
              }
              continue;
            }
            if (reservation === undefined) return { decided, reservation: undefined, input: decidedOn };
            const settled = yield* ledger.settle(reservation);
            for (const stream of settled.charged) charged.add(stream);
            if (!settled.conflict) return { decided, reservation, input: decidedOn };
            metrics.budgetConflicts.inc();
            refreshed = false;
            yield* ledger.refresh(rules, actor);
          }
          return yield* Effect.fail(new EventStoreError({ reason: "wrong_expected_version", message: "the budget's stream kept moving under this call's charge" }));
        });

      /** Evaluates the candidate bundle with the facts the answer was decided on, after the answer, and records a disagreement. */
      const evaluateCandidate = (candidate: PolicyBundle, decidedOn: DecideAction, answered: Decided) =>
        Effect.gen(function* () {
          const parsed = decidedOn.parsed;
          const agent = parsed.ok && decidedOn.caller.role === "agent" ? { actor: decidedOn.caller.actor, request: parsed.request } : undefined;
          let { market, approvals, budgets } = decidedOn;
          if (agent !== undefined) {
            const { actor, request } = agent;
            const rules = rulesForCall(candidate.manifest, actor, request.action, request.resource);
            const candidateBudgets = budgetsForCall(candidate.manifest, actor, request.action, request.resource);
            if (market === undefined && (rules.some((rule) => rule.notional_usd_over !== undefined) || candidateBudgets.some((rule) => rule.max_notional_usd !== undefined))) market = yield* markets.current;
            if (approvals === undefined && (rules.length > 0 || request.approval_id !== undefined)) approvals = yield* approvalFacts(candidate, actor, request, market, decidedOn.now);
            // This call's own charge is not in the window it was decided on.
            if (candidateBudgets.length > 0) budgets = ledger.view(candidateBudgets, actor, decidedOn.now, decidedOn.decisionId);
          }
          const evaluated = decide({ ...decidedOn, policy: candidate, market, approvals, budgets }).decision;
          const answer = answered.decision;
          const difference = firstDifference(answer, evaluated);
          if (difference === undefined) return;
          const request = answer.request;
          disagreements?.record({
            decision_id: answer.decision_id,
            decided_at: answer.decided_at,
            actor: answer.actor,
            action: request?.action ?? null,
            resource: request?.resource ?? null,
            check: difference.check,
            active: { policy_id: answer.policy_id, policy_hash: answer.policy_hash, status: answer.status, reason: answer.reason, check_ok: difference.activeOk },
            candidate: { policy_id: evaluated.policy_id, policy_hash: evaluated.policy_hash, status: evaluated.status, reason: evaluated.reason, check_ok: difference.candidateOk },
          });
        }).pipe(Effect.catchAll((error) => Effect.sync(() => logs.write("warn", "candidate policy not evaluated", { decision_id: answered.decision.decision_id, reason: error.reason }))));

      /** Runs the candidate's evaluation once the answer has gone out (the next turn of the event loop), never in its way. */
      const besideTheAnswer = (candidate: PolicyBundle, decidedOn: DecideAction, answered: Decided) =>
        Effect.sync(() => setImmediate(() => Effect.runFork(evaluateCandidate(candidate, decidedOn, answered))));

      const decideParsed = (principal: Principal, requestSha256: string, parse: () => ParsedActionRequest, context: DecisionContext | undefined): Effect.Effect<DecisionOutcome> =>
        Effect.gen(function* () {
          const started = performance.now();
          const now = yield* Clock.currentTimeMillis;
          const decisionId = `dec_${yield* ids.ulid(now)}`;
          // One bundle for the whole decision, whatever a reload does meanwhile.
          const policy = policies.current();
          const candidate = policies.candidate();
          const caller = parseTraceParent(context?.traceparent);
          return yield* Effect.gen(function* () {
            // Without tracing, a stage with nothing to wait for runs as plain code, not as an
            // Effect of its own: tracing off costs the path nothing.
            const parsed = tracing.enabled ? yield* traced(tracing, "zt.parse", Effect.sync(parse)) : parse();
            // Facts only where the decider can reach the checks that read them: an agent's
            // permit, the prices of a notional limit, an approval threshold or a notional
            // budget, approvals.
            const agent = parsed.ok && principal.role === "agent" ? { actor: principal.actor, request: parsed.request } : undefined;
            const permit = agent?.request.permit;
            const rules = agent === undefined ? [] : rulesForCall(policy.manifest, agent.actor, agent.request.action, agent.request.resource);
            const budgets = agent === undefined ? [] : budgetsForCall(policy.manifest, agent.actor, agent.request.action, agent.request.resource);
            const needsPrices =
              permit?.constraints.max_notional_usd !== undefined || rules.some((rule) => rule.notional_usd_over !== undefined) || budgets.some((rule) => rule.max_notional_usd !== undefined);
            const needsApprovals = agent !== undefined && (rules.length > 0 || agent.request.approval_id !== undefined);
            const gather = Effect.gen(function* () {
              const permitFacts = permit === undefined ? undefined : yield* permits.factsOf(permit);
              const market = needsPrices ? yield* markets.current : undefined;
              const approvals = needsApprovals ? yield* approvalFacts(policy, agent.actor, agent.request, market, now) : undefined;
              return { permitFacts, market, approvals };
            });
            const { permitFacts, market, approvals } = permit !== undefined || needsPrices || needsApprovals || tracing.enabled ? yield* traced(tracing, "zt.facts", gather) : NO_FACTS;
            const input = { decisionId, now, caller: principal, bodySha256: requestSha256, parsed, policy, permitFacts, market, approvals, traceparent: caller?.header };
            const { decided, reservation, input: decidedOn } =
              budgets.length > 0 || tracing.enabled ? yield* traced(tracing, "zt.decide", decideWithBudgets(input, agent?.actor, budgets)) : { decided: decide(input), reservation: undefined, input };
            const { decided: recorded, revision, position } = yield* traced(tracing, "zt.record", record(decided));
            if (reservation !== undefined) ledger.recorded(reservation);
            const decision = recorded.decision;
            metrics.decisions.inc({ status: decision.status, reason: decision.reason ?? "none" });
            metrics.decisionLatency.observe((performance.now() - started) / 1000);
            logs.write("info", "decision recorded", { ...logFields(decision), position });
            if (candidate !== undefined) yield* besideTheAnswer(candidate, decidedOn, recorded);
            if (recorded.pending !== null) return { _tag: "PendingApproval", decided: recorded, approval: recorded.pending } as const;
            // Only now, with the decision durable, may anything run.
            const allowed = decision.status === "allowed" && parsed.ok ? parsed.request : undefined;
            if (allowed?.execute === undefined) return { _tag: "Decided", decided: recorded, revision, execution: null } as const;
            const execute = allowed.execute;
            const execution = yield* traced(
              tracing,
              "zt.execute",
              Effect.gen(function* () {
                // The command joins the trace: under this span when tracing, else under the caller's.
                const span = tracing.enabled ? Option.getOrUndefined(yield* Effect.option(Effect.currentSpan)) : undefined;
                const traceparent = span === undefined ? caller?.header : formatTraceParent(span.traceId, span.spanId, span.sampled);
                return yield* executions.execute({
                  decisionId,
                  decidedRevision: revision,
                  actor: decision.actor,
                  action: allowed.action,
                  execute,
                  manifest: policy.manifest,
                  ...(traceparent === undefined ? {} : { traceparent }),
                });
              }),
            );
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
        decideAction: (principal, body, context) => decideParsed(principal, sha256Hex(body.bytes), () => parseActionRequest(body.bytes, body.tooLarge), context),
        decideCall: (principal, call, context) => decideParsed(principal, call.requestSha256, () => call.parsed, context),
      };
    }),
  );
}

/** What a recorded decision's log line says: ids, outcome and where, never request values. */
function logFields(decision: ActionDecided): Record<string, unknown> {
  return { decision_id: decision.decision_id, actor: decision.actor, action: decision.request?.action ?? null, status: decision.status, reason: decision.reason, approval_id: decision.approval_id ?? null, policy_hash: decision.policy_hash };
}
