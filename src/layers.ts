/**
 * The composition root: the one place that knows every adapter and wires the capabilities
 * together from the configuration. `main` and `zt serve` (through server.ts), `zt
 * project` and the projection writer's thread (through projector.ts) and the auditor's
 * CLI build their layers here; nothing below imports this file.
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { Effect, Layer } from "effect";
import { AnchoringSidecar, anchoringSidecarLayer, type AnchoringSidecarOptions } from "./anchoring/AnchoringSidecar.ts";
import { ANCHOR_EVENT_TYPES } from "./anchoring/core/events.ts";
import type { Address, AnchorError, AnchorSubmitter, Hex } from "./anchoring/ports/AnchorSubmitter.ts";
import type { DaalLedger } from "./anchoring/ports/DaalLedger.ts";
import type { AppServices } from "./app/AppServices.ts";
import { ApprovalBook } from "./approvals/ApprovalBook.ts";
import { ApprovalExpiry } from "./approvals/ApprovalExpiry.ts";
import { ApprovalService } from "./approvals/ApprovalService.ts";
import { ApprovalWebhook } from "./approvals/ApprovalWebhook.ts";
import { SERVICE_VERSION } from "./app/app.ts";
import { AuditLog, type AuditLogError } from "./audit/AuditLog.ts";
import { auditProjectorLayer } from "./audit/AuditProjector.ts";
import { AuditTrail } from "./audit/AuditTrail.ts";
import { BudgetLedger } from "./budgets/BudgetLedger.ts";
import { BatchAnchors } from "./audit/BatchAnchors.ts";
import { ProjectorThread } from "./audit/ProjectorThread.ts";
import { SqliteAuditLog } from "./audit/sqlite/SqliteAuditLog.ts";
import type { AnchoringTuning, RpcChainConfig, ServiceConfig, StoreConfig } from "./config.ts";
import { DecisionFeed } from "./console/DecisionFeed.ts";
import { DecisionService } from "./decisions/DecisionService.ts";
import { EventStore, type EventStoreError } from "./events/EventStore.ts";
import { SqliteEventStore } from "./events/sqlite/SqliteEventStore.ts";
import { Brokers } from "./execution/Broker.ts";
import { makeBwrapBroker } from "./execution/bwrap/BwrapBroker.ts";
import { makeDockerBroker } from "./execution/docker/DockerBroker.ts";
import { ExecutionService } from "./execution/ExecutionService.ts";
import { makeNonoBroker } from "./execution/nono/NonoBroker.ts";
import { acquireProcessLease } from "./execution/ProcessLease.ts";
import { auditSigningKey } from "./identity/DataDirectory.ts";
import { Identity } from "./identity/Identity.ts";
import { sha256Hex } from "./kernel/hashing.ts";
import { MarketSnapshots } from "./market/MarketSnapshots.ts";
import type { McpGateway } from "./mcp/McpGateway.ts";
import { PermitService } from "./permits/PermitService.ts";
import { PermitVerifier } from "./permits/PermitVerifier.ts";
import { Ids } from "./platform/Ids.ts";
import { effectLoggerLayer, Logs, type LogLevelName, type LogSink } from "./platform/Logging.ts";
import { Metrics } from "./platform/Metrics.ts";
import { Tracing } from "./platform/Tracing.ts";
import { ActivePolicy } from "./policy/ActivePolicy.ts";
import { CandidateDisagreements } from "./rollout/CandidateDisagreements.ts";
import { PolicyReload } from "./rollout/PolicyReload.ts";

export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** A layer that failed to build, as a StartupError with the cause's own message (Effect wraps failures in a FiberFailure). */
export function startupFailure(error: unknown): StartupError {
  const message = error instanceof Error ? error.message : String(error);
  return new StartupError(message.replace(/^\(FiberFailure\) /, "").replace(/^[A-Za-z]+Error: /, ""));
}

/** The event store; `pollIntervalMs` sets how often a SQLite subscription looks for other connections' appends. */
export function storeLayer(store: StoreConfig, options: { readonly pollIntervalMs?: number } = {}): Layer.Layer<EventStore, EventStoreError | StartupError> {
  if (store.kind === "sqlite") {
    return SqliteEventStore.layer({ path: store.path, busyTimeoutMs: store.busyTimeoutMs, ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }) });
  }
  const { url, streamPrefix } = store;
  // Loaded on demand: the EventStoreDB client loads a native addon on import (under Deno
  // that needs --allow-ffi), which SQLite deployments should never pay for or depend on.
  return Layer.unwrapEffect(
    Effect.tryPromise({
      try: () => import("./events/esdb/EsdbEventStore.ts"),
      catch: () => new StartupError("ZT_STORE=esdb: the EventStoreDB client cannot load here (its native addon is missing; under Deno, allow ffi)"),
    }).pipe(Effect.map(({ EsdbEventStore }) => EsdbEventStore.layer({ url, streamPrefix }))),
  );
}

