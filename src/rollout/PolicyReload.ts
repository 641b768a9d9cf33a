/**
 * Policy changes without a restart (contract section 11): `reload` reads and compiles the
 * bundle directory again (and the candidate's, when one is configured), and only when
 * both compile records `PolicyActivated.v1` and puts them in force at once. A bundle that
 * does not compile is refused with every problem by file and line, and the bundles in
 * force stay; a reload that finds the same bundles changes nothing and records nothing.
 * The event is appended before the swap, so every decision made under the new bundle
 * comes after its activation in the log; a store that cannot record it refuses the reload.
 * Reloads run one at a time. At startup, the bundles are recorded the same way when they
 * differ from the last activation in the log.
 */
import { Clock, Context, Effect, Layer, Schema } from "effect";
import { EventStore, type EventStoreError, type JsonObject, type RecordedEvent } from "../events/EventStore.ts";
import { formatRfc3339Millis } from "../kernel/timestamp.ts";
import { Ids } from "../platform/Ids.ts";
import { Logs } from "../platform/Logging.ts";
import { Metrics } from "../platform/Metrics.ts";
import { ActivePolicy, loadPolicyBundle, PolicyLoadError } from "../policy/ActivePolicy.ts";
import { MCP_SERVERS_FILE } from "../policy/McpServers.ts";
import type { PolicyBundle } from "../policy/PolicyBundle.ts";
import { POLICY_ACTIVATED, POLICY_ACTIVATIONS_STREAM, PolicyActivated } from "./events.ts";

export type ReloadTrigger = { readonly kind: "reload"; readonly operator: string } | { readonly kind: "signal" };

/** What a reload did: put new bundles in force, or found nothing changed. */
export interface ReloadResult {
  readonly status: "activated" | "unchanged";
  readonly policy_id: string;
  readonly policy_hash: string;
  readonly previous_policy_hash: string;
  readonly candidate_policy_hash: string | null;
  readonly activated_at: string | null;
}

export interface PolicyReloadShape {
  /** Validates and puts in force the bundles on disk; fails with the bundle's problems, or when the activation cannot be recorded. */
  readonly reload: (trigger: ReloadTrigger) => Effect.Effect<ReloadResult, PolicyLoadError | EventStoreError>;
}

const PAGE = 1000;

/** The bundles an activation replaces (nulls when none was recorded). */
interface Previous {
  readonly policyId: string | null;
  readonly policyHash: string | null;
  readonly candidatePolicyHash: string | null;
}
const decodeActivation = Schema.decodeUnknownOption(PolicyActivated);

/** The last activation recorded, and the stream's revision (-1 when it has none). */
const lastActivation = (store: EventStore["Type"]) =>
  Effect.gen(function* () {
    let last: RecordedEvent | undefined;
    for (let from = 0; ; ) {
      const page = yield* store.readStream(POLICY_ACTIVATIONS_STREAM, { fromRevision: from, limit: PAGE });
      last = page.at(-1) ?? last;
      if (page.length < PAGE) break;
      from = last!.revision + 1;
    }
    const activation = last === undefined ? undefined : decodeActivation(last.data);
    return { revision: last?.revision ?? -1, activation: activation?._tag === "Some" ? activation.value : undefined };
  });

