/**
 * JSON bodies of operator endpoints: capped at 64 KiB, read by the strict JSON reader
 * (no duplicate keys, bounded depth), or the problem that makes them a 4xx answer.
 */
import type { SchemaProblem } from "../kernel/schemaProblems.ts";
import { parseStrictJsonBytes } from "../kernel/strictJson.ts";
import { readCappedBody } from "./readBody.ts";

export const MAX_JSON_BODY_BYTES = 64 * 1024;

export type JsonBody =
  | { readonly ok: true; readonly json: unknown }
  | { readonly ok: false; readonly status: 400 | 413; readonly reason: "malformed_request"; readonly message: string; readonly errors: ReadonlyArray<SchemaProblem> };

export async function readJsonBody(request: Request): Promise<JsonBody> {
  const body = await readCappedBody(request, MAX_JSON_BODY_BYTES);
  if (body.tooLarge) {
    const message = `the body exceeds ${MAX_JSON_BODY_BYTES} bytes`;
    return { ok: false, status: 413, reason: "malformed_request", message, errors: [{ path: "$", kind: "size", message }] };
  }
  const parsed = parseStrictJsonBytes(body.bytes);
  if (!parsed.ok) return { ok: false, status: 400, reason: "malformed_request", message: parsed.problem.message, errors: [parsed.problem] };
  return { ok: true, json: parsed.value };
}
