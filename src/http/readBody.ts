/**
 * Reads a request body up to a byte limit without buffering more than the limit: a
 * client cannot make the service hold an arbitrarily large body in memory.
 */

export interface CappedBody {
  readonly bytes: Uint8Array;
  /** The body was longer than the limit; `bytes` holds its first `limit` bytes. */
  readonly tooLarge: boolean;
}

export async function readCappedBody(request: Request, limit: number): Promise<CappedBody> {
  const declared = Number(request.headers.get("content-length") ?? "NaN");
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
