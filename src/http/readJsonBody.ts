/**
 * JSON bodies of operator endpoints: capped at 64 KiB, UTF-8 JSON, or a 4xx answer.
 */
import { readCappedBody } from "./readBody.ts";

export const MAX_JSON_BODY_BYTES = 64 * 1024;

export type JsonBody =
  | { readonly ok: true; readonly json: unknown }
  | { readonly ok: false; readonly status: 400 | 413; readonly reason: "malformed_request"; readonly message: string };

const utf8 = new TextDecoder("utf-8", { fatal: true });

export async function readJsonBody(request: Request): Promise<JsonBody> {
  const body = await readCappedBody(request, MAX_JSON_BODY_BYTES);
  if (body.tooLarge) return { ok: false, status: 413, reason: "malformed_request", message: `body exceeds ${MAX_JSON_BODY_BYTES} bytes` };
  try {
    return { ok: true, json: JSON.parse(utf8.decode(body.bytes)) };
  } catch {
    return { ok: false, status: 400, reason: "malformed_request", message: "body is not UTF-8 JSON" };
  }
}
