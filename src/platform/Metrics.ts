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
  /** Per label set: counts per bucket, sum and count. */
  readonly #series = new Map<string, { counts: number[]; sum: number; count: number }>();
  readonly name: string;
  readonly help: string;
  constructor(name: string, help: string, buckets: ReadonlyArray<number>) {
    this.name = name;
    this.help = help;
    this.#buckets = [...buckets].sort((a, b) => a - b);
  }
  observe(seconds: number, labels: Labels = {}): void {
    const key = labelText(labels);
    const series = this.#series.get(key) ?? { counts: this.#buckets.map(() => 0), sum: 0, count: 0 };
    series.sum += seconds;
    series.count += 1;
    this.#buckets.forEach((bound, index) => {
      if (seconds <= bound) series.counts[index] = (series.counts[index] ?? 0) + 1;
    });
    this.#series.set(key, series);
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    // A histogram without labels renders (all zero) before its first observation, as before.
    const series = this.#series.size === 0 ? new Map([["", { counts: this.#buckets.map(() => 0), sum: 0, count: 0 }]]) : this.#series;
    for (const [key, { counts, sum, count }] of series) {
      const inner = key === "" ? "" : `${key.slice(1, -1)},`;
      this.#buckets.forEach((bound, index) => lines.push(`${this.name}_bucket{${inner}le="${bound}"} ${counts[index] ?? 0}`));
      lines.push(`${this.name}_bucket{${inner}le="+Inf"} ${count}`, `${this.name}_sum${key} ${sum}`, `${this.name}_count${key} ${count}`);
    }
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
  const candidateDisagreements = new Counter("zt_policy_candidate_disagreements_total", "Decisions the candidate policy bundle would have answered otherwise, by the first differing check and both answers (allowed or the reason).");
  const candidateEventsLost = new Counter("zt_policy_candidate_events_lost_total", "Candidate disagreements counted but not recorded as events (the queue was full or the store refused them).");
  const policyReloads = new Counter("zt_policy_reloads_total", "Policy reloads asked for, by outcome (activated, unchanged, refused, unrecorded).");
  const budgetConflicts = new Counter("zt_budget_append_conflicts_total", "Budget charges refused because another writer appended to the budget first (the call is decided again).");
  const budgetReclaims = new Counter("zt_budget_charges_reclaimed_total", "Budget charges voided because their decision was never recorded.");
  const mcpCalls = new Counter("zt_mcp_calls_total", "Decided MCP calls (tools/call, resources/read, prompts/get) by server, method, name and outcome (answered, denied, refused, unrecorded, unanswered, cancelled).");
  const mcpDenials = new Counter("zt_mcp_denials_total", "Decided MCP calls answered by the gateway instead of the upstream, by server, name and reason.");
  const mcpUpstreamLatency = new Histogram("zt_mcp_upstream_duration_seconds", "Time an allowed MCP call took upstream, by server.", LATENCY_BUCKETS);
  const mcpSessions = new Gauge("zt_mcp_sessions", "Open MCP gateway sessions.");
  const mcpUpstreamRestarts = new Counter("zt_mcp_upstream_restarts_total", "Upstream MCP connections lost or not made (each is then made again with backoff), by server.");
  const registry = {
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
    candidateDisagreements,
    candidateEventsLost,
    policyReloads,
    budgetConflicts,
    budgetReclaims,
    mcpCalls,
    mcpDenials,
    mcpUpstreamLatency,
    mcpSessions,
    mcpUpstreamRestarts,
  };
  return { ...registry, render: () => `${Object.values(registry).map((metric) => metric.render()).join("\n")}\n` };
}

export type MetricsShape = ReturnType<typeof makeMetrics>;

export class Metrics extends Context.Tag("zt/Metrics")<Metrics, MetricsShape>() {
  static readonly layer: Layer.Layer<Metrics> = Layer.sync(Metrics, makeMetrics);
}
