/**
 * A recording HTTP server on 127.0.0.1 (node:http, port chosen by the OS) that plays a
 * provider API in the adapter tests: each test installs a handler speaking the
 * provider's documented shapes, then asserts on the recorded requests.
 */
import { createServer, type IncomingHttpHeaders, type Server } from "node:http";

export interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  readonly json: any;
}

export interface Reply {
  readonly status: number;
  readonly json?: unknown;
  /** Sent as is instead of `json`. */
  readonly text?: string;
  /** Do not answer at all (a hung provider). */
  readonly hang?: boolean;
}

export type Handler = (request: RecordedRequest) => Reply | Promise<Reply>;

export interface FakeProvider {
  readonly url: string;
  readonly requests: RecordedRequest[];
  /** Requests whose client closed the connection before they were answered (a client-side timeout). */
  readonly abandoned: RecordedRequest[];
  handle: Handler;
  readonly close: () => Promise<void>;
}

export async function startFakeProvider(handle: Handler = () => ({ status: 404, json: { error: "no handler" } })): Promise<FakeProvider> {
  const requests: RecordedRequest[] = [];
  const abandoned: RecordedRequest[] = [];
  const provider = { url: "", requests, abandoned, handle, close: async () => undefined } as FakeProvider;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", async () => {
      const body = Buffer.concat(chunks).toString("utf8");
      let json: unknown;
      try {
        json = body === "" ? undefined : JSON.parse(body);
      } catch {
        json = undefined;
      }
      const recorded: RecordedRequest = { method: req.method ?? "", path: req.url ?? "", headers: req.headers, body, json };
      requests.push(recorded);
      res.on("close", () => {
        if (!res.writableFinished) abandoned.push(recorded);
      });
      try {
        const reply = await provider.handle(recorded);
        if (reply.hang) return;
        res.writeHead(reply.status, { "content-type": "application/json" });
        res.end(reply.text ?? JSON.stringify(reply.json ?? {}));
      } catch (error) {
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`fake provider handler failed: ${(error as Error).message}`);
      }
    });
  });
  await new Promise<void>((ready) => server.listen(0, "127.0.0.1", ready));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return Object.assign(provider, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((done) => {
        server.closeAllConnections();
        server.close(() => done());
      }),
  });
}
