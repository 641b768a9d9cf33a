/**
 * The console's browser code, served by the control plane itself: the page's modules
 * (src/console/page/) and every module of src/ they import, such as the kernel's RFC
 * 9162 Merkle verification, JCS and Ed25519 and the audit record hash, with their types
 * stripped by the runtime's own stripper (`stripTypeScriptTypes` of node:module, which
 * Node and Deno both provide), plus the npm packages those import (@noble/hashes,
 * @noble/ed25519, canonicalize) as they are, mapped by an import map. No bundler, no build
 * step, no network: what checks a proof in the browser is the code that checks it in
 * `zt audit check-proof`.
 *
 * The module graph is walked from the entry once and kept in memory (a few hundred KB).
 * A module that imports anything a browser cannot load (node:*, Effect, another package)
 * stops the walk with an error naming both: browser code stays browser code.
 */
import { readFileSync } from "node:fs";
import * as nodeModule from "node:module";
import { fileURLToPath } from "node:url";
import { sha256Hex } from "../kernel/hashing.ts";

export interface BrowserAsset {
  readonly body: Uint8Array;
  readonly contentType: string;
  /** A strong validator of the body. */
  readonly etag: string;
}

export interface BrowserModules {
  /** URL path -> asset. */
  readonly assets: ReadonlyMap<string, BrowserAsset>;
  /** The import map's JSON text (bare specifiers of the npm packages -> their URLs). */
  readonly importMap: string;
  /** URL of the page's entry module. */
  readonly entry: string;
}

/** The npm packages the browser may load (what the kernel imports). */
export const BROWSER_PACKAGES: ReadonlyArray<string> = ["@noble/hashes", "@noble/ed25519", "canonicalize"];

export const ASSET_PREFIX = "/console/assets";

const SRC_ROOT = new URL("../", import.meta.url);
const PAGE_DIR = new URL("./page/", import.meta.url);
const ENTRY = new URL("./page/main.ts", import.meta.url);
/** Files of the page served as they are. */
const STATIC_FILES = ["console.css"] as const;

const JAVASCRIPT = "text/javascript; charset=utf-8";
const CSS = "text/css; charset=utf-8";

// Static imports and re-exports, side-effect imports, and dynamic imports with a literal.
const IMPORT = /(?:^|[\n;])\s*(?:import|export)\s[^;]*?\sfrom\s*["']([^"']+)["']|(?:^|[\n;])\s*import\s*["']([^"']+)["']|\bimport\(\s*["']([^"']+)["']\s*\)/g;

type Stripper = (code: string, options?: { mode?: "strip" }) => string;

function stripper(): Stripper {
  const strip = (nodeModule as unknown as { stripTypeScriptTypes?: Stripper }).stripTypeScriptTypes;
  if (typeof strip !== "function") throw new Error("this runtime has no node:module stripTypeScriptTypes (Node 22.13+ or Deno 2.x), so the console cannot serve its code");
  // Node marks the function experimental and says so once on stderr, where operators would
  // read it as trouble; its use here is fixed and tested (the served code is compared with
  // the sources), so that one warning is not passed on. The call is synchronous: nothing
  // else can emit a warning in between.
  return (code, options) => {
    const emitWarning = process.emitWarning;
    process.emitWarning = () => undefined;
    try {
      return strip(code, options);
    } finally {
      process.emitWarning = emitWarning;
    }
  };
}

function packageOf(specifier: string): string | undefined {
  const parts = specifier.split("/");
  const name = specifier.startsWith("@") ? parts.slice(0, 2).join("/") : parts[0]!;
  return BROWSER_PACKAGES.includes(name) ? name : undefined;
}

/** `.../node_modules/@noble/hashes/sha2.js` -> `@noble/hashes/sha2.js`. */
function vendorPath(file: URL): string {
  const path = fileURLToPath(file);
  const at = path.lastIndexOf("/node_modules/");
  if (at === -1) throw new Error(`${path} is not inside node_modules`);
  return path.slice(at + "/node_modules/".length);
}

function asset(bytes: Uint8Array, contentType: string): BrowserAsset {
  // A copy with a buffer of its own: readFileSync's Buffer may be a view into a shared pool.
  const body = new Uint8Array(bytes);
  return { body, contentType, etag: `"${sha256Hex(body).slice(0, 32)}"` };
}

/** Walks the page's module graph and prepares every asset. Throws (naming the module) on an import a browser cannot load. */
export function loadBrowserModules(): BrowserModules {
  const strip = stripper();
  const utf8 = new TextEncoder();
  const assets = new Map<string, BrowserAsset>();
  const imports: Record<string, string> = {};
  const srcRoot = fileURLToPath(SRC_ROOT);
  const queue: URL[] = [ENTRY];
  const seen = new Set<string>();

  while (queue.length > 0) {
    const file = queue.shift()!;
    if (seen.has(file.href)) continue;
    seen.add(file.href);
    const path = fileURLToPath(file);
    const isSource = path.startsWith(srcRoot) && path.endsWith(".ts");
    const source = readFileSync(file, "utf8");
    const code = isSource ? strip(source, { mode: "strip" }) : source;
    const url = isSource ? `${ASSET_PREFIX}/src/${path.slice(srcRoot.length)}` : `${ASSET_PREFIX}/vendor/${vendorPath(file)}`;
    assets.set(url, asset(utf8.encode(code), JAVASCRIPT));

    for (const match of code.matchAll(IMPORT)) {
      const specifier = (match[1] ?? match[2] ?? match[3])!;
      if (specifier.startsWith("./") || specifier.startsWith("../")) {
        const target = new URL(specifier, file);
        const targetPath = fileURLToPath(target);
        const allowed = isSource ? targetPath.startsWith(srcRoot) && targetPath.endsWith(".ts") : targetPath.endsWith(".js");
        if (!allowed) throw new Error(`${path} imports ${specifier}, which the console does not serve to browsers`);
        queue.push(target);
        continue;
      }
      if (packageOf(specifier) === undefined) throw new Error(`${path} imports ${specifier}, which a browser cannot load (the console serves ${BROWSER_PACKAGES.join(", ")} and src/ modules only)`);
      const resolved = new URL(import.meta.resolve(specifier));
      imports[specifier] = `${ASSET_PREFIX}/vendor/${vendorPath(resolved)}`;
      queue.push(resolved);
    }
  }
  for (const name of STATIC_FILES) assets.set(`${ASSET_PREFIX}/${name}`, asset(readFileSync(new URL(name, PAGE_DIR)), CSS));
  return { assets, importMap: JSON.stringify({ imports }), entry: `${ASSET_PREFIX}/src/${fileURLToPath(ENTRY).slice(srcRoot.length)}` };
}

/** The page's HTML template, read once. */
export function consolePageTemplate(): string {
  return readFileSync(new URL("console.html", PAGE_DIR), "utf8");
}