/** Audit records live beside the events in the SQLite file, or in `audit.db` in the data directory for other stores. */
export function auditLogLayer(store: StoreConfig, dataDir: string): Layer.Layer<AuditLog, AuditLogError> {
  if (store.kind === "sqlite") return SqliteAuditLog.layer({ path: store.path, busyTimeoutMs: store.busyTimeoutMs });
  return SqliteAuditLog.layer({ path: join(dataDir, "audit.db") });
}

/**
 * What the audit projection writer needs, and nothing more: it runs on a thread of its
 * own (or as `zt project`), so it is given no chain, submitter or Docker settings, and it
 * reads only the audit key of the data directory.
 */
export interface ProjectorSettings {
  readonly dataDir: string;
  /** Production never writes keys; development writes a missing audit key, as a serving instance would. */
  readonly production: boolean;
  readonly store: StoreConfig;
  readonly checkpointRecords: number;
  readonly checkpointMs: number;
  readonly logLevel: LogLevelName;
}

export function projectorSettings(config: ServiceConfig): ProjectorSettings {
  return { dataDir: config.dataDir, production: config.production, store: config.store, checkpointRecords: config.checkpointRecords, checkpointMs: config.checkpointMs, logLevel: config.logLevel };
}

/**
 * The projection writer and what it stands on, signing with the data directory's audit
 * key; it waits for the lease. Anchoring's events are chained like every event but never
 * make a checkpoint due by themselves (each anchor would otherwise seal a checkpoint that
 * needs an anchor, forever): the next decision's checkpoint covers them.
 */
export function projectorLayer(settings: ProjectorSettings, options: { readonly pollIntervalMs?: number } = {}) {
  const signer = Layer.unwrapEffect(
    Effect.try({ try: () => auditSigningKey(settings.dataDir), catch: (error) => new StartupError((error as Error).message) }).pipe(
      Effect.map((key) =>
        auditProjectorLayer({
          signer: key,
          checkpointRecords: settings.checkpointRecords,
          checkpointMs: settings.checkpointMs,
          nonSealingEventTypes: ANCHOR_EVENT_TYPES,
          owner: `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`,
        }),
      ),
    ),
  );
  const base = Layer.mergeAll(storeLayer(settings.store, options), auditLogLayer(settings.store, settings.dataDir), Ids.layer);
  return signer.pipe(Layer.provideMerge(AuditTrail.layer.pipe(Layer.provideMerge(base))));
}

/** Loads an anchoring adapter on demand: viem and the CDP SDK cost nothing when ZT_CHAIN=off. */
function load<A>(what: string, importer: () => Promise<A>): Effect.Effect<A, StartupError> {
  return Effect.tryPromise({ try: importer, catch: () => new StartupError(`anchoring: the ${what} adapter cannot load`) });
}

const submitterStartupError = (error: AnchorError) => new StartupError(`anchoring: ${error.message}`);

/** The AnchorSubmitter of ZT_SUBMITTER on an RPC chain. */
function rpcSubmitterLayer(chain: RpcChainConfig, tuning: AnchoringTuning): Effect.Effect<Layer.Layer<AnchorSubmitter, StartupError>, StartupError> {
  const contract = chain.daalAddress as Address;
  const timeoutMs = tuning.rpcTimeoutMs;
  const submitter = chain.submitter;
  switch (submitter.kind) {
    case "direct":
      return Effect.map(load("direct", () => import("./anchoring/adapters/direct/DirectSubmitter.ts")), ({ DirectSubmitter }) =>
        DirectSubmitter.layer({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract, privateKey: submitter.privateKey as Hex, timeoutMs }).pipe(Layer.mapError(submitterStartupError)),
      );
    case "thirdweb-engine":
      return Effect.map(load("thirdweb Engine", () => import("./anchoring/adapters/thirdweb-engine/ThirdwebEngineSubmitter.ts")), ({ ThirdwebEngineSubmitter }) =>
        ThirdwebEngineSubmitter.layer({
          secretKey: submitter.secretKey,
          serverWallet: submitter.serverWallet as Address,
          chainId: chain.chainId,
          contract,
          rpcUrl: chain.rpcUrl,
          requestTimeoutMs: timeoutMs,
          // Waiting for Engine to send the job is part of waiting for the anchor's transaction.
          sendTimeoutMs: tuning.receiptTimeoutMs,
          ...(submitter.engineUrl === undefined ? {} : { engineUrl: submitter.engineUrl }),
          ...(submitter.vaultAccessToken === undefined ? {} : { vaultAccessToken: submitter.vaultAccessToken }),
        }),
      );
    case "cdp":
      return Effect.map(load("CDP", () => import("./anchoring/adapters/cdp/CdpSubmitter.ts")), ({ CdpSubmitter }) =>
        CdpSubmitter.layer({
          apiKeyId: submitter.apiKeyId,
          apiKeySecret: submitter.apiKeySecret,
          walletSecret: submitter.walletSecret,
          accountName: submitter.accountName,
          createAccount: submitter.createAccount,
          network: submitter.network,
          contract,
          rpcUrl: chain.rpcUrl,
          requestTimeoutMs: timeoutMs,
          ...(submitter.basePath === undefined ? {} : { basePath: submitter.basePath }),
        }).pipe(Layer.mapError(submitterStartupError)),
      );
  }
}

