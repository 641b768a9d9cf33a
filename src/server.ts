/**
 * Assembles the control plane from its configuration: layers per adapter, the HTTP app,
 * and a listening server on Node (@hono/node-server) or Deno (Deno.serve).
 */
import { hostname } from "node:os";
import { join } from "node:path";
import { Effect, Layer, ManagedRuntime } from "effect";
import type { Hono } from "hono";
import { AnchoringSidecar, anchoringSidecarLayer, type AnchoringInfo, type AnchoringSidecarOptions } from "./anchoring/AnchoringSidecar.ts";
import type { Address, AnchorError, AnchorSubmitter, Hex } from "./anchoring/AnchorSubmitter.ts";
import type { DaalLedger } from "./anchoring/DaalLedger.ts";
import { AuditLog, type AuditLogError } from "./audit/AuditLog.ts";
import { auditProjectorLayer, AuditProjector, type ProjectionStatus } from "./audit/AuditProjector.ts";
import { ProjectorThread } from "./audit/ProjectorThread.ts";
import { AuditTrail } from "./audit/AuditTrail.ts";
import { SqliteAuditLog } from "./audit/sqlite/SqliteAuditLog.ts";
import type { AnchoringTuning, RpcChainConfig, ServiceConfig } from "./config.ts";
import { DecisionService } from "./decisions/DecisionService.ts";
import { EventStore, type EventStoreError } from "./events/EventStore.ts";
import { Brokers } from "./execution/Broker.ts";
import { makeBwrapBroker } from "./execution/bwrap/BwrapBroker.ts";
import { makeDockerBroker } from "./execution/docker/DockerBroker.ts";
import { ExecutionService } from "./execution/ExecutionService.ts";
import { acquireProcessLease } from "./execution/ProcessLease.ts";
import { makeNonoBroker } from "./execution/nono/NonoBroker.ts";
import { SqliteEventStore } from "./events/sqlite/SqliteEventStore.ts";
import type { DataDirectory } from "./identity/DataDirectory.ts";
import { Identity } from "./identity/Identity.ts";
import { MarketSnapshots } from "./market/MarketSnapshots.ts";
import { PermitService } from "./permits/PermitService.ts";
import { ActivePolicy } from "./policy/ActivePolicy.ts";
import type { PolicyBundle } from "./policy/PolicyBundle.ts";
import { makeApp } from "./http/app.ts";
import type { AppServices } from "./http/AppRuntime.ts";
import type { AppEnv } from "./http/auth.ts";
import { sha256Hex } from "./kernel/hashing.ts";
import { Ids } from "./platform/Ids.ts";
import { effectLoggerLayer, makeLogSink, type LogSink } from "./platform/Logging.ts";
import { Metrics, type MetricsShape } from "./platform/Metrics.ts";

export class StartupError extends Error {
  override readonly name = "StartupError";
}

/** The event store of the configuration; `pollIntervalMs` sets how often a SQLite subscription looks for other connections' appends. */
export function storeLayer(config: ServiceConfig, options: { readonly pollIntervalMs?: number } = {}): Layer.Layer<EventStore, EventStoreError | StartupError> {
  if (config.store.kind === "sqlite") {
    return SqliteEventStore.layer({ path: config.store.path, busyTimeoutMs: config.store.busyTimeoutMs, ...(options.pollIntervalMs === undefined ? {} : { pollIntervalMs: options.pollIntervalMs }) });
  }
  const { url, streamPrefix } = config.store;
  // Loaded on demand: the EventStoreDB client loads a native addon on import (under Deno
  // that needs --allow-ffi), which SQLite deployments should never pay for or depend on.
  return Layer.unwrapEffect(
    Effect.tryPromise({
      try: () => import("./events/esdb/EsdbEventStore.ts"),
      catch: () => new StartupError("ZT_STORE=esdb: the EventStoreDB client cannot load here (its native addon is missing; under Deno, allow ffi)"),
    }).pipe(Effect.map(({ EsdbEventStore }) => EsdbEventStore.layer({ url, streamPrefix }))),
  );
}

/** Audit records live beside the events in the SQLite file, or in `audit.db` for other stores. */
export function auditLogLayer(config: ServiceConfig): Layer.Layer<AuditLog, AuditLogError> {
  if (config.store.kind === "sqlite") return SqliteAuditLog.layer({ path: config.store.path, busyTimeoutMs: config.store.busyTimeoutMs });
  return SqliteAuditLog.layer({ path: join(config.dataDir, "audit.db") });
}

