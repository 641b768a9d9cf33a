/**
 * A decided MCP call from end to end (contract section 8): read the params, resolve the
 * path arguments of a server that declares them (`context.within`), decide through the
 * decision service (the same decider, store and audit chain as `POST /actions`: one
 * ActionDecided per call), then either answer in the upstream's stead or forward the
 * call and record what became of it (McpCallAnswered / McpCallFailed, hashes only) on
 * the decision's stream before the answer goes back. Answers come from mcpAnswer.ts.
 */
import type { DecisionContext, DecisionOutcome, ParsedCall } from "../decisions/DecisionService.ts";
import type { ActionDecided } from "../decisions/events.ts";
import type { JsonObject } from "../events/EventStore.ts";
import type { Principal } from "../identity/Credentials.ts";
import { canonicalJson } from "../kernel/jcs.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import type { MetricsShape } from "../platform/Metrics.ts";
import { MCP_CALL_ANSWERED, MCP_CALL_FAILED, type McpCallAnswered, type McpCallFailed, type McpCallFailureReason } from "./events.ts";
import { afterDecision, mcpAnswer, type CallOutcome, type McpAnswer } from "./mcpAnswer.ts";
import { decisionRequest, pathArgumentValues, readCall, withinOf, type DecidedMethod, type ReadCall } from "./mcpCall.ts";
import { McpError, type Client, type Result } from "./mcpSdk.ts";
import { resolveServerPath } from "./resolveServerPath.ts";

export interface CallRequest {
  readonly principal: Principal & { readonly role: "agent" };
  /** The server the call names, or undefined when it names none of this gateway's. */
  readonly serverId: string | undefined;
  readonly method: DecidedMethod;
  /** The params as the upstream gets them (on `/mcp`, the name without its prefix). */
  readonly params: Record<string, unknown>;
  /** The caller's cancellation. */
  readonly signal: AbortSignal;
  /** The caller's W3C traceparent (parsed), recorded with the decision. */
  readonly traceparent: string | undefined;
  /** The upstream's client, waiting at most this long for one being connected. */
  readonly upstream: (waitMs: number) => Promise<Client | undefined>;
  /** Sends the call upstream as the caller sent it (progress and the upstream's own requests relayed). */
  readonly forward: (client: Client, options: { readonly timeoutMs: number; readonly signal: AbortSignal }) => Promise<Result>;
}

export interface McpCallServer {
  readonly timeoutMs: number;
  /** Its directory and path arguments, for a server that resolves them. */
  readonly paths: { readonly root: string; readonly arguments: ReadonlyArray<string> } | undefined;
}

export interface McpCallsDeps {
  readonly servers: ReadonlyMap<string, McpCallServer>;
  /** The policy in force (a reload may change it), named by a call the store could not record. */
  readonly policyId: () => string;
  readonly decide: (principal: Principal, call: ParsedCall, context: DecisionContext) => Promise<DecisionOutcome>;
  /** Appends an event to a decision's stream after its ActionDecided (at `revision`). */
  readonly record: (decision: ActionDecided, revision: number, type: string, data: JsonObject) => Promise<void>;
  readonly metrics: MetricsShape;
  /** The metrics label of a name a server offers (names nobody listed share one label). */
  readonly nameLabel: (serverId: string, name: string) => string;
  /** How long a call waits for an upstream that is being connected. */
  readonly connectingWaitMs: number;
}

export interface McpCalls {
  /** Decides and, when allowed, forwards one call; its answer as a result, or thrown as an McpError. */
  readonly call: (request: CallRequest) => Promise<Result>;
}

/** Where the upstream's answer failed to come from: a local failure of the SDK client, not an error the upstream sent. */
type Failure = { readonly reason: McpCallFailureReason; readonly message: string };

function delivered(answer: McpAnswer): Result {
  if ("result" in answer) return answer.result as Result;
  throw new McpError(answer.error.code, answer.error.message, answer.error.data);
}

const digest = (value: unknown) => {
  const canonical = canonicalJson(value);
  return sha256Hex(canonical.ok ? canonical.text : (JSON.stringify(value) ?? ""));
};