/**
 * The anchoring sidecar of ZT_CHAIN: none for `off`; for `local`, an anvil of its own
 * with the direct submitter (a local chain that cannot start only costs anchoring, with
 * a warning); for an RPC URL, the configured submitter and that RPC for reads.
 */
export function anchoringLayer(config: ServiceConfig): Layer.Layer<AnchoringSidecar, StartupError, EventStore | AuditTrail | Ids | Metrics> {
  const chain = config.chain;
  if (chain === "off") return AnchoringSidecar.disabled;
  const tuning = config.anchoring;
  const options: AnchoringSidecarOptions = {
    confirmations: tuning.confirmations,
    pollMs: tuning.pollMs,
    receiptTimeoutMs: tuning.receiptTimeoutMs,
    retry: { baseMs: tuning.retryBaseMs, maxMs: tuning.retryMaxMs },
  };
  const withAdapters = (submitter: Layer.Layer<AnchorSubmitter, StartupError>, ledger: Layer.Layer<DaalLedger>) =>
    anchoringSidecarLayer(options).pipe(Layer.provide(Layer.merge(submitter, ledger)));

  if (chain === "local") {
    return Layer.unwrapScoped(
      Effect.gen(function* () {
        const { startLocalChain } = yield* load("local chain", () => import("./anchoring/local/localChain.ts"));
        const { DirectSubmitter } = yield* load("direct", () => import("./anchoring/adapters/direct/DirectSubmitter.ts"));
        const { RpcDaalLedger } = yield* load("RPC", () => import("./anchoring/adapters/rpc/RpcDaalLedger.ts"));
        const local = yield* Effect.either(startLocalChain({ dataDir: config.dataDir }));
        if (local._tag === "Left") {
          yield* Effect.logWarning("the local chain cannot start; this run does not anchor (decisions and audit are unaffected)").pipe(
            Effect.annotateLogs({ reason: local.left.reason, detail: local.left.message }),
          );
          return AnchoringSidecar.disabled;
        }
        const { rpc_url: rpcUrl, chain_id: chainId, daal_address, deployment_block } = local.right;
        const contract = daal_address as Address;
        yield* Effect.logInfo("local chain started").pipe(Effect.annotateLogs({ rpc_url: rpcUrl, chain_id: chainId, daal_address, deployment_block }));
        return withAdapters(
          DirectSubmitter.layer({ rpcUrl, chainId, contract, privateKey: local.right.submitterKey, timeoutMs: tuning.rpcTimeoutMs }).pipe(Layer.mapError(submitterStartupError)),
          RpcDaalLedger.layer({ rpcUrl, chainId, contract, timeoutMs: tuning.rpcTimeoutMs }),
        );
      }),
    );
  }

  return Layer.unwrapEffect(
    Effect.gen(function* () {
      const { RpcDaalLedger } = yield* load("RPC", () => import("./anchoring/adapters/rpc/RpcDaalLedger.ts"));
      const submitter = yield* rpcSubmitterLayer(chain, tuning);
      return withAdapters(submitter, RpcDaalLedger.layer({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.daalAddress as Address, timeoutMs: tuning.rpcTimeoutMs }));
    }),
  );
}

/** The audit trail's anchor statuses come from the anchoring sidecar (null everywhere when anchoring is off). */
const batchAnchorsLayer: Layer.Layer<BatchAnchors, never, AnchoringSidecar> = Layer.effect(
  BatchAnchors,
  Effect.map(AnchoringSidecar, (anchoring) => ({ statusOf: anchoring.statusOf })),
);

/** The `zt.owner` label of this control plane's containers: its host and data directory. */
export function dockerOwner(dataDir: string): string {
  return sha256Hex(`${hostname()}\n${dataDir}`).slice(0, 16);
}

/**
 * Every broker of this build. Each answers `unavailable` where its tool is missing. Docker
 * containers are labelled with this control plane (host and data directory) and this
 * process (its lease id and pid), so reaping ends exactly the runs of processes that are
 * gone, never those of another live instance sharing the data directory.
 */
