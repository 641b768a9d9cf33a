/**
 * The audit projection writer on its own: `zt project` (several service instances
 * sharing one store, the writer as its own process) and the writer thread of a serving
 * instance (projectorWorker.ts). Fails with a StartupError naming the cause.
 */
import { Effect, Layer, ManagedRuntime } from "effect";
import { AuditProjector, type ProjectionStatus } from "./audit/AuditProjector.ts";
import { bootstrapDevelopmentDataDir } from "./identity/DataDirectory.ts";
import { projectorLayer, startupFailure, type ProjectorSettings } from "./layers.ts";
import { effectLoggerLayer, makeLogSink, type LogSink } from "./platform/Logging.ts";
import { Metrics, type MetricsShape } from "./platform/Metrics.ts";

export interface ProjectorProcess {
  readonly status: () => Promise<ProjectionStatus>;
  readonly close: () => Promise<void>;
}

/** Starts the writer; `metrics` is the registry it counts into (a fresh one by default), `pollIntervalMs` how often it looks for appends made on other connections. */
export async function startProjector(
  settings: ProjectorSettings,
  logs: LogSink = makeLogSink(settings.logLevel),
  options: { readonly metrics?: MetricsShape; readonly pollIntervalMs?: number } = {},
): Promise<ProjectorProcess> {
  if (!settings.production) bootstrapDevelopmentDataDir(settings.dataDir);
  const metrics = options.metrics === undefined ? Metrics.layer : Layer.succeed(Metrics, options.metrics);
  const layer = projectorLayer(settings, options).pipe(Layer.provide(metrics), Layer.provide(effectLoggerLayer(logs)));
  const runtime = ManagedRuntime.make(layer);
  try {
    await runtime.runtime();
  } catch (error) {
    await runtime.dispose().catch(() => undefined);
    throw startupFailure(error);
  }
  logs.write("info", "audit projection writer started", { store: settings.store.kind });
  return { status: () => runtime.runPromise(Effect.flatMap(AuditProjector, (projector) => projector.status)), close: () => runtime.dispose() };
}
