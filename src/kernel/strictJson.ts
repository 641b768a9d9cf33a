// RFC 8259 (JSON), read strictly, for every body a caller sends.
//
// Section 4 says the names within an object SHOULD be unique and that readers differ
// when they are not (last one wins here, first one wins in others, some refuse): a body
// whose meaning depends on who reads it is refused, so what we decide on is what an
// executor acts on. Section 9 lets a parser limit nesting depth: bodies are bounded here,
// before any later step (schema decoding, its error messages, hashing what is stored)
// recurses over them. "__proto__" is refused as a key: decoding it into an ordinary
// object would replace that object's prototype instead of adding a field.
//
// The input is hostile: nothing here throws, every refusal names a path and a kind, and
// no refusal echoes a value (keys appear in paths only, cut as jsonPath.ts cuts them).

import { withIndex, withKey } from "./jsonPath.ts";

/** Containers nested deeper than this are refused; the root container is depth 1. */
export const MAX_BODY_DEPTH = 32;

export type StrictJsonProblemKind = "json" | "duplicate_key" | "depth" | "forbidden_key";

export interface StrictJsonProblem {
  /** Where the problem is, e.g. `$.intent.amount` or `$.execute.command[2]`. */
  readonly path: string;
  readonly kind: StrictJsonProblemKind;
  /** What is wrong, without any value from the body. */
  readonly message: string;
}

export type StrictJson = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly problem: StrictJsonProblem };

const utf8 = new TextDecoder("utf-8", { fatal: true });

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const COMMA = 0x2c;

interface Frame {
  readonly isObject: boolean;
  /** Keys seen so far in this object. */
  readonly keys: Set<string> | undefined;
  /** The last key read (objects) or the index of the current element (arrays). */
  key: string;
  index: number;
  expectKey: boolean;
}

function pathOf(frames: ReadonlyArray<Frame>, extraKey?: string): string {
  let path = "$";
  for (const frame of frames) {
    if (!frame.isObject) path = withIndex(path, frame.index);
    else if (!frame.expectKey) path = withKey(path, frame.key);
  }
  return extraKey === undefined ? path : withKey(path, extraKey);
}

/** The end of the string literal whose opening quote is at `start` (the index after its closing quote), and whether it has escapes. */
function scanString(text: string, start: number): { readonly end: number; readonly escaped: boolean } | undefined {
  let escaped = false;
  for (let i = start + 1; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) return { end: i + 1, escaped };
    if (code === BACKSLASH) {
      escaped = true;
      i++;
    }
  }
  return undefined;
}

/**
 * Checks the structure of `text` (duplicate keys, depth, "__proto__") without building
 * anything; returns the first problem, or undefined. Syntax errors are left to JSON.parse.
 */
function structureProblem(text: string, maxDepth: number): StrictJsonProblem | undefined {
  const frames: Frame[] = [];
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === QUOTE) {
      const literal = scanString(text, i);
      if (literal === undefined) return undefined;
      const frame = frames[frames.length - 1];
      if (frame !== undefined && frame.isObject && frame.expectKey) {
        let key = text.slice(i + 1, literal.end - 1);
        if (literal.escaped) {
          try {
            key = JSON.parse(text.slice(i, literal.end)) as string;
          } catch {
            return undefined;
          }
        }
        if (key === "__proto__") return { path: pathOf(frames, key), kind: "forbidden_key", message: 'the key "__proto__" is not accepted' };
        if (frame.keys!.has(key)) return { path: pathOf(frames, key), kind: "duplicate_key", message: "the key appears more than once in its object" };
        frame.keys!.add(key);
        frame.key = key;
        frame.expectKey = false;
      }
      i = literal.end - 1;
    } else if (code === OPEN_OBJECT || code === OPEN_ARRAY) {
      if (frames.length >= maxDepth) return { path: pathOf(frames), kind: "depth", message: `nested deeper than ${maxDepth} levels` };
      const isObject = code === OPEN_OBJECT;
      frames.push({ isObject, keys: isObject ? new Set() : undefined, key: "", index: 0, expectKey: isObject });
    } else if (code === CLOSE_OBJECT || code === CLOSE_ARRAY) {
      frames.pop();
    } else if (code === COMMA) {
      const frame = frames[frames.length - 1];
      if (frame === undefined) continue;
      if (frame.isObject) frame.expectKey = true;
      else frame.index += 1;
    }
  }
  return undefined;
}

/** Parses JSON text strictly (see above), or names the first problem. */
export function parseStrictJson(text: string, options: { readonly maxDepth?: number } = {}): StrictJson {
  const problem = structureProblem(text, options.maxDepth ?? MAX_BODY_DEPTH);
  if (problem !== undefined) return { ok: false, problem };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    // The parser's own message quotes the text around the error: not repeated.
    return { ok: false, problem: { path: "$", kind: "json", message: "the body is not JSON" } };
  }
}

/** parseStrictJson of UTF-8 bytes; bytes that are not UTF-8 are refused as `json`, a leading BOM is ignored (RFC 8259 section 8.1). */
export function parseStrictJsonBytes(bytes: Uint8Array, options: { readonly maxDepth?: number } = {}): StrictJson {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return { ok: false, problem: { path: "$", kind: "json", message: "the body is not UTF-8" } };
  }
  return parseStrictJson(text, options);
}
