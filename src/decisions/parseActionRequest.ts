/**
 * Turns the raw `POST /actions` body into a validated request, or into the list of
 * problems a `malformed_request` denial reports. Hostile input: invalid UTF-8, invalid
 * JSON, values JSON can write but JCS cannot hash (1e400, lone surrogates), unknown
 * fields and out-of-bound values are all refused here, never thrown.
 */
import { Either, ParseResult, Schema } from "effect";
import { canonicalJson } from "../kernel/jcs.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { ActionRequest, MAX_ACTION_BODY_BYTES } from "./ActionRequest.ts";

export interface RequestProblem {
  readonly path: string;
  /** Schema issue kind (Missing, Unexpected, Type, Refinement...) or `json`, `size`. */
  readonly kind: string;
  readonly message: string;
}

export type ParsedActionRequest =
  | { readonly ok: true; readonly request: ActionRequest; readonly intentHash: string | null }
  | { readonly ok: false; readonly problems: ReadonlyArray<RequestProblem> };

const utf8 = new TextDecoder("utf-8", { fatal: true });
const decodeRequest = Schema.decodeUnknownEither(ActionRequest);

export function parseActionRequest(body: Uint8Array, tooLarge: boolean): ParsedActionRequest {
  if (tooLarge || body.length > MAX_ACTION_BODY_BYTES) {
    return { ok: false, problems: [{ path: "$", kind: "size", message: `body exceeds ${MAX_ACTION_BODY_BYTES} bytes` }] };
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch {
    return { ok: false, problems: [{ path: "$", kind: "json", message: "body is not UTF-8 JSON" }] };
  }
  const canonical = canonicalJson(json);
  if (!canonical.ok) return { ok: false, problems: [{ path: "$", kind: "json", message: canonical.reason }] };
  // JSON.parse keeps "__proto__" as an own key, but decoding a schema Record (the intent's
  // free-form fields) assigns it and so replaces the decoded object's prototype: its
  // values would be read as intent fields that the hashed intent does not have, and the
  // record could no longer be stored. Refused wherever it appears.
  const protoKey = protoKeyPath(json, "$");
  if (protoKey !== undefined) return { ok: false, problems: [{ path: protoKey, kind: "Unexpected", message: "\"__proto__\" is not accepted as a key" }] };

  const decoded = decodeRequest(json, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    const issues = ParseResult.ArrayFormatter.formatErrorSync(decoded.left);
    return {
      ok: false,
      problems: issues.map((issue) => ({ path: ["$", ...issue.path.map(String)].join("."), kind: issue._tag, message: issue.message })),
    };
  }
  const request = decoded.right;
  // The intent hash covers the intent exactly as sent; the whole body already
  // canonicalised, so its intent does too.
  const rawIntent = (json as { readonly intent?: unknown }).intent;
  const intentCanonical = rawIntent === undefined ? undefined : canonicalJson(rawIntent);
  const intentHash = intentCanonical?.ok ? sha256Hex(intentCanonical.text) : null;
  return { ok: true, request, intentHash };
}

/** Path of the first "__proto__" key in parsed JSON (depth is already bounded by the JCS check). */
function protoKeyPath(value: unknown, path: string): string | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const found = protoKeyPath(item, `${path}[${index}]`);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  for (const [key, item] of Object.entries(value)) {
    if (key === "__proto__") return `${path}.__proto__`;
    const found = protoKeyPath(item, `${path}.${key}`);
    if (found !== undefined) return found;
  }
  return undefined;
}
