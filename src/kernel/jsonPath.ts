/**
 * JSON paths as this project writes them in refusals: `$`, then `.key` for a plain key,
 * `["odd key"]` for any other, `[3]` for an index. Keys come from hostile input: they
 * are cut to 64 characters and written through JSON.stringify, which escapes control
 * characters and lone surrogates, so a path is always printable, well-formed text.
 */

const MAX_KEY_IN_PATH = 64;
const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `path` followed by one object key. */
export function withKey(path: string, key: string): string {
  const shown = key.length > MAX_KEY_IN_PATH ? `${key.slice(0, MAX_KEY_IN_PATH)}...` : key;
  return IDENTIFIER.test(shown) ? `${path}.${shown}` : `${path}[${JSON.stringify(shown)}]`;
}

/** `path` followed by one array index. */
export function withIndex(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** The path of a list of keys and indexes from the root. */
export function jsonPath(segments: ReadonlyArray<PropertyKey>): string {
  let path = "$";
  for (const segment of segments) path = typeof segment === "number" ? withIndex(path, segment) : withKey(path, String(segment));
  return path;
}
