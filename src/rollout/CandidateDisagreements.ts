/**
 * Records where the candidate bundle would have answered otherwise (contract section 11),
 * off the decision path: `record` counts the disagreement at once
 * (`zt_policy_candidate_disagreements_total`) and queues its event; a background fiber
 * appends what is queued in batches to the candidate's stream. The queue is bounded: what
 * does not fit, or what the store refuses, is counted as lost and logged, never retried
 * on the decision path and never allowed to slow or change an answer.
 */
import { Context, Effect, Layer, Queue } from "effect";
import { EventStore, type JsonObject } from "../events/EventStore.ts";
import { Ids } from "../platform/Ids.ts";
import { Logs } from "../platform/Logging.ts";
import { Metrics } from "../platform/Metrics.ts";
import { outcomeLabel } from "./disagreement.ts";
import { candidateStream, POLICY_CANDIDATE_DISAGREED, type PolicyCandidateDisagreed } from "./events.ts";

/** Disagreements waiting for their append at most. */
export const MAX_QUEUED_DISAGREEMENTS = 10_000;
const BATCH = 500;

export interface CandidateDisagreementsShape {
  /** Counts one disagreement and queues its event; never fails, never waits. */
  readonly record: (disagreement: PolicyCandidateDisagreed) => void;
}

export class CandidateDisagreements extends Context.Tag("zt/CandidateDisagreements")<CandidateDisagreements, CandidateDisagreementsShape>() {
  static readonly layer: Layer.Layer<CandidateDisagreements, never, EventStore | Ids | Metrics | Logs> = Layer.scoped(
    CandidateDisagreements,
    Effect.gen(function* () {
      const store = yield* EventStore;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const logs = yield* Logs;
      const queue = yield* Queue.dropping<PolicyCandidateDisagreed>(MAX_QUEUED_DISAGREEMENTS);

      const appendBatch = Effect.gen(function* () {
        const batch = yield* Queue.takeBetween(queue, 1, BATCH);
        const byStream = new Map<string, PolicyCandidateDisagreed[]>();
        for (const disagreement of batch) {
          const stream = candidateStream(disagreement.candidate.policy_hash);
          byStream.set(stream, [...(byStream.get(stream) ?? []), disagreement]);
        }
        for (const [stream, disagreements] of byStream) {
          const events = [];
          for (const disagreement of disagreements) events.push({ id: yield* ids.uuid, type: POLICY_CANDIDATE_DISAGREED, data: disagreement as unknown as JsonObject });
          yield* store.append(stream, events, "any").pipe(
            Effect.catchAll((error) =>
              Effect.sync(() => {
                metrics.candidateEventsLost.inc({}, disagreements.length);
                logs.write("warn", "candidate disagreements not recorded", { count: disagreements.length, reason: error.reason });
              }),
            ),
          );
        }
      });
      yield* Effect.forkScoped(Effect.forever(appendBatch));

      return {
        record: (disagreement) => {
          metrics.candidateDisagreements.inc({ check: disagreement.check, active: outcomeLabel(disagreement.active), candidate: outcomeLabel(disagreement.candidate) });
          if (!Queue.unsafeOffer(queue, disagreement)) metrics.candidateEventsLost.inc();
        },
      };
    }),
  );
}
