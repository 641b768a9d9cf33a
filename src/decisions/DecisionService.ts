/**
 * The protected decision path of `POST /actions` as an Effect pipeline:
 * parse -> gather facts (permit signature, nonce state, market snapshot, clock) ->
 * decide (pure) -> consume the nonce atomically -> record `ActionDecided.v1` durably ->
 * run an allowed `execute` block through its broker (ExecutionService) -> answer. Fail closed: when the store cannot record, the answer is
 * `503 audit_unavailable` and nothing may run; no other failure escapes.
 */
import { Clock, Context, Effect, Layer, Schema } from "effect";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { decodeSignature, makeWebCryptoVerifier } from "../kernel/ed25519.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { formatRfc3339Millis } from "../kernel/timestamp.ts";
import { EventStore, type EventStoreError, type JsonObject } from "../events/EventStore.ts";
import type { Principal } from "../identity/Credentials.ts";
import { Identity } from "../identity/Identity.ts";
import { MarketSnapshots } from "../market/MarketSnapshots.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import { NONCE_CONSUMED, NonceConsumed, nonceStream, unsignedPart, type Permit } from "../permits/Permit.ts";
import type { PermitFacts } from "../permits/verifyPermit.ts";
import { ExecutionService, type ExecutionView } from "../execution/ExecutionService.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics } from "../platform/Metrics.ts";
import type { InvariantCheck } from "./Check.ts";
import { decide, settleNonce, type Verdict } from "./decide.ts";
import { httpStatusOf } from "./DenyReason.ts";
import { ACTION_DECIDED, ActionDecided, decisionStream } from "./events.ts";
import { parseActionRequest, type RequestProblem } from "./parseActionRequest.ts";
import { receiptHash } from "./receipt.ts";

export interface ActionBody {
  readonly bytes: Uint8Array;
  /** The body was cut off at the size limit. */
  readonly tooLarge: boolean;
}

export interface DecisionAnswer {
  readonly httpStatus: 200 | 400 | 403 | 413 | 503;
  readonly body: Record<string, unknown>;
  readonly record: ActionDecided | undefined;
}

/** The public view of a recorded decision (the `POST /actions` response shape). */
export function decisionView(record: ActionDecided, execution: ExecutionView | null = null): Record<string, unknown> {
  return {
    decision_id: record.decision_id,
    status: record.status,
    reason: record.reason,
    detail: record.detail,
    invariant_checks: record.invariant_checks,
    policy_id: record.policy_id,
    policy_hash: record.policy_hash,
    permit_id: record.permit_id,
    intent_hash: record.intent_hash,
    receipt_hash: record.receipt_hash,
    notional_usd: record.notional_usd,
    decided_at: record.decided_at,
    execution,
  };
}

function auditUnavailable(error: EventStoreError, decisionId: string): DecisionAnswer {
  return {
    httpStatus: 503,
    body: {
      decision_id: decisionId,
      status: "denied",
      reason: "audit_unavailable",
      detail: `the decision could not be durably recorded (${error.reason}); nothing runs`,
      execution: null,
    },
    record: undefined,
  };
}

export interface DecisionServiceShape {
  /** Decides one `POST /actions` call and records it before answering; never fails. */
  readonly decideAction: (principal: Principal, body: ActionBody) => Effect.Effect<DecisionAnswer>;
}

