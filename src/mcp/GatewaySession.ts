/**
 * One caller's MCP session on the gateway (contract section 8): an MCP SDK `Server` on
 * the session's streamable-HTTP transport, in front of one upstream (`/mcp/<server_id>`,
 * the upstream's own names) or all of them (`/mcp`, names prefixed `<server_id>__`),
 * each through an UpstreamLink of this session.
 *
 * - `initialize` is answered with the upstream's own answer (its capabilities, server
 *   info and instructions) after the upstream was initialized with the caller's client
 *   info and capabilities; on `/mcp` the capabilities are merged.
 * - `tools/call`, `resources/read`, `prompts/get` are each one decision (McpCalls); only
 *   an allowed call reaches the upstream, and its answer comes back unchanged.
 * - Lists show the caller what the policy could allow it (PolicyBundle.couldAllow).
 * - Everything else is forwarded as it is, both ways: requests and their results or
 *   errors, notifications, progress (the caller's progress token is given back),
 *   cancellation, and the upstream's own requests (sampling, elicitation, roots), which
 *   go to the caller on the stream of the request being served, if any.
 *
 * A server that resolves path arguments never sees the caller's roots: it keeps its own
 * directory as its only root, so that a path means to it what it meant to the decision.
 */
import { pathToFileURL } from "node:url";
import type { Principal } from "../identity/Credentials.ts";
import { isRecord } from "../kernel/isRecord.ts";
import { parseTraceParent } from "../kernel/traceparent.ts";
import { GATEWAY_ANSWERED } from "./mcpAnswer.ts";
import { isDecidedMethod, mcpResource, type DecidedMethod } from "./mcpCall.ts";
import type { McpCalls } from "./McpCalls.ts";
import { ErrorCode, InitializeRequestSchema, LATEST_PROTOCOL_VERSION, McpError, ResultSchema, Server, SetLevelRequestSchema, SUPPORTED_PROTOCOL_VERSIONS, UriTemplate, WebStandardStreamableHTTPServerTransport, type Client, type ClientCapabilities, type Implementation, type InitializeRequest, type InitializeResult, type JSONRPCRequest, type Notification, type RequestHandlerExtra, type RequestId, type Result, type ServerCapabilities, type Transport } from "./mcpSdk.ts";
import { UpstreamLink } from "./UpstreamLink.ts";

/** What a session needs of the gateway. */
export interface SessionDeps {
  readonly version: string;
  /** The servers a session may reach, with what their sessions need of them. */
  readonly servers: ReadonlyMap<string, SessionServer>;
  readonly calls: McpCalls;
  /** Whether some call could make the policy allow `actor` this action on this resource (null: any resource). */
  readonly couldAllow: (actor: string, action: string, resource: string | null, serverId: string) => boolean;
  /** Notes the names a server listed (for metrics labels). */
  readonly listed: (serverId: string, names: ReadonlyArray<string>) => void;
  readonly onUpstreamLost: (serverId: string, detail: string) => void;
  readonly timing: SessionTiming;
}

export interface SessionServer {
  /** A fresh transport to the upstream, or why this host cannot make one. */
  readonly transport: () => Transport | string;
  /** How long a forwarded request waits for the upstream's answer. */
  readonly timeoutMs: number;
  /** Its own directory, for a server that resolves path arguments (then it gets that as its only root). */
  readonly pathRoot: string | undefined;
}

export interface SessionTiming {
  /** How long `initialize` waits for an upstream to come up before answering without it. */
  readonly initializeWaitMs: number;
  /** How long a call waits for an upstream that is being connected (one that is down is not waited for). */
  readonly connectingWaitMs: number;
  /** Bound on one upstream initialization. */
  readonly connectTimeoutMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
}

/** Everything a gateway session can relay; the answer to `initialize` narrows it to the upstream's. */
const RELAY_CAPABILITIES: ServerCapabilities = {
  tools: { listChanged: true },
  resources: { subscribe: true, listChanged: true },
  prompts: { listChanged: true },
  logging: {},
  completions: {},
};

/** The separator of `/mcp`'s names: `<server_id>__<name>` (server ids have no `_`). */
export const NAME_SEPARATOR = "__";
/** Pages of an upstream's list that `/mcp` reads at most, to merge them. */
const MAX_LIST_PAGES = 50;
/** How long the caller has to answer an upstream's request relayed to it. */
const RELAY_TIMEOUT_MS = 10 * 60 * 1000;

type Extra = RequestHandlerExtra<any, any>;
type ListKind = "tools" | "prompts" | "resources" | "resourceTemplates";

