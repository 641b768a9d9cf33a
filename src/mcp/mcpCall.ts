/**
 * An MCP call in the decider's terms (contract section 8). Pure. `tools/call`,
 * `resources/read` and `prompts/get` are each one decision: actor = the caller, action
 * `mcp.tools_call` / `mcp.resources_read` / `mcp.prompts_get`, resource
 * `mcp:<server_id>/<tool, uri or prompt name>`, Cedar context `{"arguments": {...}}`.
 *
 * The params come from an untrusted caller. What the decider records and Cedar sees is
 * the call's arguments as Cedar can hold them (cedarArguments); what names the call,
 * `request_sha256`, is the sha256 of the JCS of the call exactly as sent. A call Cedar
 * cannot be asked about (a name that is not 1-1024 printable ASCII characters, a key
 * starting with `__`, nesting too deep, a lone surrogate) is a `malformed_request`
 * decision whose problems name the MCP params' paths, never their values.
 */
import { Either, Schema } from "effect";
import type { JsonObject } from "../events/EventStore.ts";
import { isRecord } from "../kernel/isRecord.ts";
import { canonicalJson } from "../kernel/jcs.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { schemaProblems, type SchemaProblem } from "../kernel/schemaProblems.ts";
import { ActionRequest } from "../vocabulary/ActionRequest.ts";

/** The decided methods and the action each is decided as. */
export const MCP_ACTIONS = {
  "tools/call": "mcp.tools_call",
  "resources/read": "mcp.resources_read",
  "prompts/get": "mcp.prompts_get",
} as const;
export type DecidedMethod = keyof typeof MCP_ACTIONS;

export function isDecidedMethod(method: string): method is DecidedMethod {
  return Object.hasOwn(MCP_ACTIONS, method);
}

/** The resource of a call: `mcp:<server_id>/<tool, uri or prompt name>`. */
export function mcpResource(serverId: string, target: string): string {
  return `mcp:${serverId}/${target}`;
}

/** A decided call, read from its params: what it targets (a tool or prompt name, or a resource URI) and its arguments as sent. */
export interface McpCall {
  readonly method: DecidedMethod;
  readonly target: string;
  readonly arguments: JsonObject;
}

export type ReadCall = { readonly ok: true; readonly call: McpCall } | { readonly ok: false; readonly problems: ReadonlyArray<SchemaProblem> };

/** Reads the target and arguments of a decided method's params (shape only; the decider checks the rest). */
export function readCall(method: DecidedMethod, params: unknown): ReadCall {
  if (!isRecord(params)) return { ok: false, problems: [{ path: "$.params", kind: "Type", message: "expected an object" }] };
  const key = method === "resources/read" ? "uri" : "name";
  const target = params[key];
  const problems: SchemaProblem[] = [];
  if (typeof target !== "string") problems.push({ path: `$.params.${key}`, kind: target === undefined ? "Missing" : "Type", message: "expected a string" });
  const args = method === "resources/read" ? {} : (params["arguments"] ?? {});
  if (!isRecord(args)) problems.push({ path: "$.params.arguments", kind: "Type", message: "expected an object" });
  if (problems.length > 0 || typeof target !== "string" || !isRecord(args)) return { ok: false, problems };
  return { ok: true, call: { method, target, arguments: args as JsonObject } };
}

/**
 * An argument value as Cedar can hold it: strings, booleans and 64-bit integers as they
 * are; any other number as its JSON text (0.5 becomes "0.5"); null left out (a policy
 * tests such an argument with `has`); arrays (Cedar sets) and objects (records) mapped
 * member by member. Keys are kept as sent, so the decider refuses `__` keys.
 */
export function cedarValue(value: unknown): unknown {
  if (typeof value === "number") return Number.isSafeInteger(value) ? value : JSON.stringify(value);
  if (Array.isArray(value)) return value.filter((item) => item !== null).map(cedarValue);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [key, item] of Object.entries(value)) if (item !== null) out[key] = cedarValue(item);
    return out;
  }
  return value;
}