export class DecisionService extends Context.Tag("zt/DecisionService")<DecisionService, DecisionServiceShape>() {
  static readonly layer = Layer.effect(
    DecisionService,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const policy = yield* ActivePolicy;
      const identity = yield* Identity;
      const markets = yield* MarketSnapshots;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const executions = yield* ExecutionService;
      const verifySignature = makeWebCryptoVerifier();

      const timedAppend = (...args: Parameters<typeof store.append>) =>
        Effect.gen(function* () {
          const started = performance.now();
          const result = yield* store.append(...args).pipe(
            Effect.tapError((error) => Effect.sync(() => metrics.storeFailures.inc({ operation: "append", reason: error.reason }))),
          );
          metrics.appendLatency.observe((performance.now() - started) / 1000);
          return result;
        });

      const permitFacts = (permit: Permit): Effect.Effect<PermitFacts, EventStoreError> =>
        Effect.gen(function* () {
          // The read only names a replay early; the atomic no_stream append in consumeNonce
          // is what guarantees single use, however requests interleave around the await below.
          const consumed = yield* store.readStream(nonceStream(permit.nonce), { limit: 1 });
          const issuer = identity.trustedIssuers.get(permit.key_id);
          const signature = decodeSignature(permit.signature);
          const message = new TextEncoder().encode(canonicalJsonTrusted(unsignedPart(permit)));
          const signatureValid =
            issuer !== undefined && signature !== undefined
              ? yield* Effect.promise(() => verifySignature(signature, message, issuer.publicKey))
              : false;
          return { issuerTrusted: issuer !== undefined, signatureValid, nonceSeen: consumed.length > 0 };
        });

      const consumeNonce = (verdict: Verdict, decisionId: string, permit: Permit | undefined, decidedAt: string) =>
        Effect.gen(function* () {
          if (verdict.nonceToConsume === null || permit === undefined) return verdict;
          const eventId = yield* ids.uuid;
          const consumed = yield* timedAppend(
            nonceStream(verdict.nonceToConsume),
            [
              {
                id: eventId,
                type: NONCE_CONSUMED,
                data: Schema.encodeSync(NonceConsumed)({
                  nonce: permit.nonce,
                  permit_id: permit.permit_id,
                  key_id: permit.key_id,
                  decision_id: decisionId,
                  consumed_at: decidedAt,
                }) as unknown as JsonObject,
              },
            ],
            "no_stream",
          ).pipe(
            Effect.as(true),
            Effect.catchIf((error) => error.reason === "wrong_expected_version", () => Effect.succeed(false)),
          );
          return settleNonce(verdict, consumed);
        });

      const record = (decision: ActionDecided) =>
        Effect.gen(function* () {
          const eventId = yield* ids.uuid;
          const data = Schema.encodeSync(ActionDecided)(decision) as unknown as JsonObject;
          const appended = yield* timedAppend(decisionStream(decision.decision_id), [{ id: eventId, type: ACTION_DECIDED, data }], "no_stream");
          return appended;
        });

      const decideAction = (principal: Principal, body: ActionBody): Effect.Effect<DecisionAnswer> =>
        Effect.gen(function* () {
          const started = performance.now();
          const now = yield* Clock.currentTimeMillis;
          const decisionId = `dec_${yield* ids.ulid(now)}`;
          return yield* decideAndRecord(principal, body, started, now, decisionId).pipe(
            Effect.catchTag("EventStoreError", (error) =>
              Effect.gen(function* () {
                metrics.decisions.inc({ status: "denied", reason: "audit_unavailable" });
                yield* Effect.logError("decision not recorded: event store unavailable").pipe(
                  Effect.annotateLogs({ decision_id: decisionId, reason: error.reason }),
                );
                return auditUnavailable(error, decisionId);
              }),
            ),
          );
        });

      const decideAndRecord = (principal: Principal, body: ActionBody, started: number, now: number, decisionId: string) =>
        Effect.gen(function* () {
          const decidedAt = formatRfc3339Millis(now);
          const actor = principal.role === "agent" ? principal.actor : "operator";
          const parsed = parseActionRequest(body.bytes, body.tooLarge);

          const base = {
            decision_id: decisionId,
            policy_id: policy.policyId,
            policy_hash: policy.policyHash,
            decided_at: decidedAt,
            actor,
            request_sha256: sha256Hex(body.bytes),
          };
          const receipt = (status: "allowed" | "denied", checks: ReadonlyArray<InvariantCheck>, permitId: string | null, intentHash: string | null) =>
            receiptFields(policy.policyId, permitId, intentHash, status, checks, decidedAt);

          let decision: ActionDecided;
          let problems: ReadonlyArray<RequestProblem> = [];
          if (!parsed.ok) {
            problems = parsed.problems;
            const checks = [{ name: "request_schema", ok: false }];
            decision = {
              ...base,
              status: "denied",
              reason: "malformed_request",
              // Paths only: schema messages can echo request values, which are kept as a hash alone.
              detail: `request is not acceptable at ${[...new Set(problems.map((p) => p.path))].join(", ")}`,
              invariant_checks: checks,
              permit_id: null,
              intent_hash: null,
              receipt_hash: receipt("denied", checks, null, null),
              request: null,
              request_errors: problems.map(({ path, kind }) => ({ path, kind })),
              permit: null,
              notional_usd: null,
              determining_policies: [],
              http_status: body.tooLarge ? 413 : 400,
            };
          } else {
            const { request, intentHash } = parsed;
            const permit = request.permit;
            const facts = permit === undefined ? undefined : yield* permitFacts(permit);
            // Only a notional limit needs prices; other decisions never touch the snapshot.
            const market = permit?.constraints.max_notional_usd === undefined ? undefined : yield* markets.current;
            let verdict =
              principal.role === "operator"
                ? operatorMayNotAct()
                : decide({ authenticatedActor: actor, request, policy, permitFacts: facts, market, now });
            verdict = yield* consumeNonce(verdict, decisionId, permit, decidedAt);
            const { permit: _permit, ...requestWithoutPermit } = request;
            const checks = verdict.checks;
            decision = {
              ...base,
              status: verdict.status,
              reason: verdict.reason,
              detail: verdict.detail,
              invariant_checks: checks,
              permit_id: permit?.permit_id ?? null,
              intent_hash: intentHash,
              receipt_hash: receipt(verdict.status, checks, permit?.permit_id ?? null, intentHash),
              request: requestWithoutPermit,
              permit: permit === undefined ? null : (unsignedPart(permit) as unknown),
              notional_usd: verdict.notionalUsd,
              determining_policies: verdict.determiningPolicies,
              http_status: httpStatusOf(verdict.reason),
            };
          }

          const { position, revision } = yield* record(decision);
          metrics.decisions.inc({ status: decision.status, reason: decision.reason ?? "none" });
          metrics.decisionLatency.observe((performance.now() - started) / 1000);
          yield* Effect.logInfo("decision recorded").pipe(
            Effect.annotateLogs({
              decision_id: decisionId,
              actor,
              action: decision.request?.action ?? null,
              status: decision.status,
              reason: decision.reason,
              position,
            }),
          );
          // Only now, with the decision durable, may anything run.
          const allowed = decision.status === "allowed" && parsed.ok ? parsed.request : undefined;
          const execute = allowed?.execute;
          const execution =
            allowed === undefined || execute === undefined
              ? null
              : yield* executions.execute({ decisionId, decidedRevision: revision, actor, action: allowed.action, execute });
          const view = decisionView(decision, execution);
          const answer: DecisionAnswer = {
            httpStatus: decision.http_status as DecisionAnswer["httpStatus"],
            body: problems.length > 0 ? { ...view, errors: problems } : view,
            record: decision,
          };
          return answer;
        });

      return { decideAction };
    }),
  );
}

function operatorMayNotAct(): Verdict {
  return {
    status: "denied",
    reason: "actor_mismatch",
    detail: "the operator token may not post actions",
    checks: [{ name: "actor_binding", ok: false }],
    notionalUsd: null,
    determiningPolicies: [],
    nonceToConsume: null,
  };
}

function receiptFields(
  policyId: string,
  permitId: string | null,
  intentHash: string | null,
  decision: "allowed" | "denied",
  checks: ReadonlyArray<InvariantCheck>,
  timestamp: string,
): string {
  return receiptHash({ policy_id: policyId, permit_id: permitId, intent_hash: intentHash, decision, invariant_checks: checks, timestamp });
}