export class PolicyReload extends Context.Tag("zt/PolicyReload")<PolicyReload, PolicyReloadShape>() {
  static readonly layer: Layer.Layer<PolicyReload, EventStoreError, ActivePolicy | EventStore | Ids | Metrics | Logs> = Layer.effect(
    PolicyReload,
    Effect.gen(function* () {
      const policies = yield* ActivePolicy;
      const store = yield* EventStore;
      const ids = yield* Ids;
      const metrics = yield* Metrics;
      const logs = yield* Logs;
      const lock = yield* Effect.makeSemaphore(1);

      /** Appends the activation expecting the stream as last read, reading again when another writer got there first. */
      const recordActivation = (active: PolicyBundle, candidate: PolicyBundle | undefined, previous: Previous, trigger: PolicyActivated["trigger"], by: string | null) =>
        Effect.gen(function* () {
          const activatedAt = formatRfc3339Millis(yield* Clock.currentTimeMillis);
          const { revision } = yield* lastActivation(store);
          const data: PolicyActivated = {
            policy_id: active.policyId,
            policy_hash: active.policyHash,
            previous_policy_id: previous.policyId,
            previous_policy_hash: previous.policyHash,
            candidate_policy_id: candidate?.policyId ?? null,
            candidate_policy_hash: candidate?.policyHash ?? null,
            previous_candidate_policy_hash: previous.candidatePolicyHash,
            files: active.files,
            activated_at: activatedAt,
            trigger,
            by,
          };
          yield* store.append(POLICY_ACTIVATIONS_STREAM, [{ id: yield* ids.uuid, type: POLICY_ACTIVATED, data: data as unknown as JsonObject }], revision < 0 ? "no_stream" : { revision });
          return activatedAt;
        });

      const reload: PolicyReloadShape["reload"] = (trigger) =>
        lock.withPermits(1)(
          Effect.gen(function* () {
            const active = yield* loadPolicyBundle(policies.directory);
            const candidate = policies.candidateDirectory === undefined ? undefined : yield* loadPolicyBundle(policies.candidateDirectory);
            const inForce = policies.current();
            // The MCP gateway sets its upstreams up at startup: a bundle naming other servers
            // would record a policy_hash whose servers are not the ones in force.
            if (active.files[MCP_SERVERS_FILE] !== inForce.files[MCP_SERVERS_FILE]) {
              return yield* Effect.fail(
                new PolicyLoadError({ directory: policies.directory, problems: [`${MCP_SERVERS_FILE}: the MCP servers change only with a restart; the bundles in force stay`] }),
              );
            }
            const previous = { policyId: inForce.policyId, policyHash: inForce.policyHash, candidatePolicyHash: policies.candidate()?.policyHash ?? null };
            const unchanged = active.policyHash === previous.policyHash && (candidate?.policyHash ?? null) === previous.candidatePolicyHash;
            const result = { policy_id: active.policyId, policy_hash: active.policyHash, previous_policy_hash: previous.policyHash, candidate_policy_hash: candidate?.policyHash ?? null };
            if (unchanged) return { status: "unchanged", ...result, activated_at: null } as const;
            const activatedAt = yield* recordActivation(active, candidate, previous, trigger.kind, trigger.kind === "reload" ? trigger.operator : null).pipe(
              Effect.retry({ times: 3, while: (error) => error.reason === "wrong_expected_version" }),
            );
            policies.replace(active, candidate);
            return { status: "activated", ...result, activated_at: activatedAt } as const;
          }),
        ).pipe(
          Effect.tap((result) =>
            Effect.sync(() => {
              metrics.policyReloads.inc({ outcome: result.status });
              logs.write("info", "policy reload", { trigger: trigger.kind, status: result.status, policy_id: result.policy_id, policy_hash: result.policy_hash, previous_policy_hash: result.previous_policy_hash, candidate_policy_hash: result.candidate_policy_hash });
            }),
          ),
          Effect.tapError((error) =>
            Effect.sync(() => {
              const refused = error._tag === "PolicyLoadError";
              metrics.policyReloads.inc({ outcome: refused ? "refused" : "unrecorded" });
              logs.write("warn", refused ? "policy reload refused: the bundle does not load; the bundles in force stay" : "policy reload refused: the activation cannot be recorded", {
                trigger: trigger.kind,
                ...(refused ? { directory: error.directory, problems: error.problems } : { reason: error.reason }),
              });
            }),
          ),
        );

      // At startup: record the bundles in force unless the log's last activation names them
      // (read again when another instance starting beside this one recorded first).
      const recordStartup = Effect.gen(function* () {
        const { activation } = yield* lastActivation(store);
        const active = policies.current();
        const candidate = policies.candidate();
        if (activation?.policy_hash === active.policyHash && activation.candidate_policy_hash === (candidate?.policyHash ?? null)) return;
        const previous = { policyId: activation?.policy_id ?? null, policyHash: activation?.policy_hash ?? null, candidatePolicyHash: activation?.candidate_policy_hash ?? null };
        yield* recordActivation(active, candidate, previous, "startup", null);
      });
      yield* recordStartup.pipe(Effect.retry({ times: 3, while: (error) => error.reason === "wrong_expected_version" }));
      return { reload };
    }),
  );
}
