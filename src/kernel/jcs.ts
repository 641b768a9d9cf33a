// RFC 8785 JSON Canonicalization Scheme (JCS), section 3.2: the canonical text that we
// sign and hash. Serialization is delegated to the `canonicalize` package; this file
// decides what counts as JSON first, because canonicalize follows JSON.stringify and
// would silently drop `undefined` properties, turn array holes into null, unbox
// Number objects and call toJSON — each a way for two different values to share one
// signature.
import canonicalize from "canonicalize";
import { withKey } from "./jsonPath.ts";

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
// differently on a second read. `ancestors` turns a cycle into its own refusal.
function copyJson(value: unknown, path: string, depth: number, ancestors: Set<object>): Copied | Refusal {
  switch (typeof value) {
    case "string":
      return isWellFormed(value) ? { ok: true, copy: value } : refuse(path, "string contains a lone surrogate");
    case "number":
      return Number.isFinite(value) ? { ok: true, copy: value } : refuse(path, `number is not finite (${String(value)})`);
    case "boolean":
      return { ok: true, copy: value };
    case "undefined":
      return refuse(path, "undefined is not JSON");
    case "bigint":
      return refuse(path, "bigint is not JSON");
    case "symbol":
      return refuse(path, "symbol is not JSON");
    case "function":
      return refuse(path, "function is not JSON");
  }
  if (value === null) return { ok: true, copy: null };
  const container = value as object;

  if (depth > JCS_MAX_DEPTH) return refuse(path, `nesting deeper than ${JCS_MAX_DEPTH}`);
  if (ancestors.has(container)) return refuse(path, "circular reference");

  const isArray = Array.isArray(container);
  if (isArray) {
    if (Object.getPrototypeOf(container) !== Array.prototype) return refuse(path, describe(container));
    // Named properties on an array are invisible to JSON; refusing them keeps what was
    // signed equal to what the caller holds.
    if (Object.keys(container).length !== container.length) return refuse(path, "array has holes or non-index properties");
  } else {
    const proto: unknown = Object.getPrototypeOf(container);
    if (proto !== Object.prototype && proto !== null) return refuse(path, describe(container));
    if (typeof (container as { toJSON?: unknown }).toJSON === "function") return refuse(path, "object has a toJSON method");
  }
  if (Object.getOwnPropertySymbols(container).length > 0) return refuse(path, "symbol-keyed properties are not JSON");

  // Arrays are walked by index so a hole cannot hide behind a named property that
  // keeps the key count equal to the length.
  const keys = isArray ? Array.from({ length: container.length }, (_, index) => String(index)) : Object.keys(container);
  // Null prototype: a "__proto__" key stays an ordinary own property.
  const copy: unknown[] | Record<string, unknown> = isArray ? [] : Object.create(null);
  ancestors.add(container);
  for (const key of keys) {
    const at = isArray ? `${path}[${key}]` : withKey(path, key);
    if (!isWellFormed(key)) return refuse(at, "object key contains a lone surrogate");
    const descriptor = Object.getOwnPropertyDescriptor(container, key);
    if (descriptor === undefined) return refuse(at, "array has a hole");
    if (!("value" in descriptor)) return refuse(at, "accessor property is not JSON");
    const child = copyJson(descriptor.value, at, depth + 1, ancestors);
    if (!child.ok) return child;
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
    const walked = copyJson(value, "$", 1, new Set());
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
