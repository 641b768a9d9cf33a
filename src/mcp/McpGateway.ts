/**
 * The MCP gateway (contract section 8) as a service: the upstreams of the bundle's
 * `mcp.json`, the caller sessions (each an MCP SDK streamable-HTTP server transport with
 * its own upstream connections), and the HTTP handling of `/mcp` and `/mcp/<server_id>`.
 *
 * Before a POST reaches a session it is read here, bounded (MAX_MCP_BODY_BYTES) and
 * strictly (RFC 8259 with no duplicate key, bounded nesting; each message a JSON-RPC
 * message). A body refused here is a `malformed_request` decision, recorded with the
 * sha256 of its bytes like a refused `POST /actions` body, and answered with a JSON-RPC
 * error; nothing is forwarded. A session belongs to the caller and the endpoint that
 * opened it: any other caller, or another endpoint, is told it does not exist (404).
 *
 * Sessions are bounded: per caller (its least recently used idle one gives way to a new
 * one) and in all (`ZT_MCP_MAX_SESSIONS`; past it, 503), and a session idle for
 * `ZT_MCP_SESSION_IDLE_SECONDS` is closed with its upstream sessions.
 */
import { Context, Data, Effect, Layer, Runtime } from "effect";
import { DecisionService } from "../decisions/DecisionService.ts";
import { EventStore } from "../events/EventStore.ts";
import { hostEntry } from "../execution/bwrap/BwrapBroker.ts";
import { findOnPath } from "../execution/runSandboxProcess.ts";
import type { Principal } from "../identity/Credentials.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { parseStrictJsonBytes } from "../kernel/strictJson.ts";
import { readCappedBody } from "../http/readBody.ts";
import { Ids } from "../platform/Ids.ts";
import { Metrics } from "../platform/Metrics.ts";
import { ActivePolicy } from "../policy/ActivePolicy.ts";
import type { McpServerConfig } from "../policy/McpServers.ts";
import { decisionStream } from "../vocabulary/DecisionId.ts";
import { GatewaySession, type SessionServer, type SessionTiming } from "./GatewaySession.ts";
import { makeMcpCalls, type McpCallServer } from "./McpCalls.ts";
import { DEFAULT_INHERITED_ENV_VARS, isInitializeRequest, JSONRPCMessageSchema, StdioClientTransport, StreamableHTTPClientTransport, type Transport } from "./mcpSdk.ts";
import { dockerUser, planStdioServer, stdioLaunch, type SandboxTools } from "./upstreamLaunch.ts";

/** Largest body a POST to an MCP endpoint may have. */
export const MAX_MCP_BODY_BYTES = 1024 * 1024;
/** Sessions one caller may hold at once. */
export const MAX_SESSIONS_PER_CALLER = 16;
/** Distinct names per server kept as metrics labels (the rest share one label). */
const MAX_LABELLED_NAMES = 1000;
const IDLE_SWEEP_MS = 30_000;

export const DEFAULT_SESSION_TIMING: SessionTiming = {
  initializeWaitMs: 15_000,
  connectingWaitMs: 5_000,
  connectTimeoutMs: 15_000,
  backoff: { baseMs: 500, maxMs: 30_000 },
};

export interface McpGatewayOptions {
  readonly dataDir: string;
  /** Where mcp.json's relative paths start (the control plane's working directory). */
  readonly cwd: string;
  readonly maxSessions: number;
  readonly idleSeconds: number;
  readonly version: string;
  /** The engine of the docker sandbox (`DOCKER_HOST` for the docker CLI). */
  readonly dockerHost?: string;
  readonly timing?: SessionTiming;
}

export interface McpGatewayShape {
  /** The server ids of `/mcp/<server_id>`. */
  readonly serverIds: ReadonlyArray<string>;
  /** Answers one HTTP request to `/mcp` (scope null) or `/mcp/<scope>` from an agent. */
  readonly handle: (request: Request, principal: Principal & { readonly role: "agent" }, scope: string | null) => Promise<Response>;
}

/** An mcp.json entry that must not run at all (it would expose the data directory): the service does not start. */
export class McpSetupError extends Data.TaggedError("McpSetupError")<{ readonly message: string }> {}

export class McpGateway extends Context.Tag("zt/McpGateway")<McpGateway, McpGatewayShape>() {
  static readonly layer = (options: McpGatewayOptions) => Layer.scoped(McpGateway, makeMcpGateway(options));
}

