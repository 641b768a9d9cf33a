/**
 * Compiles a policy bundle (contract section 3) from its files: the manifest, the Cedar
 * schema and every `*.cedar` file. Cedar policies are parsed, validated against the
 * schema (strict mode) and preparsed once here; requests are then evaluated against the
 * preparsed set. Any problem names the file and line, and there is no fallback to allow.
 */
import * as cedar from "@cedar-policy/cedar-wasm/nodejs";
import { Either, Schema } from "effect";
import { canonicalJsonTrusted } from "../kernel/jcs.ts";
import { schemaProblems } from "../kernel/schemaProblems.ts";
import { sha256Hex } from "../kernel/hashing.ts";
import { MCP_SERVERS_FILE, McpServers, NO_MCP_SERVERS } from "./McpServers.ts";
import { ImageLock, PolicyManifest, pinImages } from "./PolicyManifest.ts";

export const MANIFEST_FILE = "policy.json";
/**
 * Digests of the bundle's Docker images, written where the images are built
 * (`npm run sandbox:image`): `{"zt-busybox:local": "sha256:<64 hex>"}`. An image entry of
 * the manifest without an inline `@sha256:` takes its digest from here; an image with
 * neither is never run (see brokerChecks).
 */
export const IMAGE_LOCK_FILE = "images.lock.json";
/** Distinct Cedar requests whose answers a bundle keeps at most (see authorize). */
export const CEDAR_ANSWER_CACHE_SIZE = 10_000;
/** Bytes the kept answers and their keys may take at most, counted as 2 bytes a character plus a fixed cost an entry. */
export const CEDAR_ANSWER_CACHE_BYTES = 4 * 1024 * 1024;
/** A request whose key is longer than this (a big context) is evaluated every time and never kept. */
export const CEDAR_MEMO_MAX_KEY_CHARS = 2048;
/** Distinct partial requests whose `couldAllow` answers a bundle keeps at most (the MCP gateway asks one per listed tool). */
export const CEDAR_PARTIAL_CACHE_SIZE = 4096;
const MEMO_ENTRY_OVERHEAD_BYTES = 128;

export interface BundleFile {
  /** Path relative to the bundle directory, with `/` separators. */
  readonly path: string;
  readonly bytes: Uint8Array;
}

export interface BundleProblem {
  readonly file: string;
  readonly line?: number;
  readonly column?: number;
  readonly message: string;
}

/** A Cedar request: ids as the agent sent them, context already checked to be Cedar-representable. */
export interface CedarRequest {
  readonly actor: string;
  readonly action: string;
  readonly resource: string;
  readonly context: Readonly<Record<string, unknown>>;
}

/**
 * A request whose context is not known yet (listing what a caller may call): the
 * context attributes a call would carry, and the resource when it is known.
 */
export interface PartialCedarRequest {
  readonly actor: string;
  readonly action: string;
  /** Null when unknown (a URI template stands for many resources). */
  readonly resource: string | null;
  /** The context attributes whose values are unknown (every other attribute is absent). */
  readonly contextKeys: ReadonlyArray<string>;
}

export type CedarAnswer =
  | { readonly ok: true; readonly allowed: boolean; readonly determiningPolicies: ReadonlyArray<string> }
  | { readonly ok: false; readonly error: string };

