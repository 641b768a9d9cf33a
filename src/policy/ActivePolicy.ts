/**
 * The active policy bundle as a service. It is loaded and compiled once at startup from
 * `ZT_POLICY_DIR`; a bundle that does not load stops startup with every problem listed
 * by file and line. There is no fallback policy.
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

export class ActivePolicy extends Context.Tag("zt/ActivePolicy")<ActivePolicy, PolicyBundle>() {
  static readonly fromDirectory = (directory: string): Layer.Layer<ActivePolicy, PolicyLoadError> =>
    Layer.effect(ActivePolicy, loadPolicyBundle(directory));
}
