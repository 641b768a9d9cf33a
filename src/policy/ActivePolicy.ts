/**
 * The active policy bundle as a service, and the candidate bundle evaluated beside it
 * (contract section 11). Both are loaded and compiled at startup from `ZT_POLICY_DIR`
 * and `ZT_POLICY_CANDIDATE_DIR`; a bundle that does not load stops startup with every
 * problem listed by file and line. There is no fallback policy.
 *
 * A reload (PolicyReload) swaps both at once with `replace`, after they compiled. The
 * service's own PolicyBundle fields always answer for the bundle in force at the moment
 * they are read; a caller that must not see two bundles in one piece of work (a decision)
 * takes `current()` once and uses that.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Context, Data, Effect, Either, Layer } from "effect";
import { MCP_SERVERS_FILE } from "./McpServers.ts";
import { compilePolicyBundle, formatBundleProblem, IMAGE_LOCK_FILE, MANIFEST_FILE, type BundleFile, type PolicyBundle } from "./PolicyBundle.ts";

export class PolicyLoadError extends Data.TaggedError("PolicyLoadError")<{
  readonly directory: string;
  readonly problems: ReadonlyArray<string>;
}> {
  override get message(): string {
    return `policy bundle ${this.directory} does not load:\n  ${this.problems.join("\n  ")}`;
  }
}

function isBundleFile(name: string): boolean {
  return name === MANIFEST_FILE || name === IMAGE_LOCK_FILE || name === MCP_SERVERS_FILE || name.endsWith(".cedar") || name.endsWith(".cedarschema");
}

/** Reads the bundle files of a directory (policy.json, images.lock.json, mcp.json, *.cedar, *.cedarschema), sorted by name. */
export function readBundleFiles(directory: string): Effect.Effect<ReadonlyArray<BundleFile>, PolicyLoadError> {
  return Effect.try({
    try: () =>
      readdirSync(directory, { withFileTypes: true })
        .filter((entry) => entry.isFile() && isBundleFile(entry.name))
        .map((entry) => entry.name)
        .sort()
        .map((name) => ({ path: name, bytes: new Uint8Array(readFileSync(join(directory, name))) })),
    catch: (error) =>
      new PolicyLoadError({ directory, problems: [`cannot read the bundle directory: ${(error as Error).message}`] }),
  });
}

export function loadPolicyBundle(directory: string): Effect.Effect<PolicyBundle, PolicyLoadError> {
  return Effect.flatMap(readBundleFiles(directory), (files) => {
    const compiled = compilePolicyBundle(files);
    return Either.isRight(compiled)
      ? Effect.succeed(compiled.right)
      : Effect.fail(new PolicyLoadError({ directory, problems: compiled.left.map((p) => formatBundleProblem(directory, p)) }));
  });
}

export interface ActivePolicyShape extends PolicyBundle {
  /** Where the active bundle is loaded from. */
  readonly directory: string;
  /** Where the candidate bundle is loaded from, when one is configured. */
  readonly candidateDirectory: string | undefined;
  /** The bundle in force now. */
  readonly current: () => PolicyBundle;
  /** The candidate bundle evaluated beside it, if any. */
  readonly candidate: () => PolicyBundle | undefined;
  /** Puts both in force at once (both already compiled). */
  readonly replace: (active: PolicyBundle, candidate: PolicyBundle | undefined) => void;
}

/** A holder of the active and candidate bundles whose PolicyBundle fields read the active one. */
export function makeActivePolicy(directory: string, active: PolicyBundle, candidateDirectory?: string, candidate?: PolicyBundle): ActivePolicyShape {
  let inForce = active;
  let beside = candidate;
  return {
    directory,
    candidateDirectory,
    get policyId() {
      return inForce.policyId;
    },
    get policyHash() {
      return inForce.policyHash;
    },
    get manifest() {
      return inForce.manifest;
    },
    get files() {
      return inForce.files;
    },
    get cedarPolicyIds() {
      return inForce.cedarPolicyIds;
    },
    get mcp() {
      return inForce.mcp;
    },
    authorize: (request) => inForce.authorize(request),
    couldAllow: (request) => inForce.couldAllow(request),
    current: () => inForce,
    candidate: () => beside,
    replace: (next, nextCandidate) => {
      inForce = next;
      beside = nextCandidate;
    },
  };
}

export class ActivePolicy extends Context.Tag("zt/ActivePolicy")<ActivePolicy, ActivePolicyShape>() {
  static readonly fromDirectory = (directory: string, candidateDirectory?: string): Layer.Layer<ActivePolicy, PolicyLoadError> =>
    Layer.effect(
      ActivePolicy,
      Effect.gen(function* () {
        const active = yield* loadPolicyBundle(directory);
        const candidate = candidateDirectory === undefined ? undefined : yield* loadPolicyBundle(candidateDirectory);
        return makeActivePolicy(directory, active, candidateDirectory, candidate);
      }),
    );
}