/** A JSON-RPC error answered over HTTP (as the MCP SDK's transport answers its own). */
function jsonRpcError(status: number, code: number, message: string, data?: Record<string, unknown>, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify({ jsonrpc: "2.0", error: { code, message, ...(data === undefined ? {} : { data }) }, id: null }), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function makeMcpGateway(options: McpGatewayOptions) {
  return Effect.gen(function* () {
    const policy = yield* ActivePolicy;
    const decisions = yield* DecisionService;
    const store = yield* EventStore;
    const ids = yield* Ids;
    const metrics = yield* Metrics;
    const runtime = yield* Effect.runtime<never>();
    const run = Runtime.runPromise(runtime);

    const bwrap = findOnPath("bwrap");
    const docker = findOnPath("docker");
    const tools: SandboxTools = {
      inherited: DEFAULT_INHERITED_ENV_VARS,
      host: hostEntry,
      dockerUser: dockerUser(),
      ...(bwrap === undefined ? {} : { bwrap }),
      ...(docker === undefined ? {} : { docker }),
      ...(options.dockerHost === undefined ? {} : { dockerHost: options.dockerHost }),
    };

    const sessionServers = new Map<string, SessionServer>();
    const callServers = new Map<string, McpCallServer>();
    for (const [serverId, config] of Object.entries(policy.mcp.servers) as Array<[string, McpServerConfig]>) {
      if (config.transport === "http") {
        const url = new URL(config.url);
        sessionServers.set(serverId, { timeoutMs: config.timeout_ms, pathRoot: undefined, transport: () => new StreamableHTTPClientTransport(url, { requestInit: { headers: { ...config.headers } } }) });
        callServers.set(serverId, { timeoutMs: config.timeout_ms, paths: undefined });
        continue;
      }
      const plan = planStdioServer(serverId, config, { dataDir: options.dataDir, cwd: options.cwd });
      if (typeof plan === "string") {
        if (plan.includes("overlaps the data directory")) return yield* Effect.fail(new McpSetupError({ message: plan }));
        yield* Effect.logWarning("an MCP server cannot run on this host; calls to it are answered upstream_unavailable").pipe(Effect.annotateLogs({ server_id: serverId, problem: plan }));
        sessionServers.set(serverId, { timeoutMs: config.timeout_ms, pathRoot: undefined, transport: () => plan });
        callServers.set(serverId, { timeoutMs: config.timeout_ms, paths: undefined });
        continue;
      }
      const paths = config.path_arguments.length > 0 ? { root: plan.dir, arguments: config.path_arguments } : undefined;
      const transport = (): Transport | string => {
        const launch = stdioLaunch(plan, tools);
        if (typeof launch === "string") return launch;
        const stdio = new StdioClientTransport({ command: launch.command, args: [...launch.args], env: { ...launch.env }, stderr: "pipe", ...(launch.cwd === undefined ? {} : { cwd: launch.cwd }) });
        // The server's stderr is read and dropped: unread, a full pipe would stall it, and it may hold anything.
        stdio.stderr?.on("data", () => undefined);
        return stdio;
      };
      sessionServers.set(serverId, { timeoutMs: config.timeout_ms, pathRoot: paths?.root, transport });
      callServers.set(serverId, { timeoutMs: config.timeout_ms, paths });
    }

    const listedNames = new Map<string, Set<string>>();
    const calls = makeMcpCalls({
      servers: callServers,
      policyId: () => policy.policyId,
      decide: (principal, call, context) => run(decisions.decideCall(principal, call, context)),
      record: (decision, revision, type, data) =>
        run(
          Effect.gen(function* () {
            yield* store.append(decisionStream(decision.decision_id), [{ id: yield* ids.uuid, type, data }], { revision });
          }).pipe(
            Effect.tapError((error) => Effect.logError("an MCP call's outcome was not recorded").pipe(Effect.annotateLogs({ decision_id: decision.decision_id, reason: error.reason }))),
          ),
        ),
      metrics,
      nameLabel: (serverId, name) => (listedNames.get(serverId)?.has(name) ? name : "(unlisted)"),
      connectingWaitMs: (options.timing ?? DEFAULT_SESSION_TIMING).connectingWaitMs,
    });

    const sessions = new Map<string, GatewaySession>();
    const updateGauge = () => metrics.mcpSessions.set(sessions.size);
    const deps = {
      version: options.version,
      servers: sessionServers,
      calls,
      couldAllow: (actor: string, action: string, resource: string | null, serverId: string) =>
        policy.couldAllow({ actor, action, resource, contextKeys: callServers.get(serverId)?.paths === undefined ? ["arguments"] : ["arguments", "within"] }),
      listed: (serverId: string, names: ReadonlyArray<string>) => {
        const known = listedNames.get(serverId) ?? new Set<string>();
        listedNames.set(serverId, known);
        for (const name of names) if (known.size < MAX_LABELLED_NAMES) known.add(name);
      },
      onUpstreamLost: (serverId: string, detail: string) => {
        metrics.mcpUpstreamRestarts.inc({ server: serverId });
        void run(Effect.logWarning("an MCP upstream is unavailable; reconnecting with backoff").pipe(Effect.annotateLogs({ server_id: serverId, detail })));
      },
      timing: options.timing ?? DEFAULT_SESSION_TIMING,
    };

    const closeSession = (session: GatewaySession) => {
      const id = session.sessionId;
      if (id !== undefined && sessions.get(id) === session) sessions.delete(id);
      updateGauge();
      return session.close();
    };

    /** Room for one more session of `actor`: its least recently used idle session gives way at its limit; false when the gateway is full. */
    const makeRoom = async (actor: string): Promise<boolean> => {
      const own = [...sessions.values()].filter((session) => session.principal.actor === actor);
      if (own.length >= MAX_SESSIONS_PER_CALLER) {
        const idle = own.filter((session) => session.active === 0).sort((a, b) => a.lastSeen - b.lastSeen)[0];
        if (idle === undefined) return false;
        await closeSession(idle);
      }
      return sessions.size < options.maxSessions;
    };

    const sweep = setInterval(() => {
      const cutoff = Date.now() - options.idleSeconds * 1000;
      for (const session of sessions.values()) if (session.active === 0 && session.lastSeen < cutoff) void closeSession(session);
    }, IDLE_SWEEP_MS);
    (sweep as { unref?: () => void }).unref?.();
    yield* Effect.addFinalizer(() =>
      Effect.promise(async () => {
        clearInterval(sweep);
        await Promise.all([...sessions.values()].map(closeSession));
      }),
    );

    /** Records a body refused before any session saw it, and its answer. */
    const refuse = async (principal: Principal, bytes: Uint8Array, status: 400 | 413, code: number, message: string, problem: { readonly path: string; readonly kind: string; readonly message: string }) => {
      const outcome = await run(decisions.decideCall(principal, { requestSha256: sha256Hex(bytes), parsed: { ok: false, problems: [problem], httpStatus: status } }));
      // A body that is not a call is refused by the decider's first check: recorded as malformed, or not recorded at all.
      const recorded = outcome._tag !== "Unrecorded";
      const decision = { decision_id: recorded ? outcome.decided.decision.decision_id : outcome.decisionId };
      const reason = recorded ? "malformed_request" : "audit_unavailable";
      return jsonRpcError(recorded ? status : 503, code, message, { ...decision, status: "denied", reason, errors: [{ path: problem.path, kind: problem.kind }] });
    };

    const handle = async (request: Request, principal: Principal & { readonly role: "agent" }, scope: string | null): Promise<Response> => {
      const sessionId = request.headers.get("mcp-session-id");
      const known = sessionId === null ? undefined : sessions.get(sessionId);
      const session = known !== undefined && known.principal.actor === principal.actor && known.scope === scope ? known : undefined;
      if (request.method === "GET" || request.method === "DELETE") {
        if (sessionId === null) return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
        if (session === undefined) return jsonRpcError(404, -32001, "Session not found");
        session.lastSeen = Date.now();
        return session.transport.handleRequest(request);
      }
      if (request.method !== "POST") return jsonRpcError(405, -32000, "Method not allowed.", undefined, { allow: "GET, POST, DELETE" });

      const body = await readCappedBody(request, MAX_MCP_BODY_BYTES);
      if (body.tooLarge) return refuse(principal, body.bytes, 413, -32000, `Payload Too Large: the body exceeds ${MAX_MCP_BODY_BYTES} bytes`, { path: "$", kind: "size", message: `the body exceeds ${MAX_MCP_BODY_BYTES} bytes` });
      const json = parseStrictJsonBytes(body.bytes);
      if (!json.ok) return refuse(principal, body.bytes, 400, -32700, "Parse error: the body is not acceptable JSON", json.problem);
      const messages = Array.isArray(json.value) ? json.value : [json.value];
      const invalid = messages.findIndex((message) => !JSONRPCMessageSchema.safeParse(message).success);
      if (messages.length === 0 || invalid >= 0) {
        const path = Array.isArray(json.value) ? `$[${Math.max(invalid, 0)}]` : "$";
        return refuse(principal, body.bytes, 400, -32600, "Invalid Request: not a JSON-RPC 2.0 message", { path, kind: "jsonrpc", message: "not a JSON-RPC 2.0 request, notification or response" });
      }

      if (sessionId !== null) {
        if (session === undefined) return jsonRpcError(404, -32001, "Session not found");
        session.lastSeen = Date.now();
        return session.transport.handleRequest(request, { parsedBody: json.value });
      }
      if (!messages.some((message) => isInitializeRequest(message))) return jsonRpcError(400, -32000, "Bad Request: Mcp-Session-Id header is required");
      if (!(await makeRoom(principal.actor))) return jsonRpcError(503, -32000, "Service Unavailable: the gateway holds as many MCP sessions as it may; close one (DELETE) or retry later");
      const created: GatewaySession = new GatewaySession(principal, scope, deps, {
        initialized: (id) => {
          sessions.set(id, created);
          updateGauge();
        },
        closed: () => void closeSession(created),
      });
      await created.server.connect(created.transport);
      const response = await created.transport.handleRequest(request, { parsedBody: json.value });
      if (created.sessionId === undefined) await created.close();
      return response;
    };

    return { serverIds: [...sessionServers.keys()], handle } satisfies McpGatewayShape;
  });
}