export function brokersLayer(config: ServiceConfig): Layer.Layer<Brokers> {
  return Layer.scoped(
    Brokers,
    Effect.map(acquireProcessLease(config.dataDir), (lease) => {
      const identity = { owner: dockerOwner(config.dataDir), process: lease.self.id, pid: lease.self.pid };
      return Brokers.registry(makeDockerBroker({ endpoint: config.docker, identity, isGone: lease.isGone }), makeBwrapBroker(), makeNonoBroker());
    }),
  );
}

/**
 * The MCP gateway: it decides through the decision service, and its stdio upstreams get
 * directories under the data directory. Loaded on demand, so that the projection
 * writer's thread, which builds its layers here too, never loads the MCP SDK or the HTTP app.
 */
function mcpGatewayLayer(config: ServiceConfig): Layer.Layer<McpGateway, unknown, DecisionService | EventStore | ActivePolicy | Ids | Metrics> {
  return Layer.unwrapEffect(
    Effect.promise(async () => {
      const [{ McpGateway }, { SERVICE_VERSION }] = await Promise.all([import("./mcp/McpGateway.ts"), import("./app/app.ts")]);
      const { docker } = config;
      return McpGateway.layer({
        dataDir: config.dataDir,
        cwd: process.cwd(),
        maxSessions: config.mcp.maxSessions,
        idleSeconds: config.mcp.idleSeconds,
        version: SERVICE_VERSION,
        dockerHost: "socketPath" in docker ? `unix://${docker.socketPath}` : `tcp://${docker.host}:${docker.port}`,
      });
    }),
  );
}

/** The writer thread's entry module (projectorWorker.ts, beside this file). */
export const PROJECTOR_WORKER_URL = new URL("./projectorWorker.ts", import.meta.url);

/**
 * Tracing: the OTLP adapter when an OTLP endpoint is set, loaded only then (an instance
 * without one never loads the OpenTelemetry SDK), else off.
 */
export function tracingLayer(config: Pick<ServiceConfig, "otlpTracing">): Layer.Layer<Tracing, StartupError> {
  if (!config.otlpTracing) return Tracing.off;
  return Layer.unwrapEffect(
    Effect.tryPromise({ try: () => import("./platform/otlp/OtlpTracing.ts"), catch: () => new StartupError("OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry exporter cannot load") }).pipe(
      Effect.map(({ otlpTracingLayer }) => otlpTracingLayer({ serviceName: process.env["OTEL_SERVICE_NAME"] || "zt-infra", serviceVersion: SERVICE_VERSION })),
    ),
  );
}

/** Every service of a serving instance. */
export function appLayer(config: ServiceConfig, logs: LogSink): Layer.Layer<AppServices, unknown> {
  // Built in order: the policy bundles, then keys and tokens, then the store. A bundle that
  // does not load writes nothing, and production refusing to start creates no events.db.
  const checked = Identity.fromDataDir(config.dataDir, { production: config.production }).pipe(
    Layer.provideMerge(ActivePolicy.fromDirectory(config.policyDir, config.policyCandidateDir)),
  );
  const infrastructure = Layer.mergeAll(storeLayer(config.store), auditLogLayer(config.store, config.dataDir), Ids.layer, Metrics.layer, Layer.succeed(Logs, logs), tracingLayer(config)).pipe(
    Layer.provideMerge(checked),
  );
  const withTrail = Layer.mergeAll(MarketSnapshots.layer, AuditTrail.layer, PermitVerifier.layer, ApprovalBook.layer, BudgetLedger.layer, CandidateDisagreements.layer, PolicyReload.layer).pipe(
    Layer.provideMerge(infrastructure),
  );
  const withExecution = ExecutionService.layer.pipe(Layer.provide(brokersLayer(config)), Layer.provideMerge(withTrail));
  // The projection writer runs on its own thread with only its settings; `zt project` runs it alone.
  const projector = ProjectorThread.layer({ workerUrl: PROJECTOR_WORKER_URL, settings: projectorSettings(config) });
  const anchoring = batchAnchorsLayer.pipe(Layer.provideMerge(anchoringLayer(config)));
  // Expiries are recorded and pending approvals announced in the background, never on the decision path.
  const approvals = Layer.mergeAll(ApprovalExpiry.layer(), ApprovalWebhook.layer()).pipe(Layer.provideMerge(ApprovalService.layer));
  const decisions = Layer.provideMerge(mcpGatewayLayer(config), DecisionService.layer);
  return Layer.mergeAll(decisions, PermitService.layer, approvals, projector, anchoring, DecisionFeed.layer()).pipe(
    Layer.provideMerge(withExecution),
    Layer.provide(effectLoggerLayer(logs)),
  );
}
