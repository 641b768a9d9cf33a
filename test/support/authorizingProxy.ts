/**
 * A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request and
 * forwards it, streaming both ways (SSE included), to a fixed origin: for third-party
 * MCP tools that take a URL but send no token (the conformance suite, the inspector).
 * The path, the other headers (Host and Origin too) and the body pass unchanged.
 */
import { createServer, request as httpRequest, type Server } from "node:http";

export interface AuthorizingProxy {
  readonly url: string;
  readonly close: () => Promise<void>;
}

export async function authorizingProxy(target: string, token: string): Promise<AuthorizingProxy> {
  const origin = new URL(target);
  const server: Server = createServer((incoming, outgoing) => {
    const upstream = httpRequest(
      { hostname: origin.hostname, port: origin.port, method: incoming.method, path: incoming.url, headers: { ...incoming.headers, authorization: `Bearer ${token}` } },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    upstream.on("error", () => outgoing.destroy());
    outgoing.on("close", () => upstream.destroy());
    incoming.pipe(upstream);
  });
  await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((closed) => {
        server.close(() => closed());
        server.closeAllConnections();
      }),
  };
}
