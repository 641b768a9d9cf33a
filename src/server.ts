/**
 * Serving: builds every service of the composition root and the HTTP app, and listens on
 * Node (@hono/node-server) or Deno (Deno.serve).
 */
import { Effect, ManagedRuntime } from "effect";
import type { Hono } from "hono";
import { AnchoringSidecar, type AnchoringInfo } from "./anchoring/AnchoringSidecar.ts";
import { makeApp } from "./app/app.ts";
import type { AppServices } from "./app/AppServices.ts";
import type { ServiceConfig } from "./config.ts";
import type { AppEnv } from "./http/auth.ts";
import type { DataDirectory } from "./identity/DataDirectory.ts";
import { Identity } from "./identity/Identity.ts";
import { appLayer, StartupError, startupFailure } from "./layers.ts";
import { McpGateway } from "./mcp/McpGateway.ts";
import { makeLogSink, type LogSink } from "./platform/Logging.ts";
import { Metrics } from "./platform/Metrics.ts";
import { Tracing } from "./platform/Tracing.ts";
import { ActivePolicy } from "./policy/ActivePolicy.ts";
import { PolicyReload } from "./rollout/PolicyReload.ts";
import type { PolicyBundle } from "./policy/PolicyBundle.ts";

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  /** Reloads the policy bundles as SIGHUP asks (PolicyReload); the outcome is logged, never thrown. */
  readonly reloadPolicy: () => Promise<void>;
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
    services = await runtime.runPromise(Effect.all({ identity: Identity, policy: ActivePolicy, metrics: Metrics, anchoring: AnchoringSidecar, mcp: McpGateway, tracing: Tracing }));
  } catch (error) {
    await runtime.dispose().catch(() => undefined);
    throw startupFailure(error);
  }
  const app = makeApp({ run: runtime.runPromise, identity: services.identity, policy: services.policy, metrics: services.metrics, logs, mcp: services.mcp, tracing: services.tracing });
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
    reloadPolicy: () => built.runtime.runPromise(Effect.flatMap(PolicyReload, (policies) => policies.reload({ kind: "signal" })).pipe(Effect.ignore)),
    close: async () => {
      await server.close();
      await built.runtime.dispose();
    },
  };
}
