/**
 * Turns the raw `POST /actions` body into a validated request, or into the list of
 * problems a `malformed_request` denial reports. Hostile input: invalid UTF-8, invalid
 * JSON, duplicate keys, deep nesting, values JSON can write but JCS cannot hash (1e400,
 * lone surrogates), unknown fields and out-of-bound values are all refused here, never
 * thrown. Problems name a path and a kind, never a value (contract section 7).
 */
import { Either, Schema } from "effect";
import { canonicalJson } from "../kernel/jcs.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { schemaProblems, type SchemaProblem } from "../kernel/schemaProblems.ts";
import { parseStrictJsonBytes } from "../kernel/strictJson.ts";
import { ActionRequest, MAX_ACTION_BODY_BYTES } from "../vocabulary/ActionRequest.ts";

/** Where a request breaks the rules: a path, the kind (a schema issue kind, or json, duplicate_key, depth, forbidden_key, size), what was expected. */
export type RequestProblem = SchemaProblem;

/** The request as parsed: valid (with the hash of its intent), or refused with its problems and the status that answers it. */
export type ParsedActionRequest =
  | { readonly ok: true; readonly request: ActionRequest; readonly intentHash: string | null }
  | { readonly ok: false; readonly problems: ReadonlyArray<RequestProblem>; readonly httpStatus: 400 | 413 };

const decodeRequest = Schema.decodeUnknownEither(ActionRequest);

export function parseActionRequest(body: Uint8Array, tooLarge: boolean): ParsedActionRequest {
  if (tooLarge || body.length > MAX_ACTION_BODY_BYTES) {
    return { ok: false, problems: [{ path: "$", kind: "size", message: `the body exceeds ${MAX_ACTION_BODY_BYTES} bytes` }], httpStatus: 413 };
  }
  const parsed = parseStrictJsonBytes(body);
  if (!parsed.ok) return { ok: false, problems: [parsed.problem], httpStatus: 400 };
  const json = parsed.value;
  const canonical = canonicalJson(json);
  if (!canonical.ok) {
    // "<path>: <what is wrong>" (a lone surrogate, a number JSON cannot carry), never the value.
    const split = canonical.reason.lastIndexOf(": ");
    return { ok: false, problems: [{ path: canonical.reason.slice(0, split), kind: "json", message: canonical.reason.slice(split + 2) }], httpStatus: 400 };
  }

  const decoded = decodeRequest(json, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(decoded)) return { ok: false, problems: schemaProblems(decoded.left), httpStatus: 400 };
  const request = decoded.right;
  // The intent hash covers the intent exactly as sent; the whole body already
  // canonicalised, so its intent does too.
  const rawIntent = (json as { readonly intent?: unknown }).intent;
  const intentCanonical = rawIntent === undefined ? undefined : canonicalJson(rawIntent);
  const intentHash = intentCanonical?.ok ? sha256Hex(intentCanonical.text) : null;
  return { ok: true, request, intentHash };
}
