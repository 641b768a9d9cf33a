/**
 * Tracing as a service (contract section 11): whether this instance makes OpenTelemetry
 * spans, and a helper that puts an effect in a span only then. With tracing off (no
 * `OTEL_EXPORTER_OTLP_ENDPOINT`) the helper returns the very effect it was given, so the
 * decision path makes no span, reads no clock and allocates nothing for tracing; with it
 * on, the spans are Effect's, exported by the OTLP adapter (otlp/OtlpTracing.ts, loaded
 * only then).
 */
import { Context, Effect, Layer, type Tracer } from "effect";

export interface TracingShape {
  /** Spans are made and exported. */
  readonly enabled: boolean;
}

export class Tracing extends Context.Tag("zt/Tracing")<Tracing, TracingShape>() {
  static readonly off: Layer.Layer<Tracing> = Layer.succeed(Tracing, { enabled: false });
}

/** `effect` in a span named `name` when tracing is on; the same effect, untouched, when it is off. */
export function traced<A, E, R>(tracing: TracingShape, name: string, effect: Effect.Effect<A, E, R>, options?: Tracer.SpanOptions): Effect.Effect<A, E, R> {
  return tracing.enabled ? Effect.withSpan(effect, name, options) : effect;
}
