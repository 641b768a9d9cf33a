/**
 * Reads a request body up to a byte limit without buffering more than the limit: a
 * client cannot make the service hold an arbitrarily large body in memory.
 */

export interface CappedBody {
  readonly bytes: Uint8Array;
  /** The body was longer than the limit; `bytes` holds its first `limit` bytes. */
  readonly tooLarge: boolean;
}

/** The Node request under @hono/node-server (`c.env.incoming`): a stream of the body's chunks. */
export interface NodeIncoming {
  readonly incoming?: AsyncIterable<Uint8Array> & { readonly readableEnded: boolean };
}

/**
 * `request`'s body. Under @hono/node-server a body whose declared length fits is read
 * from Node's own request stream (`env.incoming`), which skips building a web
 * ReadableStream per request; Node's HTTP parser delivers exactly the declared length.
 * Any other body (no length, too long, Deno) is read through the web stream with the cap.
 */
export async function readCappedBody(request: Request, limit: number, env?: NodeIncoming): Promise<CappedBody> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
  const incoming = env?.incoming;
  if (incoming !== undefined && Number.isSafeInteger(declared) && declared >= 0 && declared <= limit && !incoming.readableEnded) {
    const chunks: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of incoming) {
      chunks.push(chunk);
      total += chunk.length;
    }
    // Defence in depth: the parser enforces the length, so this never trips.
    if (total > limit) return { bytes: concat(chunks, total).subarray(0, limit), tooLarge: true };
    return { bytes: chunks.length === 1 ? chunks[0]! : concat(chunks, total), tooLarge: false };
  }
  if (request.body === null) return { bytes: new Uint8Array(0), tooLarge: false };
  if (Number.isFinite(declared) && declared > limit) {
    await request.body.cancel().catch(() => undefined);
    return { bytes: new Uint8Array(0), tooLarge: true };
  }
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const room = limit - total;
    if (value.length > room) {
      chunks.push(value.subarray(0, room));
      await reader.cancel().catch(() => undefined);
      return { bytes: concat(chunks, limit), tooLarge: true };
    }
    chunks.push(value);
    total += value.length;
  }
  return { bytes: concat(chunks, total), tooLarge: false };
}

function concat(chunks: ReadonlyArray<Uint8Array>, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}