/** The values of the path arguments a call carries: each a string, or null for a value that is not a string or a list of strings. */
export function pathArgumentValues(args: JsonObject, names: ReadonlyArray<string>): ReadonlyArray<string | null> {
  const values: Array<string | null> = [];
  for (const name of names) {
    if (!Object.hasOwn(args, name)) continue;
    const value = args[name];
    if (typeof value === "string") values.push(value);
    else if (Array.isArray(value)) for (const item of value) values.push(typeof item === "string" ? item : null);
    else values.push(null);
  }
  return values;
}

/**
 * `context.within`: the directories, relative to the server's directory ("." for it),
 * that contain every path a call names, each path counted as within itself. `resolved`
 * holds each path as the server will resolve it, relative to its directory, or null for
 * one outside it or not resolvable (then nothing contains them all). Undefined when the
 * call names no path.
 */
export function withinOf(resolved: ReadonlyArray<string | null>): ReadonlyArray<string> | undefined {
  if (resolved.length === 0) return undefined;
  let common: Set<string> | undefined;
  for (const path of resolved) {
    if (path === null) return [];
    const chain = new Set<string>(["."]);
    if (path !== ".") {
      const parts = path.split("/");
      for (let i = 1; i <= parts.length; i++) chain.add(parts.slice(0, i).join("/"));
    }
    common = common === undefined ? chain : new Set([...common].filter((dir) => chain.has(dir)));
  }
  return [...(common ?? [])].sort();
}

/** The decider's request of a call and the digest that names it, or the problems that make it malformed. */
export interface DecisionRequest {
  readonly requestSha256: string;
  readonly parsed:
    | { readonly ok: true; readonly request: ActionRequest; readonly intentHash: null }
    | { readonly ok: false; readonly problems: ReadonlyArray<SchemaProblem>; readonly httpStatus: 400 };
}

const decodeRequest = Schema.decodeUnknownEither(ActionRequest);

/** Where a problem of the decision request lies in the MCP params. */
function paramsPath(method: DecidedMethod, path: string): string {
  if (path === "$.resource") return method === "resources/read" ? "$.params.uri" : "$.params.name";
  if (path.startsWith("$.context.arguments")) return `$.params.arguments${path.slice("$.context.arguments".length)}`;
  return "$.params";
}

/** The digest of what was asked: the JCS of the call as sent, or (where JCS refuses a value in it) of its JSON text. */
function digestOf(value: unknown): string {
  const canonical = canonicalJson(value);
  return sha256Hex(canonical.ok ? canonical.text : (JSON.stringify(value) ?? ""));
}

/**
 * The decision request of a call by `actor` to server `serverId`: Cedar context
 * `{"arguments": <cedarValue>}` (plus `within` when the server resolves path arguments).
 * A refused call keeps only the digest of its params.
 */
export function decisionRequest(actor: string, serverId: string, read: ReadCall, method: DecidedMethod, params: unknown, within?: ReadonlyArray<string>): DecisionRequest {
  if (!read.ok) return { requestSha256: digestOf({ actor, method, params: params ?? null }), parsed: { ok: false, problems: read.problems, httpStatus: 400 } };
  const { call } = read;
  const action = MCP_ACTIONS[method];
  const resource = mcpResource(serverId, call.target);
  const asSent = canonicalJson({ actor, action, resource, context: { arguments: call.arguments } });
  if (!asSent.ok) {
    const split = asSent.reason.lastIndexOf(": ");
    const problem = { path: paramsPath(method, asSent.reason.slice(0, split)), kind: "json", message: asSent.reason.slice(split + 2) };
    return { requestSha256: digestOf({ actor, method, params }), parsed: { ok: false, problems: [problem], httpStatus: 400 } };
  }
  const context = { arguments: cedarValue(call.arguments), ...(within === undefined ? {} : { within }) };
  const decoded = decodeRequest({ actor, action, resource, context }, { errors: "all", onExcessProperty: "error" });
  if (Either.isLeft(decoded)) {
    const problems = schemaProblems(decoded.left).map((problem) => ({ ...problem, path: paramsPath(method, problem.path) }));
    return { requestSha256: sha256Hex(asSent.text), parsed: { ok: false, problems, httpStatus: 400 } };
  }
  return { requestSha256: sha256Hex(asSent.text), parsed: { ok: true, request: decoded.right, intentHash: null } };
}