/** The projection writer, signing with this instance's audit key; it waits for the lease. */
function projectorLayer(config: ServiceConfig) {
  return Layer.unwrapEffect(
    Effect.map(Identity, (identity) =>
      auditProjectorLayer({
        signer: identity.auditKey,
        checkpointRecords: config.checkpointRecords,
        checkpointMs: config.checkpointMs,
        owner: `${hostname()}:${process.pid}:${crypto.randomUUID().slice(0, 8)}`,
      }),
    ),
  );
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
      return Effect.map(load("direct", () => import("./anchoring/direct/DirectSubmitter.ts")), ({ DirectSubmitter }) =>
        DirectSubmitter.layer({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract, privateKey: submitter.privateKey as Hex, timeoutMs }).pipe(Layer.mapError(submitterStartupError)),
      );
    case "thirdweb-engine":
      return Effect.map(load("thirdweb Engine", () => import("./anchoring/thirdweb-engine/ThirdwebEngineSubmitter.ts")), ({ ThirdwebEngineSubmitter }) =>
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
      return Effect.map(load("CDP", () => import("./anchoring/cdp/CdpSubmitter.ts")), ({ CdpSubmitter }) =>
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
        const { startLocalChain } = yield* load("local chain", () => import("./anchoring/localChain.ts"));
        const { DirectSubmitter } = yield* load("direct", () => import("./anchoring/direct/DirectSubmitter.ts"));
        const { RpcDaalLedger } = yield* load("RPC", () => import("./anchoring/rpc/RpcDaalLedger.ts"));
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
      const { RpcDaalLedger } = yield* load("RPC", () => import("./anchoring/rpc/RpcDaalLedger.ts"));
      const submitter = yield* rpcSubmitterLayer(chain, tuning);
      return withAdapters(submitter, RpcDaalLedger.layer({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, contract: chain.daalAddress as Address, timeoutMs: tuning.rpcTimeoutMs }));
    }),
  );
}

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

export function appLayer(config: ServiceConfig, logs: LogSink): Layer.Layer<AppServices, unknown> {
  // Built in order: the policy bundle, then keys and tokens, then the store. A bundle that
  // does not load writes nothing, and production refusing to start creates no events.db.
  const checked = Identity.fromDataDir(config.dataDir, { production: config.production }).pipe(
    Layer.provideMerge(ActivePolicy.fromDirectory(config.policyDir)),
  );
  const infrastructure = Layer.mergeAll(storeLayer(config), auditLogLayer(config), Ids.layer, Metrics.layer).pipe(Layer.provideMerge(checked));
  const withTrail = Layer.mergeAll(MarketSnapshots.layer, AuditTrail.layer).pipe(Layer.provideMerge(infrastructure));
  const withExecution = ExecutionService.layer.pipe(Layer.provide(brokersLayer(config)), Layer.provideMerge(withTrail));
  // The projection writer runs on its own thread (ProjectorThread); `zt project` runs it alone.
  return Layer.mergeAll(DecisionService.layer, PermitService.layer, ProjectorThread.layer(config), anchoringLayer(config)).pipe(
    Layer.provideMerge(withExecution),
    Layer.provide(effectLoggerLayer(logs)),
  );
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly close: () => Promise<void>;
}

type Fetch = (request: Request) => Response | Promise<Response>;

async function listen(fetch: Fetch, host: string, port: number): Promise<{ port: number; close: () => Promise<void> }> {
  const deno = (globalThis as { Deno?: { serve: (options: object, handler: Fetch) => { addr: { port: number }; shutdown: () => Promise<void> } } }).Deno;
  if (deno !== undefined) {
    // Deno.serve binds synchronously (throwing when it cannot) and calls onListen before
    // it returns, so the server and its bound address are read from its return value.
    const server = deno.serve({ hostname: host, port, onListen: () => undefined }, fetch);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  const { serve } = await import("@hono/node-server");
  return new Promise((resolveServer, reject) => {
    const server = serve({ fetch, hostname: host, port }, (info) =>
      resolveServer({
        port: info.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            (server as { closeAllConnections?: () => void }).closeAllConnections?.();
          }),
      }),
    );
    server.once("error", reject);
  });
}

