/**
 * The HTTP application: authentication, the capability routes, the console, health,
 * readiness, metrics and the OpenAPI document. Unexpected defects answer 500 with a trace id and no
 * internals; request logs carry no token, body or signature.
 */
import { Effect, Tracer } from "effect";
import { Hono } from "hono";
import { AnchoringSidecar } from "../anchoring/AnchoringSidecar.ts";
import { approvalRoutes } from "../approvals/routes.ts";
import { AuditProjector, writerHealthy } from "../audit/AuditProjector.ts";
import { auditRoutes } from "../audit/routes.ts";
import { consoleRoutes } from "../console/routes.ts";
import { decisionRoutes } from "../decisions/routes.ts";
import { EventStore } from "../events/EventStore.ts";
import type { DataDirectory } from "../identity/DataDirectory.ts";
import { marketRoutes } from "../market/routes.ts";
import type { McpGatewayShape } from "../mcp/McpGateway.ts";
import { mcpRoutes } from "../mcp/routes.ts";
import { permitRoutes } from "../permits/routes.ts";
import type { PolicyBundle } from "../policy/PolicyBundle.ts";
import { parseTraceParent } from "../kernel/traceparent.ts";
import type { TracingShape } from "../platform/Tracing.ts";
import { policyRoutes } from "../rollout/routes.ts";
import type { LogSink } from "../platform/Logging.ts";
import type { MetricsShape } from "../platform/Metrics.ts";
import { problem } from "../http/problem.ts";
import type { RunEffect } from "../http/RunEffect.ts";
import type { AppServices } from "./AppServices.ts";
import { authenticate, requireOperator, type AppEnv, type SpanRunner } from "../http/auth.ts";
import { openApiDocument } from "./openapi.ts";

export const SERVICE_VERSION = "0.1.0";

export interface AppDependencies {
  readonly run: RunEffect<AppServices>;
  readonly identity: DataDirectory;
  /** The active policy: its fields always answer for the bundle in force (a reload swaps it). */
  readonly policy: PolicyBundle;
  readonly metrics: MetricsShape;
  readonly logs: LogSink;
  readonly tracing: TracingShape;
  readonly mcp: McpGatewayShape;
}

export function makeApp(deps: AppDependencies): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const openapi = openApiDocument(SERVICE_VERSION);

  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const principal = c.get("principal");
    deps.logs.write("info", "request", {
      method: c.req.method,
      path: c.req.routePath,
      status: c.res.status,
      duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
      principal: principal === undefined ? null : principal.role === "agent" ? principal.actor : principal.name,
    });
  });
  // With tracing on, a decision request is a server span under the caller's W3C trace
  // context; authentication and each stage of the decision are spans under it. With it
  // off, nothing here runs.
  let inSpan: SpanRunner | undefined;
  if (deps.tracing.enabled) {
    app.use("/actions", async (c, next) => {
      const caller = parseTraceParent(c.req.header("traceparent"));
      const parent = caller === undefined ? {} : { parent: Tracer.externalSpan({ traceId: caller.traceId, spanId: caller.parentId, sampled: caller.sampled }) };
      await deps.run(
        Effect.useSpan("POST /actions", { kind: "server", attributes: { "http.request.method": c.req.method, "url.path": c.req.path }, ...parent }, (span) =>
          Effect.promise(async () => {
            c.set("span", span);
            await next();
            span.attribute("http.response.status_code", c.res.status);
          }),
        ),
      );
    });
    inSpan = (c, name, work) => {
      const span = c.get("span");
      return span === undefined ? Promise.resolve(work()) : deps.run(Effect.withSpan(Effect.sync(work), name, { parent: span }));
    };
  }
  app.use(authenticate(deps.identity.credentials, inSpan));

  app.get("/healthz", (c) => c.json({ status: "ok" }));
  // Ready: the store takes writes, the policy is loaded and the audit projection writer
  // runs (or stands by for another instance); a writer restarting after a failure means
  // decisions would be recorded but not chained, so the instance reports not ready.
  // Anchoring that stopped on a divergence alarm is `degraded`: decisions go on (200).
  app.get("/readyz", async (c) => {
    const ping = await deps.run(Effect.flatMap(EventStore, (store) => store.ping).pipe(Effect.either));
    const storeOk = ping._tag === "Right";
    const status = await deps.run(Effect.flatMap(AuditProjector, (projector) => projector.status).pipe(Effect.either));
    const writer = status._tag === "Right" ? status.right.writer : undefined;
    const auditOk = writer !== undefined && writerHealthy(writer);
    const alarm = await deps.run(Effect.map(AnchoringSidecar, (anchoring) => (anchoring.info === null ? undefined : anchoring.alarm())));
    const ready = storeOk && auditOk;
    return c.json(
      {
        status: !ready ? "not_ready" : alarm ? "degraded" : "ready",
        store: storeOk ? "ok" : "unavailable",
        audit: { writer: writer?.state ?? "unknown", ...(writer?.state === "restarting" ? { reason: writer.reason, since: writer.since } : {}), lag: status._tag === "Right" ? status.right.lag : null },
        anchoring: alarm === undefined ? "off" : alarm === null ? "ok" : { state: "diverged", since: alarm.since, detail: alarm.message },
        policy_id: deps.policy.policyId,
        policy_hash: deps.policy.policyHash,
      },
      ready ? 200 : 503,
    );
  });
  app.get("/keys", (c) => c.json({ keys: deps.identity.publicKeys }));
  app.get("/openapi.json", (c) => c.json(openapi));
  app.get("/metrics", requireOperator, (c) => c.text(deps.metrics.render(), 200, { "content-type": "text/plain; version=0.0.4" }));

  app.route("/", decisionRoutes(deps.run));
  app.route("/", permitRoutes(deps.run));
  app.route("/", marketRoutes(deps.run));
  app.route("/", auditRoutes(deps.run));
  app.route("/", approvalRoutes(deps.run));
  app.route("/", policyRoutes(deps.run));
  app.route("/", consoleRoutes(deps.run));
  app.route("/", mcpRoutes(deps.mcp));

  app.notFound((c) => problem(c, "not_found", "no such route"));
  app.onError((error, c) => {
    const traceId = crypto.randomUUID();
    deps.logs.write("error", "unhandled error", { trace_id: traceId, path: c.req.path, error: error.name });
    return problem(c, "internal_error", "an unexpected error; the trace id names it in the service's log", { trace_id: traceId });
  });
  return app;
}
