/**
 * JSON bodies of operator endpoints: capped at 64 KiB, read by the strict JSON reader
 * (no duplicate keys, bounded depth), or the problem answer (`malformed_request`, 400,
 * or 413 over the limit) naming where and what kind of problem, never a value.
 */
import type { Context } from "hono";
import type { SchemaProblem } from "../kernel/schemaProblems.ts";
import { parseStrictJsonBytes } from "../kernel/strictJson.ts";
import { problem } from "./problem.ts";
import { readCappedBody, type NodeIncoming } from "./readBody.ts";

export const MAX_JSON_BODY_BYTES = 64 * 1024;

export type JsonBody = { readonly ok: true; readonly json: unknown } | { readonly ok: false; readonly answer: Response };

/** The problem answer of a body that broke its schema (`malformed_request`, 400). */
export function schemaProblem(c: Context, what: string, errors: ReadonlyArray<SchemaProblem>): Response {
  return problem(c, "malformed_request", `${what} is not acceptable at ${[...new Set(errors.map((e) => e.path))].join(", ")}`, { errors });
}

/** Reads the body as strict JSON; with `emptyAs`, an empty body reads as that value. */
export async function readJsonBody(c: Context, options: { readonly emptyAs?: unknown } = {}): Promise<JsonBody> {
  const body = await readCappedBody(c.req.raw, MAX_JSON_BODY_BYTES, c.env as NodeIncoming | undefined);
  if (body.bytes.length === 0 && !body.tooLarge && options.emptyAs !== undefined) return { ok: true, json: options.emptyAs };
  if (body.tooLarge) {
    const message = `the body exceeds ${MAX_JSON_BODY_BYTES} bytes`;
    return { ok: false, answer: problem(c, "malformed_request", message, { errors: [{ path: "$", kind: "size", message }] }, 413) };
  }
  const parsed = parseStrictJsonBytes(body.bytes);
  if (!parsed.ok) return { ok: false, answer: problem(c, "malformed_request", parsed.problem.message, { errors: [parsed.problem] }) };
  return { ok: true, json: parsed.value };
}
