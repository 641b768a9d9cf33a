/**
 * The services the HTTP routes need, and how a route runs an Effect against them.
 */
import type { Effect } from "effect";
import type { AnchoringSidecar } from "../anchoring/AnchoringSidecar.ts";
import type { AuditLog } from "../audit/AuditLog.ts";
import type { AuditProjector } from "../audit/AuditProjector.ts";
import type { AuditTrail } from "../audit/AuditTrail.ts";
import type { DecisionService } from "../decisions/DecisionService.ts";
import type { EventStore } from "../events/EventStore.ts";
import type { ExecutionService } from "../execution/ExecutionService.ts";
import type { Identity } from "../identity/Identity.ts";
import type { MarketSnapshots } from "../market/MarketSnapshots.ts";
import type { PermitService } from "../permits/PermitService.ts";
import type { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { Metrics } from "../platform/Metrics.ts";

export type AppServices =
  | DecisionService
  | ExecutionService
  | PermitService
  | MarketSnapshots
  | EventStore
  | Identity
  | ActivePolicy
  | Metrics
  | AuditLog
  | AuditTrail
  | AuditProjector
  | AnchoringSidecar;

/** Runs an Effect on the application runtime (a ManagedRuntime's runPromise). */
export type RunEffect = <A, E>(effect: Effect.Effect<A, E, AppServices>) => Promise<A>;
