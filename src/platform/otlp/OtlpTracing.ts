/**
 * The OTLP adapter of Tracing: Effect's spans become OpenTelemetry spans through Effect's
 * own integration (@effect/opentelemetry), batched and sent over OTLP/HTTP by the
 * OpenTelemetry exporter, which reads the standard variables itself
 * (`OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`,
 * `OTEL_EXPORTER_OTLP_HEADERS`, `OTEL_BSP_SCHEDULE_DELAY`, ...). Loaded on demand by the
 * composition root, so an instance without an endpoint never loads the SDK. Spans still
 * in the batch are flushed when the runtime closes, within a few seconds.
 */
import * as OtelResource from "@effect/opentelemetry/Resource";
import * as OtelTracer from "@effect/opentelemetry/Tracer";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { BasicTracerProvider, BatchSpanProcessor } from "@opentelemetry/sdk-trace-base";
import { Effect, Layer } from "effect";
import { Tracing } from "../Tracing.ts";

export interface OtlpTracingOptions {
  readonly serviceName: string;
  readonly serviceVersion: string;
}

const SHUTDOWN_TIMEOUT_MS = 3000;

export function otlpTracingLayer(options: OtlpTracingOptions): Layer.Layer<Tracing> {
  const provider = Layer.scoped(
    OtelTracer.OtelTracerProvider,
    Effect.flatMap(OtelResource.Resource, (resource) =>
      Effect.acquireRelease(
        Effect.sync(() => new BasicTracerProvider({ resource, spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())] })),
        (tracerProvider) =>
          Effect.promise(() => tracerProvider.forceFlush().then(() => tracerProvider.shutdown())).pipe(Effect.timeoutOption(SHUTDOWN_TIMEOUT_MS), Effect.ignore),
      ),
    ),
  );
  const tracer = OtelTracer.layer.pipe(Layer.provide(provider), Layer.provide(OtelResource.layer(options)));
  return Layer.merge(tracer, Layer.succeed(Tracing, { enabled: true }));
}