export function makeMcpCalls(deps: McpCallsDeps): McpCalls {
  const { metrics } = deps;

  const readFor = (request: CallRequest): ReadCall => {
    if (request.serverId !== undefined) return readCall(request.method, request.params);
    const path = request.method === "resources/read" ? "$.params.uri" : "$.params.name";
    const message = request.method === "resources/read" ? "names no resource this gateway listed" : "names no server of this gateway (<server_id>__<name>)";
    return { ok: false, problems: [{ path, kind: "unknown_server", message }] };
  };

  const withinFor = async (server: McpCallServer | undefined, read: ReadCall): Promise<ReadonlyArray<string> | undefined> => {
    if (server?.paths === undefined || !read.ok) return undefined;
    const { root } = server.paths;
    const values = pathArgumentValues(read.call.arguments, server.paths.arguments);
    return withinOf(await Promise.all(values.map((value) => (value === null ? null : resolveServerPath(root, value)))));
  };

  /** Records how the forwarded call ended; a store failure here is logged by the store's metrics and does not change the answer. */
  const recordAfter = (decision: ActionDecided, revision: number, type: string, data: McpCallAnswered | McpCallFailed) =>
    deps.record(decision, revision, type, data as unknown as JsonObject).catch(() => undefined);

  const call = async (request: CallRequest): Promise<Result> => {
    const server = request.serverId === undefined ? undefined : deps.servers.get(request.serverId);
    const serverId = request.serverId ?? "";
    const read = readFor(request);
    const within = await withinFor(server, read);
    const parsed = decisionRequest(request.principal.actor, serverId, read, request.method, request.params, within);
    const outcome = await deps.decide(request.principal, parsed, { traceparent: request.traceparent });
    const after = afterDecision(outcome, deps.policyId());
    const name = read.ok ? deps.nameLabel(serverId, read.call.target) : "(malformed)";
    const labels = { server: request.serverId ?? "(none)", method: request.method, name };

    const answer = (kind: string, callOutcome: CallOutcome): Result => {
      metrics.mcpCalls.inc({ ...labels, outcome: kind });
      return delivered(mcpAnswer(request.method, callOutcome));
    };

    if (after.next === "answer") {
      const { outcome: callOutcome } = after;
      if (callOutcome.kind === "denied" || callOutcome.kind === "refused") metrics.mcpDenials.inc({ server: labels.server, name, reason: callOutcome.decision.reason ?? "policy_denied" });
      if (callOutcome.kind === "unrecorded") metrics.mcpDenials.inc({ server: labels.server, name, reason: "audit_unavailable" });
      return answer(callOutcome.kind, callOutcome);
    }

    const { decision, revision } = after;
    const started = performance.now();
    const failed = async (failure: Failure): Promise<Result> => {
      const duration_ms = Math.round(performance.now() - started);
      await recordAfter(decision, revision, MCP_CALL_FAILED, { decision_id: decision.decision_id, server_id: serverId, method: request.method, reason: failure.reason, message: failure.message, duration_ms });
      return answer(failure.reason === "cancelled" ? "cancelled" : "unanswered", { kind: "unanswered", decision, message: failure.message });
    };

    const client = await request.upstream(deps.connectingWaitMs);
    if (client === undefined) return failed({ reason: "upstream_unavailable", message: "the upstream server is down; the gateway is restarting it" });

    const timeoutMs = server?.timeoutMs ?? 60_000;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), timeoutMs);
    const signal = AbortSignal.any([request.signal, deadline.signal]);
    let response: { readonly result: Result } | { readonly error: McpError } | { readonly failure: Failure };
    try {
      response = { result: await request.forward(client, { timeoutMs: timeoutMs + 1_000, signal }) };
    } catch (error) {
      const closed = client.transport === undefined;
      if (request.signal.aborted) response = { failure: { reason: "cancelled", message: "the caller cancelled the call" } };
      else if (deadline.signal.aborted) response = { failure: { reason: "timeout", message: `the upstream did not answer within ${timeoutMs} ms` } };
      else if (closed || !(error instanceof McpError)) response = { failure: { reason: "upstream_unavailable", message: "the upstream connection ended before it answered" } };
      else response = { error };
    } finally {
      clearTimeout(timer);
    }
    metrics.mcpUpstreamLatency.observe((performance.now() - started) / 1000, { server: serverId });

    // A cancelled call's answer is dropped by the SDK (the caller gave up on it); its failure is still recorded.
    if ("failure" in response) return failed(response.failure);
    const duration_ms = Math.round(performance.now() - started);
    if ("error" in response) {
      const { error } = response;
      const body = { code: error.code, message: error.message, ...(error.data === undefined ? {} : { data: error.data }) };
      await recordAfter(decision, revision, MCP_CALL_ANSWERED, {
        decision_id: decision.decision_id,
        server_id: serverId,
        method: request.method,
        response_sha256: digest(body),
        is_error: false,
        error_code: error.code,
        duration_ms,
      });
      metrics.mcpCalls.inc({ ...labels, outcome: "answered" });
      throw error;
    }
    const { result } = response;
    await recordAfter(decision, revision, MCP_CALL_ANSWERED, {
      decision_id: decision.decision_id,
      server_id: serverId,
      method: request.method,
      response_sha256: digest(result),
      is_error: result["isError"] === true,
      error_code: null,
      duration_ms,
    });
    return answer("answered", { kind: "answered", answer: { result } });
  };

  return { call };
}
