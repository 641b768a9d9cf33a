/**
 * Every service of a serving instance: what the application runtime provides to the routes.
 */
import type { AnchoringSidecar } from "../anchoring/AnchoringSidecar.ts";
import type { ApprovalBook } from "../approvals/ApprovalBook.ts";
import type { ApprovalService } from "../approvals/ApprovalService.ts";
import type { AuditLog } from "../audit/AuditLog.ts";
import type { AuditProjector } from "../audit/AuditProjector.ts";
import type { AuditTrail } from "../audit/AuditTrail.ts";
import type { BatchAnchors } from "../audit/BatchAnchors.ts";
import type { DecisionFeed } from "../console/DecisionFeed.ts";
import type { DecisionService } from "../decisions/DecisionService.ts";
import type { EventStore } from "../events/EventStore.ts";
import type { ExecutionService } from "../execution/ExecutionService.ts";
import type { Identity } from "../identity/Identity.ts";
import type { MarketSnapshots } from "../market/MarketSnapshots.ts";
import type { McpGateway } from "../mcp/McpGateway.ts";
import type { PermitService } from "../permits/PermitService.ts";
import type { PermitVerifier } from "../permits/PermitVerifier.ts";
import type { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { Metrics } from "../platform/Metrics.ts";
import type { Tracing } from "../platform/Tracing.ts";
import type { PolicyReload } from "../rollout/PolicyReload.ts";

export type AppServices =
  | DecisionService
  | ApprovalBook
  | ApprovalService
  | ExecutionService
  | PermitService
  | PermitVerifier
  | MarketSnapshots
  | EventStore
  | Identity
  | ActivePolicy
  | Metrics
  | AuditLog
  | AuditTrail
  | AuditProjector
  | AnchoringSidecar
  | BatchAnchors
  | DecisionFeed
  | McpGateway
  | PolicyReload
  | Tracing;
