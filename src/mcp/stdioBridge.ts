/**
 * `zt mcp connect`: a stdio MCP server in front of a gateway endpoint (contract section
 * 8), for clients that only launch local servers (desktop assistants, IDEs). It relays
 * JSON-RPC messages as they are between the MCP SDK's stdio server transport (this
 * process's stdin and stdout) and its streamable-HTTP client transport (the gateway,
 * with the agent's bearer token), so the gateway's session, its SSE streams, progress,
 * cancellation and the upstreams' own requests all pass through. Nothing but protocol
 * messages is written to stdout; the token is never written anywhere.
 */
import type { Readable, Writable } from "node:stream";
import { isJSONRPCRequest, isJSONRPCResultResponse, StdioServerTransport, StreamableHTTPClientTransport, type JSONRPCMessage, type RequestId } from "./mcpSdk.ts";

export interface StdioBridgeOptions {
  readonly url: URL;
  readonly token: string;
  readonly stdin?: Readable;
  readonly stdout?: Writable;
  /** Where the bridge says what went wrong (never a token or a message body). */
  readonly report: (line: string) => void;
}

/** Relays until stdin ends (the client went away) or the gateway ends the session; resolves then. */
export function runStdioBridge(options: StdioBridgeOptions): Promise<void> {
  const local = new StdioServerTransport(options.stdin, options.stdout);
  const remote = new StreamableHTTPClientTransport(options.url, { requestInit: { headers: { authorization: `Bearer ${options.token}` } } });
  const initializeIds = new Set<RequestId>();

  return new Promise<void>((finished) => {
    let closing = false;
    const close = async () => {
      if (closing) return;
      closing = true;
      // Ends the gateway's session (and the upstream sessions it holds) before leaving.
      await remote.terminateSession().catch(() => undefined);
      await Promise.all([remote.close().catch(() => undefined), local.close().catch(() => undefined)]);
      finished();
    };

    local.onmessage = (message: JSONRPCMessage) => {
      if (isJSONRPCRequest(message) && message.method === "initialize") initializeIds.add(message.id);
      remote.send(message).catch((error: unknown) => {
        options.report(`zt mcp connect: the gateway refused a message: ${error instanceof Error ? error.message : "unknown error"}`);
        // A request must be answered, or the client waits for ever.
        if (isJSONRPCRequest(message)) {
          void local.send({ jsonrpc: "2.0", id: message.id, error: { code: -32000, message: `the gateway did not accept the request: ${error instanceof Error ? error.message : "unknown error"}` } });
        }
      });
    };
    remote.onmessage = (message: JSONRPCMessage) => {
      // Later requests must carry the protocol version the gateway chose.
      if (isJSONRPCResultResponse(message) && initializeIds.delete(message.id)) {
        const version = (message.result as { protocolVersion?: unknown }).protocolVersion;
        if (typeof version === "string") remote.setProtocolVersion(version);
      }
      void local.send(message).catch(() => undefined);
    };
    remote.onerror = (error) => options.report(`zt mcp connect: ${error.message}`);
    local.onerror = (error) => options.report(`zt mcp connect: ${error.message}`);
    local.onclose = () => void close();
    remote.onclose = () => void close();
    (options.stdin ?? process.stdin).once("end", () => void close());

    void remote
      .start()
      .then(() => local.start())
      .catch((error: unknown) => {
        options.report(`zt mcp connect: ${error instanceof Error ? error.message : "cannot start"}`);
        void close();
      });
  });
}
