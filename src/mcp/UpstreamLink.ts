/**
 * One caller session's connection to one upstream server: an MCP SDK `Client` over the
 * server's transport (a sandboxed stdio process, or streamable HTTP), initialized with
 * the caller's own client info and capabilities so that the upstream sees the caller it
 * serves. A connection that fails or ends (the process died) is made again with
 * exponential backoff for as long as the session lives; in between, `client()` is
 * undefined and calls are answered `upstream_unavailable`. A new connection is a new
 * upstream session (initialized again with the same client info and capabilities).
 *
 * What the upstream sends on its own (requests such as sampling, elicitation and roots,
 * and notifications) goes to the hooks, which relay it to the caller.
 */
import { Client, type ClientCapabilities, type Implementation, type JSONRPCRequest, type Notification, type RequestHandlerExtra, type Result, type Transport } from "./mcpSdk.ts";

export interface UpstreamHooks {
  /** A request the upstream sends the caller (sampling, elicitation, roots, ping). */
  readonly onRequest: (request: JSONRPCRequest, extra: RequestHandlerExtra<any, any>) => Promise<Result>;
  readonly onNotification: (notification: Notification) => Promise<void>;
  /** Each new connection, after its initialization (the first, and each one after the upstream came back). */
  readonly onConnected?: (client: Client) => void;
  /** A connection attempt failed, or a live connection ended; `detail` never holds a value of the session. */
  readonly onLost?: (detail: string) => void;
}

export interface UpstreamLinkOptions {
  /** A fresh transport for each connection, or why none can be made on this host. */
  readonly transport: () => Transport | string;
  readonly clientInfo: Implementation;
  readonly capabilities: ClientCapabilities;
  readonly hooks: UpstreamHooks;
  /** Bound on one connection's initialization. */
  readonly connectTimeoutMs: number;
  readonly backoff: { readonly baseMs: number; readonly maxMs: number };
}

/** A connection that lived this long before it ended restarts the backoff from its base. */
const STABLE_CONNECTION_MS = 60_000;

type LinkState =
  | { readonly kind: "connecting"; readonly attempt: Promise<void> }
  | { readonly kind: "ready"; readonly client: Client; readonly since: number }
  | { readonly kind: "down"; readonly retry: ReturnType<typeof setTimeout>; readonly failures: number }
  | { readonly kind: "closed" };

export class UpstreamLink {
  #state: LinkState;
  #failures = 0;
  readonly #options: UpstreamLinkOptions;
  /** Resolved each time the link changes state, for `ready()`. */
  #waiters = new Set<() => void>();

  constructor(options: UpstreamLinkOptions) {
    this.#options = options;
    // Started on the next tick: #connect may end the attempt (and read the state) at once.
    this.#state = { kind: "connecting", attempt: Promise.resolve().then(() => this.#connect()) };
  }

  /** The connected client, or undefined while the upstream is down or being reconnected. */
  client(): Client | undefined {
    return this.#state.kind === "ready" ? this.#state.client : undefined;
  }

  /** Whether a connection is being made now (rather than waiting out its backoff, or closed). */
  connecting(): boolean {
    return this.#state.kind === "connecting";
  }

  /** Waits up to `timeoutMs` for a connected client (undefined if none by then, or the link is closed). */
  async ready(timeoutMs: number): Promise<Client | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.#state.kind !== "closed") {
      const client = this.client();
      if (client !== undefined) return client;
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.#waiters.add(done);
      });
    }
    return undefined;
  }

  /**
   * Gives up a connection that failed to carry a request (an HTTP upstream that went
   * away does not close its client by itself): it is closed and made again, with backoff.
   */
  drop(client: Client): void {
    if (this.#state.kind !== "ready" || this.#state.client !== client) return;
    this.#lost("the upstream stopped answering");
    void client.close().catch(() => undefined);
  }

  /** Ends the link and its upstream session (a stdio server's process ends with it). */
  async close(): Promise<void> {
    const state = this.#state;
    this.#set({ kind: "closed" });
    if (state.kind === "down") clearTimeout(state.retry);
    if (state.kind === "ready") await state.client.close().catch(() => undefined);
    if (state.kind === "connecting") await state.attempt.catch(() => undefined);
  }

  #set(state: LinkState): void {
    this.#state = state;
    const waiters = [...this.#waiters];
    this.#waiters.clear();
    for (const wake of waiters) wake();
  }

  async #connect(): Promise<void> {
    const transport = this.#options.transport();
    if (typeof transport === "string") return this.#lost(transport);
    const client = new Client(this.#options.clientInfo, { capabilities: this.#options.capabilities });
    client.fallbackRequestHandler = (request, extra) => this.#options.hooks.onRequest(request, extra);
    client.fallbackNotificationHandler = (notification) => this.#options.hooks.onNotification(notification);
    try {
      await client.connect(transport, { timeout: this.#options.connectTimeoutMs });
    } catch (error) {
      await client.close().catch(() => undefined);
      return this.#lost(`the upstream did not initialize: ${error instanceof Error ? error.message : "unknown error"}`);
    }
    if (this.#state.kind === "closed") {
      await client.close().catch(() => undefined);
      return;
    }
    client.onclose = () => {
      if (this.#state.kind !== "ready" || this.#state.client !== client) return;
      // A connection that lived a while starts the backoff over; one that keeps dying at once backs off further.
      if (Date.now() - this.#state.since >= STABLE_CONNECTION_MS) this.#failures = 0;
      this.#lost("the upstream connection ended");
    };
    this.#set({ kind: "ready", client, since: Date.now() });
    this.#options.hooks.onConnected?.(client);
  }

  #lost(detail: string): void {
    if (this.#state.kind === "closed") return;
    this.#options.hooks.onLost?.(detail);
    const { baseMs, maxMs } = this.#options.backoff;
    const delay = Math.min(maxMs, baseMs * 2 ** this.#failures);
    this.#failures += 1;
    const retry = setTimeout(() => {
      if (this.#state.kind === "down") this.#set({ kind: "connecting", attempt: this.#connect() });
    }, delay);
    this.#set({ kind: "down", retry, failures: this.#failures });
  }
}
