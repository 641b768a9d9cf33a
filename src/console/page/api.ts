/**
 * The console's calls to its server: the bearer token from this tab's session storage on
 * every call (never in a URL), problem+json answers as ApiError, and the decision stream
 * read as server-sent events over fetch (EventSource cannot send an Authorization
 * header), resumed with Last-Event-ID after a drop.
 */

const TOKEN_KEY = "zt-console-token";

export const session = {
  token: (): string | null => sessionStorage.getItem(TOKEN_KEY),
  keep: (token: string): void => sessionStorage.setItem(TOKEN_KEY, token),
  forget: (): void => sessionStorage.removeItem(TOKEN_KEY),
};

export class ApiError extends Error {
  readonly status: number;
  /** The problem's stable reason (`not_found`, `forbidden`, ...), or null when the answer was not a problem. */
  readonly reason: string | null;
  constructor(status: number, reason: string | null, detail: string) {
    super(detail);
    this.status = status;
    this.reason = reason;
  }
}

/** Sent with no token when the path is public (`/keys`). */
function headers(extra: Record<string, string> = {}): Record<string, string> {
  const token = session.token();
  return token === null ? extra : { ...extra, authorization: `Bearer ${token}` };
}

async function answer(response: Response): Promise<unknown> {
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text === "" ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (response.ok) return body;
  const problem = typeof body === "object" && body !== null ? (body as Record<string, unknown>) : {};
  const reason = typeof problem["reason"] === "string" ? problem["reason"] : null;
  const detail = typeof problem["detail"] === "string" ? problem["detail"] : `the server answered ${response.status}`;
  throw new ApiError(response.status, reason, detail);
}

export async function getJson(path: string): Promise<any> {
  return answer(await fetch(path, { headers: headers({ accept: "application/json" }), cache: "no-store" }));
}

export async function postJson(path: string, body: unknown): Promise<any> {
  return answer(await fetch(path, { method: "POST", headers: headers({ "content-type": "application/json", accept: "application/json" }), body: JSON.stringify(body) }));
}

export type StreamState = "connecting" | "live" | "retrying" | "refused" | "closed";

export interface EventStreamHandlers {
  readonly onEvent: (event: string, data: string) => void;
  readonly onState: (state: StreamState, detail?: string) => void;
}

/**
 * Reads `path` as text/event-stream until closed, reconnecting after the server's
 * `retry:` delay with the last `id:` as Last-Event-ID. A 4xx answer is not retried.
 */
export function openEventStream(path: string, handlers: EventStreamHandlers): { close: () => void } {
  let closed = false;
  let lastId: string | null = null;
  let retryMs = 2000;
  let controller: AbortController | null = null;

  const dispatch = (block: string) => {
    let event = "message";
    const data: string[] = [];
    for (const line of block.split("\n")) {
      if (line === "" || line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon === -1 ? line : line.slice(0, colon);
      const value = colon === -1 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") event = value;
      else if (field === "data") data.push(value);
      else if (field === "id") lastId = value;
      else if (field === "retry" && /^\d+$/.test(value)) retryMs = Number(value);
    }
    if (data.length > 0) handlers.onEvent(event, data.join("\n"));
  };

  const connect = async () => {
    while (!closed) {
      controller = new AbortController();
      handlers.onState("connecting");
      try {
        const response = await fetch(path, { headers: headers(lastId === null ? { accept: "text/event-stream" } : { accept: "text/event-stream", "last-event-id": lastId }), signal: controller.signal, cache: "no-store" });
        if (!response.ok || response.body === null) {
          const error = await answer(response).then(() => new ApiError(response.status, null, "no stream"), (e: ApiError) => e);
          if (response.status >= 400 && response.status < 500 && response.status !== 429) {
            handlers.onState("refused", error.message);
            return;
          }
          throw error;
        }
        handlers.onState("live");
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        let buffer = "";
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          buffer += value.replaceAll("\r\n", "\n");
          let end: number;
          // Once closed, nothing more is handed on: a new stream may already be filling the page.
          while (!closed && (end = buffer.indexOf("\n\n")) !== -1) {
            dispatch(buffer.slice(0, end));
            buffer = buffer.slice(end + 2);
          }
        }
      } catch (error) {
        if (closed) return;
        handlers.onState("retrying", error instanceof Error ? error.message : undefined);
      }
      if (closed) return;
      handlers.onState("retrying");
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  };
  void connect();
  return {
    close: () => {
      closed = true;
      controller?.abort();
      handlers.onState("closed");
    },
  };
}
