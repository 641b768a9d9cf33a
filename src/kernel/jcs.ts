// RFC 8785 JSON Canonicalization Scheme (JCS), section 3.2: the canonical text that we
// sign and hash. Serialization is delegated to the `canonicalize` package; this file
// decides what counts as JSON first, because canonicalize follows JSON.stringify and
// would silently drop `undefined` properties, turn array holes into null, unbox
// Number objects and call toJSON — each a way for two different values to share one
// signature.
import canonicalize from "canonicalize";
import { jsonPath } from "./jsonPath.ts";

export type JcsResult =
  | { readonly ok: true; readonly text: string }
  | { readonly ok: false; readonly reason: string };

/** Containers nested deeper than this are refused; the root container is depth 1. */
export const JCS_MAX_DEPTH = 64;

type Refusal = { readonly ok: false; readonly reason: string };

const refuse = (path: string, what: string): Refusal => ({ ok: false, reason: `${path}: ${what}` });

// String.prototype.isWellFormed is ES2024 (Node 20+, Deno 1.37+); the project's lib is
// ES2023, so it is typed here rather than widening the whole project's lib.
const isWellFormed = (text: string): boolean =>
  (text as unknown as { isWellFormed(): boolean }).isWellFormed();

function describe(value: object): string {
  if (Array.isArray(value)) return "array with a non-standard prototype";
  const proto: unknown = Object.getPrototypeOf(value);
  const ctor = typeof proto === "object" && proto !== null ? (proto as { constructor?: unknown }).constructor : undefined;
  const name = typeof ctor === "function" && ctor.name !== "" ? ctor.name : "object";
  return `${name} is not a plain JSON object`;
}

type Copied = { readonly ok: true; readonly copy: unknown };

// Walks the value once and returns either the first reason it is not plain JSON or a
// fresh copy built from what was read. Canonicalizing the copy, not the input, means
// what was checked is exactly what is serialized: a getter or Proxy cannot answer
// differently on a second read. `ancestors` turns a cycle into its own refusal. `at` is
// the path from the root as a stack of keys and indexes, turned into text only for a
// refusal, so a value that is JSON costs no path strings.
function copyJson(value: unknown, at: PropertyKey[], depth: number, ancestors: Set<object>): Copied | Refusal {
  switch (typeof value) {
    case "string":
      return isWellFormed(value) ? { ok: true, copy: value } : refuse(jsonPath(at), "string contains a lone surrogate");
    case "number":
      return Number.isFinite(value) ? { ok: true, copy: value } : refuse(jsonPath(at), `number is not finite (${String(value)})`);
    case "boolean":
      return { ok: true, copy: value };
    case "undefined":
      return refuse(jsonPath(at), "undefined is not JSON");
    case "bigint":
      return refuse(jsonPath(at), "bigint is not JSON");
    case "symbol":
      return refuse(jsonPath(at), "symbol is not JSON");
    case "function":
      return refuse(jsonPath(at), "function is not JSON");
  }
  if (value === null) return { ok: true, copy: null };
  const container = value as object;

  if (depth > JCS_MAX_DEPTH) return refuse(jsonPath(at), `nesting deeper than ${JCS_MAX_DEPTH}`);
  if (ancestors.has(container)) return refuse(jsonPath(at), "circular reference");

  const isArray = Array.isArray(container);
  if (isArray) {
    if (Object.getPrototypeOf(container) !== Array.prototype) return refuse(jsonPath(at), describe(container));
    // Named properties on an array are invisible to JSON; refusing them keeps what was
    // signed equal to what the caller holds.
    if (Object.keys(container).length !== container.length) return refuse(jsonPath(at), "array has holes or non-index properties");
  } else {
    const proto: unknown = Object.getPrototypeOf(container);
    if (proto !== Object.prototype && proto !== null) return refuse(jsonPath(at), describe(container));
    if (typeof (container as { toJSON?: unknown }).toJSON === "function") return refuse(jsonPath(at), "object has a toJSON method");
  }
  if (Object.getOwnPropertySymbols(container).length > 0) return refuse(jsonPath(at), "symbol-keyed properties are not JSON");

  // Arrays are walked by index so a hole cannot hide behind a named property that
  // keeps the key count equal to the length.
  const keys = isArray ? undefined : Object.keys(container);
  const count = keys === undefined ? (container as unknown[]).length : keys.length;
  // Null prototype: a "__proto__" key stays an ordinary own property.
  const copy: unknown[] | Record<string, unknown> = isArray ? [] : Object.create(null);
  ancestors.add(container);
  for (let i = 0; i < count; i++) {
    const key = keys === undefined ? String(i) : keys[i]!;
    at.push(keys === undefined ? i : key);
    if (keys !== undefined && !isWellFormed(key)) return refuse(jsonPath(at), "object key contains a lone surrogate");
    const descriptor = Object.getOwnPropertyDescriptor(container, key);
    if (descriptor === undefined) return refuse(jsonPath(at), "array has a hole");
    if (!("value" in descriptor)) return refuse(jsonPath(at), "accessor property is not JSON");
    const child = copyJson(descriptor.value, at, depth + 1, ancestors);
    if (!child.ok) return child;
    at.pop();
    if (Array.isArray(copy)) copy.push(child.copy);
    else copy[key] = child.copy;
  }
  ancestors.delete(container);
  return { ok: true, copy };
}

/**
 * The RFC 8785 canonical text of `value`, or the JSON path and reason it is not plain
 * JSON. Never throws: an exotic object (a Proxy, say) that throws while being read is
 * refused.
 */
export function canonicalJson(value: unknown): JcsResult {
  try {
    const walked = copyJson(value, [], 1, new Set());
    if (!walked.ok) return walked;
    const text = canonicalize(walked.copy);
    // Unreachable after copyJson (only a top-level undefined yields no text), kept so a
    // future canonicalize change fails closed.
    if (text === undefined) return refuse("$", "value has no JSON representation");
    return { ok: true, text };
  } catch (error) {
    return refuse("$", `value could not be read (${error instanceof Error ? error.message : "unknown error"})`);
  }
}

/** canonicalJson for values the program built itself; a refusal here is a defect, so it throws. */
export function canonicalJsonTrusted(value: unknown): string {
  const result = canonicalJson(value);
  if (!result.ok) throw new Error(`canonicalJsonTrusted: ${result.reason}`);
  return result.text;
}