export interface PolicyBundle {
  readonly policyId: string;
  /** sha256 of the JCS of `{ <file path>: <sha256 hex of its bytes> }` over every bundle file. */
  readonly policyHash: string;
  readonly manifest: PolicyManifest;
  /** sha256 hex of each bundle file, by path. */
  readonly files: Readonly<Record<string, string>>;
  /** Cedar policy ids (their `@id` annotation, else `file#n`). */
  readonly cedarPolicyIds: ReadonlyArray<string>;
  /** Evaluates one request against the preparsed Cedar policy set (answers memoised); never throws. */
  readonly authorize: (request: CedarRequest) => CedarAnswer;
  /**
   * Whether some values of the unknown parts could make Cedar allow the request (Cedar's
   * partial evaluation: the answer is not a definite deny); false when evaluation fails.
   * Answers memoised; never throws.
   */
  readonly couldAllow: (request: PartialCedarRequest) => boolean;
  /** The upstream MCP servers of `mcp.json` (none when the bundle has no such file). */
  readonly mcp: McpServers;
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

function decodeText(file: BundleFile): string | BundleProblem {
  try {
    return utf8.decode(file.bytes);
  } catch {
    return { file: file.path, message: "file is not valid UTF-8" };
  }
}

/** Line and column (1-based) of a byte offset in UTF-8 text, as Cedar reports byte offsets. */
function lineAndColumn(text: string, byteOffset: number): { line: number; column: number } {
  const before = new TextDecoder().decode(new TextEncoder().encode(text).slice(0, byteOffset));
  const lines = before.split("\n");
  return { line: lines.length, column: (lines.at(-1)?.length ?? 0) + 1 };
}

function cedarProblems(file: string, text: string, errors: ReadonlyArray<cedar.DetailedError>): BundleProblem[] {
  return errors.map((error) => {
    const location = error.sourceLocations?.[0];
    const detail = [error.message, location?.label, error.help].filter(Boolean).join(": ");
    return location ? { file, ...lineAndColumn(text, location.start), message: detail } : { file, message: detail };
  });
}

/** The memo key of a request, or undefined for a value JSON cannot carry (then it is evaluated unmemoised). */
function memoKey(request: CedarRequest): string | undefined {
  try {
    return JSON.stringify([request.actor, request.action, request.resource, request.context]);
  } catch {
    return undefined;
  }
}

function jsonProblem(file: string, text: string, error: unknown): BundleProblem {
  const message = error instanceof Error ? error.message : String(error);
  const position = /position (\d+)/.exec(message);
  if (position?.[1] !== undefined) {
    const offset = new TextEncoder().encode(text.slice(0, Number(position[1]))).length;
    return { file, ...lineAndColumn(text, offset), message: `invalid JSON: ${message}` };
  }
  return { file, message: `invalid JSON: ${message}` };
}

/**
 * A JSON file of the bundle decoded by its schema, or its problems: each a path and what
 * was expected there, never the value found (mcp.json holds servers' secrets).
 */
function decodeJsonFile<A, I>(file: string, text: string, schema: Schema.Schema<A, I>): Either.Either<A, ReadonlyArray<BundleProblem>> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    return Either.left([jsonProblem(file, text, error)]);
  }
  const decoded = Schema.decodeUnknownEither(schema)(json, { errors: "all", onExcessProperty: "error" });
  if (Either.isRight(decoded)) return Either.right(decoded.right);
  return Either.left(schemaProblems(decoded.left).map((problem) => ({ file, message: `${problem.path}: ${problem.message}` })));
}

const ANNOTATED_ID = /^\s*(?:\/\/[^\n]*\n\s*)*@id\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)/;