const LISTS: Record<string, { readonly kind: ListKind; readonly action: string } | undefined> = {
  "tools/list": { kind: "tools", action: "mcp.tools_call" },
  "prompts/list": { kind: "prompts", action: "mcp.prompts_get" },
  "resources/list": { kind: "resources", action: "mcp.resources_read" },
  "resources/templates/list": { kind: "resourceTemplates", action: "mcp.resources_read" },
};

const unavailable = (serverId: string) => new McpError(GATEWAY_ANSWERED, `the upstream server ${serverId} is unavailable; the gateway is restarting it`, { status: "failed", reason: "upstream_unavailable" });

export class GatewaySession {
  readonly transport: WebStandardStreamableHTTPServerTransport;
  readonly server: Server;
  readonly principal: Principal & { readonly role: "agent" };
  /** The one server of `/mcp/<server_id>`, or null for `/mcp`. */
  readonly scope: string | null;
  lastSeen = Date.now();
  readonly #deps: SessionDeps;
  readonly #links = new Map<string, UpstreamLink>();
  /** Requests of the caller being served by each upstream, oldest first: where that upstream's own messages go. */
  readonly #serving = new Map<string, RequestId[]>();
  /** `/mcp`: which server listed each resource URI, and each server's URI templates. */
  readonly #resourceServer = new Map<string, string>();
  readonly #templates = new Map<string, ReadonlyArray<UriTemplate>>();
  #closed = false;
  /** Requests being served now; a session with none may be closed when idle. */
  active = 0;

