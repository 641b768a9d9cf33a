/**
 * The decision path and the approvals capability on a real SQLite store in a temporary
 * data directory, composed as the service composes them, with the background parts a
 * test asks for (expiries, the webhook) and, optionally, Effect's TestClock in place of
 * the wall clock so that a test moves time instead of sleeping.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { Effect, Either, Layer, ManagedRuntime, TestContext } from "effect";
import { ApprovalBook } from "../../src/approvals/ApprovalBook.ts";
import { ApprovalService } from "../../src/approvals/ApprovalService.ts";
import { DecisionService, type DecisionOutcome } from "../../src/decisions/DecisionService.ts";
import type { EventStore } from "../../src/events/EventStore.ts";
import { SqliteEventStore } from "../../src/events/sqlite/SqliteEventStore.ts";
import { Brokers } from "../../src/execution/Broker.ts";
import { ExecutionService } from "../../src/execution/ExecutionService.ts";
import type { Principal } from "../../src/identity/Credentials.ts";
import { Identity } from "../../src/identity/Identity.ts";
import { MarketSnapshots } from "../../src/market/MarketSnapshots.ts";
import { PermitService } from "../../src/permits/PermitService.ts";
import { PermitVerifier } from "../../src/permits/PermitVerifier.ts";
import { Ids } from "../../src/platform/Ids.ts";
import { Logs, makeLogSink } from "../../src/platform/Logging.ts";
import { Metrics } from "../../src/platform/Metrics.ts";
import { ActivePolicy } from "../../src/policy/ActivePolicy.ts";
import type { Permit } from "../../src/vocabulary/Permit.ts";
import { EXAMPLE_POLICY_DIR, tempDir } from "../support/harness.ts";

export const DESK7: Principal = { role: "agent", actor: "agent:desk-7" };

type Core = DecisionService | ApprovalService | ApprovalBook | PermitService | MarketSnapshots | Identity | ActivePolicy | EventStore;

export function approvalRuntime<A>(options: { readonly policyDir?: string; readonly testClock?: boolean; readonly extra?: Layer.Layer<A, never, Core> } = {}) {
  const dataDir = tempDir("zt-approvals-");
  const base = Layer.mergeAll(
    SqliteEventStore.layer({ path: join(dataDir, "events.db") }),
    Ids.layer,
    Metrics.layer,
    Layer.succeed(Logs, makeLogSink("none")),
    Brokers.layer(),
    Identity.fromDataDir(dataDir, { production: false }),
    ActivePolicy.fromDirectory(options.policyDir ?? EXAMPLE_POLICY_DIR),
  );
  const services = Layer.mergeAll(MarketSnapshots.layer, ExecutionService.layer, PermitVerifier.layer, ApprovalBook.layer).pipe(Layer.provideMerge(base));
  const core = Layer.mergeAll(DecisionService.layer, ApprovalService.layer, PermitService.layer).pipe(Layer.provideMerge(services));
  const withExtra = options.extra === undefined ? core : options.extra.pipe(Layer.provideMerge(core));
  // The test clock first, so that every service and background fiber reads it.
  const layer = options.testClock ? withExtra.pipe(Layer.provide(TestContext.TestContext)) : withExtra;
  const runtime = ManagedRuntime.make(layer as Layer.Layer<Core | A, unknown>);
  const run = <X, E>(effect: Effect.Effect<X, E, Core | A>) => runtime.runPromise(effect as Effect.Effect<X, E, never>);

  const decide = (body: unknown): Promise<DecisionOutcome> =>
    run(Effect.flatMap(DecisionService, (service) => service.decideAction(DESK7, { bytes: new TextEncoder().encode(JSON.stringify(body)), tooLarge: false })));
  const issuePermit = (request: unknown): Promise<Permit> =>
    run(Effect.flatMap(PermitService, (service) => service.issue(request))).then((issued) => (Either.isRight(issued) ? issued.right : Promise.reject(new Error(issued.left.message))));
  const putSnapshot = (prices: Record<string, number>, asOf: string) => run(Effect.flatMap(MarketSnapshots, (markets) => markets.replace({ as_of: asOf, prices }, "operator:alice")));
  const vote = (id: string, kind: "grant" | "reject", operator = "operator:alice") => run(Effect.flatMap(ApprovalService, (service) => service.vote(id, { kind, operator, note: null })));
  const close = async () => {
    await runtime.dispose();
    rmSync(dataDir, { recursive: true, force: true });
  };
  return { dataDir, runtime, run, decide, issuePermit, putSnapshot, vote, close };
}
