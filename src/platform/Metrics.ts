/**
 * A small Prometheus registry (text exposition format 0.0.4): counters and histograms
 * with labels. Kept in-process and dependency-free so it runs unchanged on Node and Deno.
 */
import { Context, Layer } from "effect";

type Labels = Readonly<Record<string, string>>;

function labelText(labels: Labels): string {
  const entries = Object.entries(labels);
  if (entries.length === 0) return "";
  const escape = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
  return `{${entries.map(([key, value]) => `${key}="${escape(value)}"`).join(",")}}`;
}

class Counter {
  readonly #values = new Map<string, { labels: Labels; value: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  inc(labels: Labels = {}, by = 1): void {
    const key = labelText(labels);
    const entry = this.#values.get(key) ?? { labels, value: 0 };
    entry.value += by;
    this.#values.set(key, entry);
  }
  /** The count for these labels so far. */
  value(labels: Labels = {}): number {
    return this.#values.get(labelText(labels))?.value ?? 0;
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} counter`];
    for (const [key, entry] of this.#values) lines.push(`${this.name}${key} ${entry.value}`);
    return lines.join("\n");
  }
}

class Gauge {
  #value = 0;
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }
  set(value: number): void {
    this.#value = value;
  }
  value(): number {
    return this.#value;
  }
  render(): string {
    return [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} gauge`, `${this.name} ${this.#value}`].join("\n");
  }
}

class Histogram {
  readonly #buckets: ReadonlyArray<number>;
  readonly #counts: number[];
  #sum = 0;
  #count = 0;
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string, buckets: ReadonlyArray<number>) {
    this.name = name;
    this.help = help;
    this.#buckets = [...buckets].sort((a, b) => a - b);
    this.#counts = this.#buckets.map(() => 0);
  }
  observe(seconds: number): void {
    this.#sum += seconds;
    this.#count += 1;
    this.#buckets.forEach((bound, index) => {
      if (seconds <= bound) this.#counts[index] = (this.#counts[index] ?? 0) + 1;
    });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.#buckets.forEach((bound, index) => lines.push(`${this.name}_bucket{le="${bound}"} ${this.#counts[index] ?? 0}`));
    lines.push(`${this.name}_bucket{le="+Inf"} ${this.#count}`, `${this.name}_sum ${this.#sum}`, `${this.name}_count ${this.#count}`);
    return lines.join("\n");
  }
}

const LATENCY_BUCKETS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export function makeMetrics() {
  const decisions = new Counter("zt_decisions_total", "Decisions recorded, by status and reason.");
  const decisionLatency = new Histogram("zt_decision_duration_seconds", "Time from request body read to decision recorded.", LATENCY_BUCKETS);
  const appendLatency = new Histogram("zt_store_append_duration_seconds", "Latency of a decision's one store call (its events, the spent nonce with them), the durable commit included.", LATENCY_BUCKETS);
  const storeFailures = new Counter("zt_store_failures_total", "Event store operations that failed, by reason.");
  const auditRecords = new Counter("zt_audit_records_total", "Audit records projected by this instance.");
  const auditLag = new Gauge("zt_audit_projection_lag_events", "Events in the store not yet in the audit chain (counted up to 10000).");
  const checkpoints = new Counter("zt_audit_checkpoints_sealed_total", "Checkpoints sealed by this instance.");
  const executions = new Counter("zt_executions_total", "Executions of allowed decisions, by broker and outcome (completed, or the failure reason).");
  const unhashableEvents = new Counter("zt_audit_unhashable_events_total", "Stored events that could not be canonicalised and were chained with the stand-in hash (zt audit verify fails on each).");
  const auditWriterUp = new Gauge("zt_audit_writer_up", "1 while the audit projection writer runs or stands by for another instance's lease, 0 while it is restarting after a failure.");
  const anchorDiverged = new Gauge("zt_anchor_diverged", "1 when the audit log diverges from the chain's latest anchor (anchoring stopped, an alarm), else 0.");
  const all = [decisions, decisionLatency, appendLatency, storeFailures, auditRecords, auditLag, checkpoints, executions, unhashableEvents, auditWriterUp, anchorDiverged];
  return {
    decisions,
    decisionLatency,
    appendLatency,
    storeFailures,
    auditRecords,
    auditLag,
    checkpoints,
    executions,
    unhashableEvents,
    auditWriterUp,
    anchorDiverged,
    render: () => `${all.map((metric) => metric.render()).join("\n")}\n`,
  };
}

export type MetricsShape = ReturnType<typeof makeMetrics>;

export class Metrics extends Context.Tag("zt/Metrics")<Metrics, MetricsShape>() {
  static readonly layer: Layer.Layer<Metrics> = Layer.sync(Metrics, makeMetrics);
}