export interface BuiltApp {
  readonly app: Hono<AppEnv>;
  readonly runtime: ManagedRuntime.ManagedRuntime<AppServices, unknown>;
  readonly identity: DataDirectory;
  readonly policy: PolicyBundle;
  /** Where anchors go, or null when anchoring is off. */
  readonly anchoring: AnchoringInfo | null;
}

/** Builds every service (failing with a clear StartupError on bad policy, keys or store) and the HTTP app. */
export async function buildApp(config: ServiceConfig, logs: LogSink): Promise<BuiltApp> {
  const runtime = ManagedRuntime.make(appLayer(config, logs));
  let services;
  try {
    services = await runtime.runPromise(Effect.all({ identity: Identity, policy: ActivePolicy, metrics: Metrics, anchoring: AnchoringSidecar }));
  } catch (error) {
    await runtime.dispose().catch(() => undefined);
    throw new StartupError(startupMessage(error));
  }
  const app = makeApp({ run: runtime.runPromise, identity: services.identity, policy: services.policy, metrics: services.metrics, logs });
  return { app, runtime, identity: services.identity, policy: services.policy, anchoring: services.anchoring.info };
}

/** Builds the app, then listens on the configured address. */
export async function startServer(config: ServiceConfig, logs: LogSink = makeLogSink(config.logLevel)): Promise<RunningServer> {
  const built = await buildApp(config, logs);
  for (const file of built.identity.generated) logs.write("info", "development bootstrap wrote a credential file", { file });
  if (built.anchoring !== null) {
    // The RPC URL is not logged: provider URLs usually embed an API key.
    logs.write("info", "anchoring checkpoints on-chain", {
      chain: config.chain === "local" ? "local" : "rpc",
      chain_id: built.anchoring.chainId,
      contract: built.anchoring.contract,
      submitter: built.anchoring.submitter,
    });
  }
  let server;
  try {
    server = await listen(built.app.fetch, config.host, config.port);
  } catch (error) {
    await built.runtime.dispose();
    throw new StartupError(`cannot listen on ${config.host}:${config.port}: ${(error as Error).message}`);
  }
  const url = `http://${config.host.includes(":") ? `[${config.host}]` : config.host}:${server.port}`;
  logs.write("info", "zt-infra listening", { url, policy_id: built.policy.policyId, policy_hash: built.policy.policyHash, store: config.store.kind });
  return {
    url,
    port: server.port,
    close: async () => {
      await server.close();
      await built.runtime.dispose();
    },
  };
}

function startupMessage(error: unknown): string {
  // Effect wraps failures in a FiberFailure whose message is the original error's.
  const message = error instanceof Error ? error.message : String(error);
  return message.replace(/^\(FiberFailure\) /, "").replace(/^[A-Za-z]+Error: /, "");
}

export interface ProjectorProcess {
  readonly status: () => Promise<ProjectionStatus>;
  readonly close: () => Promise<void>;
}

/**
 * `zt project`, and the writer thread of a serving instance: only the audit projection
 * writer, for deployments where several service instances share one store and the
 * writer runs as its own process. `metrics` is the registry it counts into (a fresh one
 * by default); `pollIntervalMs` how often it looks for appends made on other connections.
 */
export async function startProjector(
  config: ServiceConfig,
  logs: LogSink = makeLogSink(config.logLevel),
  options: { readonly metrics?: MetricsShape; readonly pollIntervalMs?: number } = {},
): Promise<ProjectorProcess> {
  const metrics = options.metrics === undefined ? Metrics.layer : Layer.succeed(Metrics, options.metrics);
  const base = Layer.mergeAll(storeLayer(config, options), auditLogLayer(config), Ids.layer, metrics).pipe(
    Layer.provideMerge(Identity.fromDataDir(config.dataDir, { production: config.production })),
  );
  const layer = projectorLayer(config).pipe(Layer.provideMerge(AuditTrail.layer.pipe(Layer.provideMerge(base))), Layer.provide(effectLoggerLayer(logs)));
  const runtime = ManagedRuntime.make(layer);
  try {
    await runtime.runtime();
  } catch (error) {
    await runtime.dispose().catch(() => undefined);
    throw new StartupError(startupMessage(error));
  }
  logs.write("info", "audit projection writer started", { store: config.store.kind });
  return { status: () => runtime.runPromise(Effect.flatMap(AuditProjector, (projector) => projector.status)), close: () => runtime.dispose() };
}