  constructor(principal: Principal & { readonly role: "agent" }, scope: string | null, deps: SessionDeps, onSession: { readonly initialized: (id: string) => void; readonly closed: () => void }) {
    this.principal = principal;
    this.scope = scope;
    this.#deps = deps;
    this.transport = new WebStandardStreamableHTTPServerTransport({
      sessionIdGenerator: () => crypto.randomUUID(),
      onsessioninitialized: onSession.initialized,
    });
    this.server = new Server({ name: "zt-infra-mcp-gateway", version: deps.version }, { capabilities: RELAY_CAPABILITIES });
    this.server.setRequestHandler(InitializeRequestSchema, (request) => this.#initialize(request));
    this.server.setRequestHandler(SetLevelRequestSchema, (request, extra) => this.#serve(request as unknown as JSONRPCRequest, extra));
    this.server.fallbackRequestHandler = (request, extra) => this.#serve(request, extra);
    this.server.fallbackNotificationHandler = (notification) => this.#notifyUpstreams(notification);
    this.server.onclose = () => {
      void this.close();
      onSession.closed();
    };
  }

  get sessionId(): string | undefined {
    return this.transport.sessionId;
  }

  /** Ends the session and every upstream session it opened. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const links = [...this.#links.values()];
    this.#links.clear();
    await Promise.all(links.map((link) => link.close()));
    await this.server.close().catch(() => undefined);
  }

  // --- initialize -------------------------------------------------------------------

  async #initialize(request: InitializeRequest): Promise<InitializeResult> {
    const { protocolVersion, capabilities, clientInfo } = request.params;
    const negotiated = SUPPORTED_PROTOCOL_VERSIONS.includes(protocolVersion) ? protocolVersion : LATEST_PROTOCOL_VERSION;
    // A session closed meanwhile (evicted, deleted) must not start upstreams nothing would end.
    if (this.#closed) throw new McpError(ErrorCode.ConnectionClosed, "the session is closed");
    const ids = this.scope === null ? [...this.#deps.servers.keys()] : [this.scope];
    for (const id of ids) if (!this.#links.has(id)) this.#links.set(id, this.#link(id, clientInfo, capabilities));
    const clients = await Promise.all(ids.map((id) => this.#links.get(id)!.ready(this.#deps.timing.initializeWaitMs)));
    if (this.scope !== null) {
      const client = clients[0];
      if (client === undefined) {
        return { protocolVersion: negotiated, capabilities: { tools: {} }, serverInfo: { name: `zt-infra-mcp-gateway/${this.scope}`, version: this.#deps.version } };
      }
      const instructions = client.getInstructions();
      return {
        protocolVersion: negotiated,
        capabilities: client.getServerCapabilities() ?? {},
        serverInfo: client.getServerVersion() ?? { name: this.scope, version: "unknown" },
        ...(instructions === undefined ? {} : { instructions }),
      };
    }
    return {
      protocolVersion: negotiated,
      capabilities: mergedCapabilities(clients.flatMap((client) => (client === undefined ? [] : [client.getServerCapabilities() ?? {}]))),
      serverInfo: { name: "zt-infra-mcp-gateway", version: this.#deps.version },
      instructions: `Tools, prompts and resources of ${ids.map((id) => `"${id}"`).join(", ")}; tool and prompt names are prefixed <server_id>${NAME_SEPARATOR}.`,
    };
  }

  #link(serverId: string, clientInfo: Implementation, capabilities: ClientCapabilities): UpstreamLink {
    const server = this.#deps.servers.get(serverId)!;
    // A path-resolving server keeps its own directory as its only root (see above).
    const { roots: _roots, ...withoutRoots } = capabilities;
    return new UpstreamLink({
      transport: server.transport,
      clientInfo,
      capabilities: server.pathRoot === undefined ? capabilities : withoutRoots,
      connectTimeoutMs: this.#deps.timing.connectTimeoutMs,
      backoff: this.#deps.timing.backoff,
      hooks: {
        onRequest: (request, extra) => this.#relayRequest(serverId, request, extra),
        onNotification: (notification) => this.#relayNotification(serverId, notification),
        onLost: (detail) => this.#deps.onUpstreamLost(serverId, detail),
      },
    });
  }

  // --- from the caller ----------------------------------------------------------------

  async #serve(request: JSONRPCRequest, extra: Extra): Promise<Result> {
    this.lastSeen = Date.now();
    this.active += 1;
    try {
      return await this.#dispatch(request, extra);
    } finally {
      this.active -= 1;
      this.lastSeen = Date.now();
    }
  }

  async #dispatch(request: JSONRPCRequest, extra: Extra): Promise<Result> {
    const { method } = request;
    const params = (request.params ?? {}) as Record<string, unknown>;
    if (isDecidedMethod(method)) return this.#decided(method, params, extra);
    const list = LISTS[method];
    if (list !== undefined) return this.#list(method, list, params, extra);
    if (this.scope !== null) return this.#forward(this.scope, method, params, extra);
    switch (method) {
      case "logging/setLevel":
        await Promise.all([...this.#links.keys()].map((id) => this.#forward(id, method, params, extra).catch(() => undefined)));
        return {};
      case "completion/complete": {
        const ref = (params["ref"] ?? {}) as Record<string, unknown>;
        if (ref["type"] === "ref/prompt" && typeof ref["name"] === "string") {
          const named = this.#splitName(ref["name"]);
          if (named === undefined) throw new McpError(ErrorCode.InvalidParams, "the prompt name names no server of this gateway (<server_id>__<name>)");
          return this.#forward(named.serverId, method, { ...params, ref: { ...ref, name: named.name } }, extra);
        }
        return this.#forward(this.#resourceRoute(typeof ref["uri"] === "string" ? ref["uri"] : ""), method, params, extra);
      }
      case "resources/subscribe":
      case "resources/unsubscribe":
        return this.#forward(this.#resourceRoute(typeof params["uri"] === "string" ? params["uri"] : ""), method, params, extra);
      default:
        throw new McpError(ErrorCode.MethodNotFound, `Method not found on the aggregated endpoint: ${method.slice(0, 64)}`);
    }
  }

  /** `<server_id>__<name>` on `/mcp`, the name itself on `/mcp/<server_id>`. */
  #splitName(name: string): { readonly serverId: string; readonly name: string } | undefined {
    if (this.scope !== null) return { serverId: this.scope, name };
    const at = name.indexOf(NAME_SEPARATOR);
    if (at <= 0) return undefined;
    const serverId = name.slice(0, at);
    return this.#deps.servers.has(serverId) ? { serverId, name: name.slice(at + NAME_SEPARATOR.length) } : undefined;
  }

  /** The server of a resource URI on `/mcp`: the one that listed it, else the one whose template matches it. */
  #resourceRoute(uri: string): string {
    const listed = this.#resourceServer.get(uri);
    if (listed !== undefined) return listed;
    for (const [serverId, templates] of this.#templates) if (templates.some((template) => template.match(uri) !== null)) return serverId;
    throw new McpError(ErrorCode.InvalidParams, "the resource URI is not one this gateway listed; list resources first");
  }

  async #decided(method: DecidedMethod, params: Record<string, unknown>, extra: Extra): Promise<Result> {
    const key = method === "resources/read" ? "uri" : "name";
    const sent = params[key];
    let serverId: string | undefined;
    let upstreamParams = params;
    if (this.scope !== null) serverId = this.scope;
    else if (typeof sent === "string") {
      if (method === "resources/read") serverId = this.#resourceServerOf(sent);
      else {
        const named = this.#splitName(sent);
        if (named !== undefined) {
          serverId = named.serverId;
          upstreamParams = { ...params, name: named.name };
        }
      }
    }
    // W3C trace context: the caller's params._meta.traceparent (how MCP carries it), else
    // its HTTP header, recorded with the decision and sent upstream in _meta.
    const sentMeta = params["_meta"];
    const meta = isRecord(sentMeta) ? sentMeta : undefined;
    const header = extra.requestInfo?.headers["traceparent"];
    const traceparent = parseTraceParent(typeof meta?.["traceparent"] === "string" ? meta["traceparent"] : typeof header === "string" ? header : undefined)?.header;
    if (traceparent !== undefined && meta?.["traceparent"] === undefined) upstreamParams = { ...upstreamParams, _meta: { ...meta, traceparent } };
    return this.#deps.calls.call({
      principal: this.principal,
      serverId,
      method,
      params: upstreamParams,
      traceparent,
      signal: extra.signal,
      upstream: (timeoutMs) => (serverId === undefined ? Promise.resolve(undefined) : this.#available(serverId, timeoutMs)),
      forward: (client, options) => this.#request(serverId!, client, method, upstreamParams, extra, options),
    });
  }

  #resourceServerOf(uri: string): string | undefined {
    try {
      return this.#resourceRoute(uri);
    } catch {
      return undefined;
    }
  }

  /** The client of a server's link: at once when connected, after a short wait while it connects, none while it is down. */
  async #available(serverId: string, waitMs = this.#deps.timing.connectingWaitMs): Promise<Client | undefined> {
    const link = this.#links.get(serverId);
    if (link === undefined) return undefined;
    return link.client() ?? (link.connecting() ? link.ready(waitMs) : undefined);
  }

  async #forward(serverId: string, method: string, params: Record<string, unknown>, extra: Extra): Promise<Result> {
    const client = await this.#available(serverId);
    if (client === undefined) throw unavailable(serverId);
    return this.#request(serverId, client, method, params, extra, { timeoutMs: this.#deps.servers.get(serverId)!.timeoutMs });
  }

  /**
   * Sends one request to the upstream as the caller sent it: the caller's cancellation
   * cancels it there, the upstream's progress reaches the caller under the caller's own
   * token, and while it runs the upstream's own messages go to the caller on its stream.
   */
  async #request(serverId: string, client: Client, method: string, params: Record<string, unknown>, extra: Extra, options: { readonly timeoutMs: number; readonly signal?: AbortSignal }): Promise<Result> {
    const meta = params["_meta"] as Record<string, unknown> | undefined;
    const progressToken = meta?.["progressToken"];
    const serving = this.#serving.get(serverId) ?? [];
    this.#serving.set(serverId, serving);
    serving.push(extra.requestId);
    try {
      return await client.request({ method, params } as never, ResultSchema, {
        signal: options.signal ?? extra.signal,
        timeout: options.timeoutMs,
        ...(progressToken === undefined
          ? {}
          : {
              resetTimeoutOnProgress: true,
              onprogress: (progress) => void extra.sendNotification({ method: "notifications/progress", params: { ...progress, progressToken } } as never).catch(() => undefined),
            }),
      });
    } catch (error) {
      // Not an answer of the upstream's (that is an McpError): its connection failed; make a new one.
      if (!(error instanceof McpError)) this.#links.get(serverId)?.drop(client);
      throw error;
    } finally {
      serving.splice(serving.indexOf(extra.requestId), 1);
    }
  }

  async #list(method: string, list: { readonly kind: ListKind; readonly action: string }, params: Record<string, unknown>, extra: Extra): Promise<Result> {
    if (this.scope !== null) {
      const result = await this.#forward(this.scope, method, params, extra);
      return { ...result, [list.kind]: this.#visible(this.scope, list, result[list.kind]) };
    }
    const merged: unknown[] = [];
    await Promise.all(
      [...this.#links.keys()].map(async (serverId) => {
        const client = await this.#available(serverId);
        if (client === undefined) return;
        const items: unknown[] = [];
        let cursor: unknown = undefined;
        for (let page = 0; page < MAX_LIST_PAGES; page++) {
          const result: Result = await this.#request(serverId, client, method, cursor === undefined ? {} : { cursor }, extra, { timeoutMs: this.#deps.servers.get(serverId)!.timeoutMs }).catch(() => ({}));
          items.push(...(Array.isArray(result[list.kind]) ? (result[list.kind] as unknown[]) : []));
          cursor = result["nextCursor"];
          if (typeof cursor !== "string") break;
        }
        for (const item of this.#visible(serverId, list, items)) merged.push(this.#prefixed(serverId, list.kind, item as Record<string, unknown>));
      }),
    );
    return { [list.kind]: merged };
  }

  /** The items of a list the caller could be allowed to use, noting routes and names as they pass. */
  #visible(serverId: string, list: { readonly kind: ListKind; readonly action: string }, items: unknown): unknown[] {
    if (!Array.isArray(items)) return [];
    const actor = this.principal.actor;
    const shown: unknown[] = [];
    const names: string[] = [];
    const templates: UriTemplate[] = [];
    for (const item of items as Array<Record<string, unknown>>) {
      if (typeof item !== "object" || item === null) continue;
      if (list.kind === "resourceTemplates") {
        if (typeof item["uriTemplate"] !== "string" || !this.#deps.couldAllow(actor, list.action, null, serverId)) continue;
        try {
          templates.push(new UriTemplate(item["uriTemplate"]));
        } catch {
          continue;
        }
        shown.push(item);
        continue;
      }
      const target = list.kind === "resources" ? item["uri"] : item["name"];
      if (typeof target !== "string" || !this.#deps.couldAllow(actor, list.action, mcpResource(serverId, target), serverId)) continue;
      if (list.kind === "resources") this.#resourceServer.set(target, serverId);
      names.push(target);
      shown.push(item);
    }
    if (list.kind === "resourceTemplates") this.#templates.set(serverId, templates);
    if (list.kind === "tools") this.#deps.listed(serverId, names);
    return shown;
  }

  #prefixed(serverId: string, kind: ListKind, item: Record<string, unknown>): Record<string, unknown> {
    return kind === "tools" || kind === "prompts" ? { ...item, name: `${serverId}${NAME_SEPARATOR}${String(item["name"])}` } : item;
  }

  async #notifyUpstreams(notification: Notification): Promise<void> {
    // The caller's roots are not a path-resolving server's business (see above).
    const ids = [...this.#links.keys()].filter((id) => notification.method !== "notifications/roots/list_changed" || this.#deps.servers.get(id)?.pathRoot === undefined);
    await Promise.all(
      ids.map(async (id) => {
        const client = this.#links.get(id)?.client();
        await client?.transport?.send({ jsonrpc: "2.0", method: notification.method, ...(notification.params === undefined ? {} : { params: notification.params }) }).catch(() => undefined);
      }),
    );
  }

  // --- from an upstream ---------------------------------------------------------------

  /** The caller's request an upstream's message belongs with: the latest one that upstream is serving, if any. */
  #servingNow(serverId: string): RequestId | undefined {
    return this.#serving.get(serverId)?.at(-1);
  }

  async #relayRequest(serverId: string, request: JSONRPCRequest, extra: Extra): Promise<Result> {
    const root = this.#deps.servers.get(serverId)?.pathRoot;
    if (request.method === "roots/list" && root !== undefined) return { roots: [{ uri: pathToFileURL(root).href, name: serverId }] };
    const relatedRequestId = this.#servingNow(serverId);
    return this.server.request({ method: request.method, params: request.params } as never, ResultSchema, {
      signal: extra.signal,
      timeout: RELAY_TIMEOUT_MS,
      ...(relatedRequestId === undefined ? {} : { relatedRequestId }),
    });
  }

  async #relayNotification(serverId: string, notification: Notification): Promise<void> {
    const message = { jsonrpc: "2.0" as const, method: notification.method, ...(notification.params === undefined ? {} : { params: notification.params }) };
    // A log line while a request is served goes on that request's stream (where a
    // caller without a standing GET stream reads it); everything else on the session's.
    const relatedRequestId = notification.method === "notifications/message" ? this.#servingNow(serverId) : undefined;
    const transport = this.server.transport;
    if (transport === undefined) return;
    try {
      await transport.send(message, relatedRequestId === undefined ? undefined : { relatedRequestId });
    } catch {
      await transport.send(message).catch(() => undefined);
    }
  }
}

/** The capabilities `/mcp` offers: each one some upstream offers (tasks stay per server). */
function mergedCapabilities(all: ReadonlyArray<ServerCapabilities>): ServerCapabilities {
  const merged: ServerCapabilities = {};
  for (const capabilities of all) {
    if (capabilities.tools) merged.tools = { listChanged: true };
    if (capabilities.prompts) merged.prompts = { listChanged: true };
    if (capabilities.resources) merged.resources = { subscribe: merged.resources?.subscribe === true || capabilities.resources.subscribe === true, listChanged: true };
    if (capabilities.logging) merged.logging = {};
    if (capabilities.completions) merged.completions = {};
  }
  return merged;
}