/** Compiles and preparses a bundle, or lists every problem found. */
export function compilePolicyBundle(
  files: ReadonlyArray<BundleFile>,
): Either.Either<PolicyBundle, ReadonlyArray<BundleProblem>> {
  const problems: BundleProblem[] = [];
  const texts = new Map<string, string>();
  for (const file of files) {
    const text = decodeText(file);
    if (typeof text === "string") texts.set(file.path, text);
    else problems.push(text);
  }

  const manifestText = texts.get(MANIFEST_FILE);
  if (manifestText === undefined) {
    return Either.left([...problems, { file: MANIFEST_FILE, message: "missing manifest" }]);
  }
  const decoded = decodeJsonFile(MANIFEST_FILE, manifestText, PolicyManifest);
  if (Either.isLeft(decoded)) return Either.left([...problems, ...decoded.left]);
  let manifest = decoded.right;

  const lockText = texts.get(IMAGE_LOCK_FILE);
  if (lockText !== undefined) {
    const lock = decodeJsonFile(IMAGE_LOCK_FILE, lockText, ImageLock);
    if (Either.isLeft(lock)) return Either.left([...problems, ...lock.left]);
    manifest = pinImages(manifest, lock.right);
  }

  let mcp = NO_MCP_SERVERS;
  const mcpText = texts.get(MCP_SERVERS_FILE);
  if (mcpText !== undefined) {
    const servers = decodeJsonFile(MCP_SERVERS_FILE, mcpText, McpServers);
    if (Either.isLeft(servers)) return Either.left([...problems, ...servers.left]);
    mcp = servers.right;
  }

  const schemaText = texts.get(manifest.cedar_schema);
  if (schemaText === undefined) {
    return Either.left([...problems, { file: manifest.cedar_schema, message: "Cedar schema file named by policy.json is missing" }]);
  }
  const schemaCheck = cedar.checkParseSchema(schemaText);
  if (schemaCheck.type === "failure") {
    return Either.left([...problems, ...cedarProblems(manifest.cedar_schema, schemaText, schemaCheck.errors)]);
  }

  const policyFiles = [...texts.keys()].filter((path) => path.endsWith(".cedar")).sort();
  if (policyFiles.length === 0) problems.push({ file: "*.cedar", message: "the bundle has no Cedar policy file" });
  const staticPolicies: Record<string, string> = {};
  for (const path of policyFiles) {
    const text = texts.get(path) ?? "";
    const parsed = cedar.checkParsePolicySet({ staticPolicies: text });
    if (parsed.type === "failure") {
      problems.push(...cedarProblems(path, text, parsed.errors));
      continue;
    }
    const validation = cedar.validate({ schema: schemaText, policies: { staticPolicies: text }, validationSettings: { mode: "strict" } });
    if (validation.type === "failure") {
      problems.push(...cedarProblems(path, text, validation.errors));
      continue;
    }
    if (validation.validationErrors.length > 0) {
      problems.push(...cedarProblems(path, text, validation.validationErrors.map((e) => e.error)));
      continue;
    }
    const parts = cedar.policySetTextToParts(text);
    if (parts.type === "failure") {
      problems.push(...cedarProblems(path, text, parts.errors));
      continue;
    }
    if (parts.policy_templates.length > 0) {
      problems.push({ file: path, message: "policy templates are not supported in a bundle" });
    }
    parts.policies.forEach((policy, index) => {
      const id = ANNOTATED_ID.exec(policy)?.[1] ?? `${path}#${index}`;
      if (id in staticPolicies) problems.push({ file: path, message: `duplicate policy id "${id}"` });
      staticPolicies[id] = policy;
    });
  }
  if (problems.length > 0) return Either.left(problems);

  const fileHashes: Record<string, string> = {};
  for (const file of files) fileHashes[file.path] = sha256Hex(file.bytes);
  const policyHash = sha256Hex(canonicalJsonTrusted(fileHashes));

  // Preparsed once per distinct bundle; the wasm module keeps it under this id.
  const preparsedId = `bundle-${policyHash}`;
  const preparse = cedar.preparsePolicySet(preparsedId, { staticPolicies });
  if (preparse.type === "failure") return Either.left(cedarProblems("*.cedar", "", preparse.errors));

  const evaluate = (request: CedarRequest): CedarAnswer => {
    try {
      const answer = cedar.statefulIsAuthorized({
        principal: { type: "Agent", id: request.actor },
        action: { type: "Action", id: request.action },
        resource: { type: "Resource", id: request.resource },
        context: request.context as cedar.Context,
        preparsedPolicySetId: preparsedId,
        entities: [{ uid: { type: "Resource", id: request.resource }, attrs: { path: request.resource }, parents: [] }],
      });
      if (answer.type === "failure") return { ok: false, error: answer.errors.map((e) => e.message).join("; ") };
      // A policy that errored during evaluation is skipped by Cedar; treat it as unavailable, not as a silent deny.
      const evaluationErrors = answer.response.diagnostics.errors;
      if (evaluationErrors.length > 0 && answer.response.decision === "allow") {
        return { ok: false, error: evaluationErrors.map((e) => `${e.policyId}: ${e.error.message}`).join("; ") };
      }
      return { ok: true, allowed: answer.response.decision === "allow", determiningPolicies: Object.freeze([...answer.response.diagnostics.reason]) };
    } catch (error) {
      return { ok: false, error: `Cedar evaluation failed: ${error instanceof Error ? error.message : String(error)}` };
    }
  };

  // Evaluation is a pure function of the request (its entities are built from the request
  // alone) and this policy set, so answers are memoised, oldest first out. (Not least
  // recently used: moving a Map entry to the end costs V8 ~20 us at this size, as much
  // as evaluating.)
  // The key is the request's JSON text: distinct requests never share one (the context is
  // plain JSON data), and the same context with its keys in another order only misses.
  // Memory is bounded in bytes, not only in entries (contract section 7): agents choose
  // their contexts, so a request with a long key is never kept, and the oldest answers go
  // once the kept keys pass CEDAR_ANSWER_CACHE_BYTES.
  const answers = new Map<string, { readonly answer: CedarAnswer; readonly bytes: number }>();
  let keptBytes = 0;
  const authorize = (request: CedarRequest): CedarAnswer => {
    const key = memoKey(request);
    if (key === undefined || key.length > CEDAR_MEMO_MAX_KEY_CHARS) return evaluate(request);
    const known = answers.get(key);
    if (known !== undefined) return known.answer;
    const answer = evaluate(request);
    const bytes = 2 * key.length + MEMO_ENTRY_OVERHEAD_BYTES;
    answers.set(key, { answer, bytes });
    keptBytes += bytes;
    while (answers.size > CEDAR_ANSWER_CACHE_SIZE || keptBytes > CEDAR_ANSWER_CACHE_BYTES) {
      const [oldest, entry] = answers.entries().next().value!;
      answers.delete(oldest);
      keptBytes -= entry.bytes;
    }
    return answer;
  };

  // Partial evaluation takes the policies on every call (there is no preparsed form of
  // it): in their JSON form, which Cedar reads about twice as fast as their text, and its
  // answers are kept; the keys are few (actors x listed names) and short.
  const jsonPolicies: Record<string, cedar.PolicyJson> = {};
  for (const [id, text] of Object.entries(staticPolicies)) {
    const json = cedar.policyToJson(text);
    if (json.type === "failure") return Either.left(cedarProblems("*.cedar", "", json.errors));
    jsonPolicies[id] = json.json;
  }
  const partialAnswers = new Map<string, boolean>();
  const couldAllow = (request: PartialCedarRequest): boolean => {
    const key = JSON.stringify([request.actor, request.action, request.resource, request.contextKeys]);
    const known = partialAnswers.get(key);
    if (known !== undefined) return known;
    let answer = false;
    try {
      const unknowns: Record<string, cedar.CedarValueJson> = {};
      for (const name of request.contextKeys) unknowns[name] = { __extn: { fn: "unknown", arg: name } };
      const partial = cedar.isAuthorizedPartial({
        principal: { type: "Agent", id: request.actor },
        action: { type: "Action", id: request.action },
        resource: request.resource === null ? null : { type: "Resource", id: request.resource },
        context: unknowns,
        policies: { staticPolicies: jsonPolicies },
        entities: request.resource === null ? [] : [{ uid: { type: "Resource", id: request.resource }, attrs: { path: request.resource }, parents: [] }],
      });
      answer = partial.type === "residuals" && partial.response.decision !== "deny";
    } catch {
      answer = false;
    }
    if (key.length <= CEDAR_MEMO_MAX_KEY_CHARS) {
      if (partialAnswers.size >= CEDAR_PARTIAL_CACHE_SIZE) partialAnswers.delete(partialAnswers.keys().next().value!);
      partialAnswers.set(key, answer);
    }
    return answer;
  };

  return Either.right({
    policyId: manifest.policy_id,
    policyHash,
    manifest,
    files: fileHashes,
    cedarPolicyIds: Object.keys(staticPolicies),
    authorize,
    couldAllow,
    mcp,
  });
}

export function formatBundleProblem(directory: string, problem: BundleProblem): string {
  const where = problem.line === undefined ? problem.file : `${problem.file}:${problem.line}:${problem.column ?? 1}`;
  return `${directory.replace(/\/$/, "")}/${where}: ${problem.message}`;
}
